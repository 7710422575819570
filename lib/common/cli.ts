/**
 * Flag parsing shared by every program: `node:util` parseArgs does the
 * tokenising, this module adds typed values, defaults, `--help` and one exit
 * path for usage errors (exit code 2, one line on stderr).
 */
import { parseArgs } from "node:util";
import { formatDuration, parseDuration } from "./duration.ts";

/**
 * An error the operator can act on (a file that cannot be opened, a port in
 * use): `runProgram()` prints it as one line, `<program>: <message>`, and
 * exits with its code, instead of a stack trace.
 */
export class ProgramError extends Error {
  /** The exit code. @default {1} */
  readonly exitCode: number;
  constructor(message: string, options?: ErrorOptions & { exitCode?: number }) {
    super(message, options);
    this.name = "ProgramError";
    this.exitCode = options?.exitCode ?? 1;
  }
}

/** Thrown for a bad command line; the program prints it and exits with code 2. */
export class UsageError extends ProgramError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, { ...options, exitCode: 2 });
    this.name = "UsageError";
  }
}

/**
 * Prints `<program>: <message>` on stderr (pointing to --help for a usage
 * error) and returns the exit code for `error`: its own for a ProgramError,
 * else 1.
 */
export function reportError(program: string, error: unknown): number {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`${program}: ${message}${error instanceof UsageError ? " (see --help)" : ""}`);
  return error instanceof ProgramError ? error.exitCode : 1;
}

/** How one flag is read. */
export interface FlagSpec<T> {
  /** One line for `--help`. */
  help: string;
  /** Placeholder shown in `--help`, e.g. `PORT`; absent for a boolean switch. */
  arg?: string;
  /** Turns the flag's text into its value; absent for a boolean switch. */
  parse?: (text: string) => T;
  /**
   * Turns a value back into text that `parse` reads as the same value, for
   * `--help` and `toFlags()`. @default {String, or a duration's own text for `parse.duration`}
   */
  format?: (value: T) => string;
}

export type FlagSpecs<O> = { [K in keyof O]: FlagSpec<O[K]> };

/** `maxLikes` → `max-likes` */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** True for a flag whose value is a duration in ms (written `5m`, `250ms`). */
export function isDuration(spec: Pick<FlagSpec<unknown>, "parse">): boolean {
  const read = spec.parse as unknown;
  return read === parse.duration || read === parse.positiveDuration || read === parse.durationOrOff;
}

/** A duration as `parse.duration` reads it back exactly: `5m` when that is exact, else in ms. */
function durationText(ms: number): string {
  const text = formatDuration(ms);
  try {
    if (parseDuration(text) === ms) return text;
  } catch { /* a form only people read, such as 1m30s */ }
  return `${ms}ms`;
}

/** A flag's value as its text on a command line. */
function formatValue(spec: FlagSpec<unknown>, value: unknown): string {
  if (spec.format) return spec.format(value);
  if ((spec.parse as unknown) === parse.durationOrOff && value === 0) return "off";
  return isDuration(spec) ? durationText(value as number) : String(value);
}

/**
 * The command line that `parseFlags()` reads back as `options`: the reverse
 * of the parser. Flags whose value is undefined, and switches that are off,
 * are left out, so that a partial `options` gives just the flags it sets.
 * Each flag is one `--name=value` argument, which keeps values that start
 * with `-` (a negative number) from being read as flags.
 */
export function toFlags<O extends object>(specs: FlagSpecs<O>, options: Partial<O>): string[] {
  const args: string[] = [];
  for (const [key, spec] of Object.entries(specs) as [keyof O & string, FlagSpec<unknown>][]) {
    const value = options[key];
    if (value === undefined) continue;
    if (!spec.parse) {
      if (value) args.push(`--${flagName(key)}`);
      continue;
    }
    args.push(`--${flagName(key)}=${formatValue(spec, value)}`);
  }
  return args;
}

/**
 * Parses `args` against `specs`, starting from `defaults`.
 * Returns `undefined` when `--help` was given (the caller prints help).
 *
 * @throws {UsageError} On an unknown flag, a missing value or a value that does not parse
 */
export function parseFlags<O extends object>(
  args: string[],
  specs: FlagSpecs<O>,
  defaults: O,
): O | undefined {
  const options: Record<string, { type: "string" | "boolean" }> = {
    help: { type: "boolean" },
  };
  for (const [key, spec] of Object.entries(specs) as [string, FlagSpec<unknown>][]) {
    options[flagName(key)] = { type: spec.parse ? "string" : "boolean" };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (error) {
    // One line, but all of it: for `--n -1` the hint to write `--n=-1` is on the last line.
    throw new UsageError((error as Error).message.replace(/\s*\n\s*/g, " "), { cause: error });
  }
  if (values.help) return undefined;
  const result = { ...defaults } as Record<string, unknown>;
  for (const [key, spec] of Object.entries(specs) as [string, FlagSpec<unknown>][]) {
    const raw = values[flagName(key)];
    if (raw === undefined) continue;
    if (!spec.parse) {
      result[key] = raw;
      continue;
    }
    try {
      result[key] = spec.parse(raw as string);
    } catch (error) {
      throw new UsageError(`Invalid value for --${flagName(key)}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  return result as O;
}

/** The `--help` text: usage, a description, then every flag with its default. */
export function helpText<O extends object>(
  usage: string,
  description: string,
  specs: FlagSpecs<O>,
  defaults: O,
): string {
  const rows = (Object.entries(specs) as [keyof O & string, FlagSpec<unknown>][]).map(
    ([key, spec]) => {
      const left = `  --${flagName(key)}${spec.arg ? ` ${spec.arg}` : ""}`;
      const value = defaults[key];
      const fallback = value === undefined || value === false ? "" : ` (default: ${formatValue(spec, value)})`;
      return [left, `${spec.help}${fallback}`];
    },
  );
  rows.push(["  --help", "Show this help and exit"]);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return [
    `Usage: ${usage}`,
    "",
    description,
    "",
    "Flags:",
    ...rows.map(([left, right]) => left.padEnd(width) + right),
  ].join("\n");
}

/** What a program says about itself in `--help`. */
export interface ProgramHelp {
  /** After `Usage: `, e.g. `deno task primary [flags]`. */
  usage: string;
  /** One line on what the program does. */
  description: string;
}

/**
 * `parseFlags()` for a program's own command line: on `--help` it prints the
 * help text and returns undefined, for the program to exit 0.
 *
 * @throws {UsageError} As parseFlags() does
 */
export function parseProgramFlags<O extends object>(
  args: string[],
  help: ProgramHelp,
  specs: FlagSpecs<O>,
  defaults: O,
): O | undefined {
  const options = parseFlags(args, specs, defaults);
  if (!options) console.log(helpText(help.usage, help.description, specs, defaults));
  return options;
}

/**
 * Runs a program's `main`, turning a ProgramError (a UsageError among them)
 * into one line on stderr and its exit code. Other errors are left to
 * propagate: they are bugs, and Deno's stack trace with exit code 1 is the
 * right report for them.
 */
export async function runProgram(name: string, main: () => Promise<number>): Promise<never> {
  let code: number;
  try {
    code = await main();
  } catch (error) {
    if (!(error instanceof ProgramError)) throw error;
    code = reportError(name, error);
  }
  Deno.exit(code);
}

/** Parsers for flag values. Each throws a RangeError with a readable message. */
export const parse = {
  integer(min: number, max: number): (text: string) => number {
    return (text) => {
      if (!/^-?\d+$/.test(text)) throw new RangeError(`Not an integer: ${JSON.stringify(text)}`);
      // "-0" is 0: a -0 would never read back equal from the "0" that toFlags() writes for it.
      const value = Number(text) + 0;
      if (value < min || value > max) {
        throw new RangeError(`${text} is outside ${min}..${max}`);
      }
      return value;
    };
  },
  duration(text: string): number {
    return parseDuration(text);
  },
  /** A duration above zero. */
  positiveDuration(text: string): number {
    const ms = parseDuration(text);
    if (ms <= 0) throw new RangeError(`Expected a duration above zero, got ${JSON.stringify(text)}`);
    return ms;
  },
  /** A duration, or `off` for 0: for a feature that a zero duration turns off. */
  durationOrOff(text: string): number {
    return text === "off" ? 0 : parseDuration(text);
  },
  port(text: string): number {
    return parse.integer(0, 65535)(text);
  },
  host(text: string): string {
    if (!/^[A-Za-z0-9.:\-\[\]]+$/.test(text)) {
      throw new RangeError(`Not a host name or address: ${JSON.stringify(text)}`);
    }
    return text;
  },
  path(text: string): string {
    if (text === "") throw new RangeError("Empty path");
    return text;
  },
  text(text: string): string {
    return text;
  },
  oneOf<T extends string>(...choices: T[]): (text: string) => T {
    return (text) => {
      if (!(choices as string[]).includes(text)) {
        throw new RangeError(`${JSON.stringify(text)} is not one of ${choices.join(", ")}`);
      }
      return text as T;
    };
  },
};
