import assert from "node:assert/strict";
import fc from "fast-check";
import {
  flagName,
  type FlagSpec,
  type FlagSpecs,
  helpText,
  isDuration,
  parse,
  parseFlags,
  ProgramError,
  reportError,
  toFlags,
  UsageError,
} from "../../lib/common/cli.ts";
import { primaryDefaults, primarySpecs } from "../../lib/primary/options.ts";
import { likesServerDefaults, likesServerSpecs } from "../../lib/producer/options.ts";
import { parentDefaults, parentSpecs } from "../../lib/supervisor/options.ts";
import { auditDefaults, auditSpecs } from "../../lib/tools/audit_options.ts";
import { tempDir } from "../support/temp.ts";

const ROOT = new URL("../../", import.meta.url);

interface Demo {
  port: number;
  maxLikes: number;
  verbose: boolean;
  wait: number;
}
const demoSpecs: FlagSpecs<Demo> = {
  port: { help: "TCP port", arg: "PORT", parse: parse.port },
  maxLikes: { help: "Most likes", arg: "N", parse: parse.integer(0, 100) },
  verbose: { help: "Say more" },
  wait: { help: "How long to wait", arg: "DURATION", parse: parse.duration },
};
const demoDefaults: Demo = { port: 4242, maxLikes: 42, verbose: false, wait: 1000 };

function usageError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UsageError, `expected a UsageError, got ${error}`);
    assert.equal(error.name, "UsageError");
    assert.match(error.message, message);
    assert.doesNotMatch(error.message, /\n/);
    return true;
  });
}

Deno.test("flagName() turns camelCase keys into kebab-case flags", () => {
  assert.equal(flagName("maxLikes"), "max-likes");
  assert.equal(flagName("port"), "port");
  assert.equal(flagName("producerTtl"), "producer-ttl");
});

Deno.test("parseFlags() returns the defaults when no flag is given", () => {
  assert.deepEqual(parseFlags([], demoSpecs, demoDefaults), demoDefaults);
});

Deno.test("parseFlags() parses values, switches and both --flag value and --flag=value", () => {
  assert.deepEqual(parseFlags(["--port", "0", "--max-likes=7", "--verbose", "--wait", "2s"], demoSpecs, demoDefaults), {
    port: 0,
    maxLikes: 7,
    verbose: true,
    wait: 2000,
  });
});

Deno.test("parseFlags() does not modify the defaults object", () => {
  const defaults = { ...demoDefaults };
  parseFlags(["--port", "1"], demoSpecs, defaults);
  assert.deepEqual(defaults, demoDefaults);
});

Deno.test("parseFlags() returns undefined for --help, even with other flags", () => {
  assert.equal(parseFlags(["--help"], demoSpecs, demoDefaults), undefined);
  assert.equal(parseFlags(["--port", "1", "--help"], demoSpecs, demoDefaults), undefined);
});

Deno.test("parseFlags() throws a UsageError for an unknown flag", () => {
  usageError(() => parseFlags(["--bogus"], demoSpecs, demoDefaults), /Unknown option '--bogus'/);
});

Deno.test("parseFlags() throws a UsageError for a positional argument", () => {
  usageError(() => parseFlags(["extra"], demoSpecs, demoDefaults), /Unexpected argument 'extra'/);
});

Deno.test("parseFlags() throws a UsageError for a missing value", () => {
  usageError(() => parseFlags(["--port"], demoSpecs, demoDefaults), /--port/);
  usageError(() => parseFlags(["--port", "--verbose"], demoSpecs, demoDefaults), /--port/);
});

Deno.test("parseFlags() throws a UsageError for a value given to a switch", () => {
  usageError(() => parseFlags(["--verbose=yes"], demoSpecs, demoDefaults), /--verbose/);
});

Deno.test("parseFlags() throws a UsageError naming the flag for a value that does not parse", () => {
  usageError(
    () => parseFlags(["--port", "abc"], demoSpecs, demoDefaults),
    /^Invalid value for --port: Not an integer: "abc"$/,
  );
  usageError(
    () => parseFlags(["--port", "65536"], demoSpecs, demoDefaults),
    /^Invalid value for --port: 65536 is outside 0\.\.65535$/,
  );
  usageError(() => parseFlags(["--max-likes=-1"], demoSpecs, demoDefaults), /--max-likes: -1 is outside 0\.\.100/);
  usageError(() => parseFlags(["--wait", "5"], demoSpecs, demoDefaults), /--wait: Invalid duration: "5"/);
});

Deno.test("parseFlags() keeps the hint for a value that starts with a dash on its one line", () => {
  usageError(() => parseFlags(["--max-likes", "-1"], demoSpecs, demoDefaults), /'--max-likes'.*use '--max-likes=-XYZ'/);
});

Deno.test("parseFlags() keeps the parser's error as the cause", () => {
  try {
    parseFlags(["--port", "x"], demoSpecs, demoDefaults);
    assert.fail("no error");
  } catch (error) {
    assert.ok((error as Error).cause instanceof RangeError);
  }
});

Deno.test("parse.integer() accepts only whole decimal numbers in range", () => {
  const int = parse.integer(-5, 5);
  assert.equal(int("-5"), -5);
  assert.equal(int("5"), 5);
  for (const text of ["", "1.0", "1e1", "0x1", " 1", "+1", "six"]) assert.throws(() => int(text), RangeError, text);
  assert.throws(() => int("6"), RangeError);
  assert.throws(() => int("-6"), RangeError);
});

Deno.test("parse.host() accepts names and addresses and rejects anything else", () => {
  for (const host of ["localhost", "127.0.0.1", "::1", "[::1]", "likes-1.example.org"]) {
    assert.equal(parse.host(host), host);
  }
  for (const host of ["", "a b", "host/path", "a;b", "héllo"]) assert.throws(() => parse.host(host), RangeError, host);
});

Deno.test("parse.path() rejects an empty path", () => {
  assert.equal(parse.path("/tmp/x"), "/tmp/x");
  assert.throws(() => parse.path(""), { name: "RangeError", message: "Empty path" });
});

Deno.test("parse.oneOf() accepts only the listed choices", () => {
  const mode = parse.oneOf("normal", "fsync");
  assert.equal(mode("fsync"), "fsync");
  assert.throws(() => mode("FSYNC"), { name: "RangeError", message: '"FSYNC" is not one of normal, fsync' });
});

Deno.test("helpText() lists usage, description, every flag with its default, and --help", () => {
  const text = helpText("demo [flags]", "Does a demo.", demoSpecs, demoDefaults);
  const lines = text.split("\n");
  assert.equal(lines[0], "Usage: demo [flags]");
  assert.equal(lines[2], "Does a demo.");
  assert.equal(lines[4], "Flags:");
  assert.match(text, /\n {2}--port PORT +TCP port \(default: 4242\)\n/);
  assert.match(text, /\n {2}--max-likes N +Most likes \(default: 42\)\n/);
  // A switch that is off by default shows no default.
  assert.match(text, /\n {2}--verbose +Say more\n/);
  assert.match(text, /\n {2}--help +Show this help and exit$/);
  // Descriptions start in one column.
  const columns = new Set(lines.slice(5).map((line) => line.search(/(?<=\S {2,})\S/)));
  assert.equal(columns.size, 1);
});

Deno.test("helpText() shows durations of the primary in their readable form", () => {
  const text = helpText("primary", "The primary.", primarySpecs, primaryDefaults);
  assert.match(text, /--idle-timeout DURATION +.*\(default: 1m\)/);
  assert.match(text, /--write-timeout DURATION +.*\(default: 10s\)/);
  assert.match(text, /--producer-ttl DURATION +.*\(default: 10m\)/);
  assert.match(text, /--durability MODE +.*\(default: normal\)/);
  // Every default shown in --help parses back to itself.
  const shown = new Map([...text.matchAll(/--([a-z-]+) \S+ .*\(default: (.*)\)/g)].map((m) => [m[1], m[2]]));
  const args = [...shown].map(([name, value]) => `--${name}=${value}`);
  assert.deepEqual(parseFlags(args, primarySpecs, primaryDefaults), primaryDefaults);
});

Deno.test("isDuration() tells duration flags from the others by their spec alone", () => {
  const durations = Object.entries(primarySpecs).filter(([, spec]) => isDuration(spec)).map(([key]) => key);
  assert.deepEqual(durations, [
    "idleTimeout",
    "writeTimeout",
    "authTimeout",
    "quietEnd",
    "producerTtl",
    "checkpointEvery",
    "commitDelay",
    "logCheckEvery",
    "httpHeaderTimeout",
    "httpIdleTimeout",
    "redisTimeout",
    "redisLease",
  ]);
});

Deno.test("toFlags() writes one --name=value per set flag, durations in their unit, switches bare", () => {
  assert.deepEqual(toFlags(demoSpecs, { port: 0, verbose: true, wait: 120_000 }), [
    "--port=0",
    "--verbose",
    "--wait=2m",
  ]);
  assert.deepEqual(toFlags(demoSpecs, { verbose: false, maxLikes: undefined }), []);
  // A duration that its readable form would round is written exactly.
  assert.deepEqual(toFlags(demoSpecs, { wait: 1001 }), ["--wait=1001ms"]);
  // A value that starts with a dash stays a value.
  assert.deepEqual(
    parseFlags(toFlags(primarySpecs, { token: "-x" }), primarySpecs, primaryDefaults)?.token,
    "-x",
  );
});

/** Values of the flag's own type, kept only when the flag accepts them (so every one is a valid option). */
function valuesFor(spec: FlagSpec<unknown>, fallback: unknown): fc.Arbitrary<unknown> {
  if (!spec.parse) return fc.boolean();
  const read = spec.parse;
  const numbers = fc.oneof(fc.nat(70_000), fc.maxSafeNat(), fc.integer({ min: -5, max: 5 }));
  const strings = fc.oneof(
    fc.string({ minLength: 0, maxLength: 12 }),
    fc.constantFrom(
      "normal",
      "fsync",
      "off",
      "plain",
      "idempotent",
      "127.0.0.1:0",
      "::1",
      "[::1]:80",
      "/tmp/a b=c",
      "-dash",
    ),
  );
  const accepted = (value: unknown) => {
    try {
      return typeof read(String(value)) === typeof value;
    } catch {
      return false;
    }
  };
  const durationAccepted = (ms: number) => {
    try {
      return read(`${ms}ms`) === ms;
    } catch {
      return false;
    }
  };
  if (spec.format) {
    // A structured value (a list of addresses or paths): whatever the flag reads from text of its own kind.
    const texts = fc.oneof(
      fc.constantFrom(
        "127.0.0.1:4242",
        "127.0.0.1:1,[::1]:80,localhost:65535",
        "/tmp/a,/tmp/b c",
        "redis://127.0.0.1:6379/2",
        "x",
      ),
      fc.string({ minLength: 1, maxLength: 12 }),
    );
    const parsed = texts.map((text) => {
      try {
        return read(text);
      } catch {
        return undefined;
      }
    }).filter((value) => value !== undefined);
    return fallback === undefined ? fc.option(parsed, { nil: undefined }) : fc.oneof(parsed, fc.constant(fallback));
  }
  const values = isDuration(spec)
    ? fc.oneof(fc.nat(100_000_000), fc.maxSafeNat(), fc.constant(fallback as number)).filter(durationAccepted)
    // The default is always accepted, so that the filter never starves on a flag with few valid values.
    : fc.oneof(numbers, strings, fc.constant(fallback)).filter(accepted);
  return fallback === undefined ? fc.option(values, { nil: undefined }) : values;
}

function optionsOf<O extends object>(specs: FlagSpecs<O>, defaults: O): fc.Arbitrary<O> {
  const record: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [key, spec] of Object.entries(specs) as [keyof O & string, FlagSpec<unknown>][]) {
    record[key] = valuesFor(spec, defaults[key]);
  }
  return fc.record(record).map((options) => ({ ...options })) as unknown as fc.Arbitrary<O>;
}

for (
  const [name, specs, defaults] of [
    ["primary", primarySpecs, primaryDefaults],
    ["likes_server", likesServerSpecs, likesServerDefaults],
    ["parent", parentSpecs, parentDefaults],
    ["audit", auditSpecs, auditDefaults],
  ] as [string, FlagSpecs<object>, object][]
) {
  Deno.test(`parseFlags() reads back what toFlags() wrote, for any ${name} options`, () => {
    fc.assert(
      fc.property(optionsOf(specs, defaults), (options) => {
        assert.deepEqual(parseFlags(toFlags(specs, options), specs, defaults), options);
      }),
      { numRuns: 300 },
    );
  });
}

async function runPrimary(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("primary.ts", ROOT).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, stdout: new TextDecoder().decode(stdout), stderr: new TextDecoder().decode(stderr) };
}

Deno.test("primary exits 2 with one clear line on stderr for a port that is not a number", async () => {
  const { code, stdout, stderr } = await runPrimary("--port", "abc");
  assert.equal(code, 2);
  assert.equal(stdout, "");
  assert.equal(stderr, 'primary: Invalid value for --port: Not an integer: "abc" (see --help)\n');
});

Deno.test("primary exits 2 with one clear line on stderr for an unknown flag", async () => {
  const { code, stdout, stderr } = await runPrimary("--bogus");
  assert.equal(code, 2);
  assert.equal(stdout, "");
  assert.match(stderr, /^primary: Unknown option '--bogus'.* \(see --help\)\n$/);
});

Deno.test("primary --help prints the flags and exits 0 without touching any file", async () => {
  const dir = await tempDir();
  try {
    const { code, stdout, stderr } = await runPrimary("--help", "--log", `${dir}/log`, "--state", `${dir}/state.db`);
    assert.equal(code, 0);
    assert.equal(stderr, "");
    assert.match(stdout, /^Usage: /);
    for (const flag of ["--port", "--log", "--state", "--durability", "--reset", "--max-producers", "--producer-ttl"]) {
      assert.ok(stdout.includes(`  ${flag}`), flag);
    }
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("primary refuses a non-loopback host without a token, exit 2", async () => {
  const { code, stderr } = await runPrimary("--host", "0.0.0.0", "--port", "0", "--http", "off");
  assert.equal(code, 2);
  assert.match(stderr, /^primary: Refusing to listen on 0\.0\.0\.0 without a token.*\n$/);
});

Deno.test("reportError() prints `<program>: <message>` and gives the error's exit code", () => {
  const printed: string[] = [];
  const original = console.error;
  console.error = (line: string) => printed.push(line);
  try {
    assert.equal(reportError("primary", new ProgramError("Cannot listen on x:1: in use")), 1);
    assert.equal(reportError("primary", new UsageError("Unknown option '--x'")), 2);
    assert.equal(reportError("audit", new ProgramError("Mismatch", { exitCode: 3 })), 3);
    assert.equal(reportError("demo", new Error("plain")), 1);
  } finally {
    console.error = original;
  }
  assert.deepEqual(printed, [
    "primary: Cannot listen on x:1: in use",
    "primary: Unknown option '--x' (see --help)",
    "audit: Mismatch",
    "demo: plain",
  ]);
});

Deno.test("parse.integer() reads -0 as 0, which toFlags() writes back as 0", () => {
  assert.ok(Object.is(parse.integer(0, 10)("-0"), 0));
});
