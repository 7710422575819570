/** The parent's flags: its own, plus those it passes on to every LikesServer. */
import { flagName, type FlagSpecs, parse } from "../common/cli.ts";
import { likesServerDefaults, type LikesServerOptions, likesServerSpecs } from "../producer/options.ts";

export interface ParentOptions extends Omit<LikesServerOptions, "id" | "parentPipe"> {
  /** How many LikesServers to launch. @default {10} */
  servers: number;
  /** Pause between launches (ms). @default {1000} */
  stagger: number;
  /**
   * A LikesServer not ended by its duration plus retry budget plus this is hung,
   * and killed. Raised to twice --reply-timeout when below it (see hangDeadline). @default {30000}
   */
  hangGrace: number;
}

export const parentDefaults = {
  ...(({ id: _id, parentPipe: _pipe, ...rest }) => rest)(likesServerDefaults),
  servers: 10,
  stagger: 1000,
  hangGrace: 30_000,
} satisfies ParentOptions;

const { id: _id, parentPipe: _pipe, ...childSpecs } = likesServerSpecs;

export const parentSpecs: FlagSpecs<ParentOptions> = {
  servers: { help: "How many LikesServers to launch", arg: "N", parse: parse.integer(1, 1000) },
  stagger: { help: "Pause between launches", arg: "DURATION", parse: parse.duration },
  hangGrace: {
    help: "Kill a LikesServer still running this long after --duration plus --retry-for (at least 2x --reply-timeout)",
    arg: "DURATION",
    parse: parse.duration,
  },
  ...childSpecs,
};

/** Flags (passed on to children) whose values are durations. */
const CHILD_DURATIONS = new Set(["duration", "minInterval", "maxInterval", "retryFor", "replyTimeout"]);

/** The flags that carry the settings a parent passes on, with `seed` as the seed. */
function passedOnFlags(options: ParentOptions, seed: number | undefined): string[] {
  const args: string[] = [];
  for (const key of Object.keys(childSpecs) as (keyof typeof childSpecs)[]) {
    const value = key === "seed" ? seed : options[key];
    if (value === undefined) continue;
    args.push(`--${flagName(key)}`, CHILD_DURATIONS.has(key) ? `${value}ms` : String(value));
  }
  return args;
}

/** The command-line flags that give a LikesServer the parent's settings. */
export function childFlags(id: number, options: ParentOptions, seed: number | undefined): string[] {
  return ["--id", String(id), "--parent-pipe", ...passedOnFlags(options, seed)];
}

/**
 * How long after its launch a LikesServer must have ended: its duration, its
 * retry budget for the last message, and the grace. The grace is never less
 * than twice --reply-timeout, which the last send may still take (a connect
 * and a reply wait): a smaller one is raised rather than refused, so that
 * lengthening --reply-timeout alone never makes the defaults a usage error.
 */
export function hangDeadline(
  options: Pick<ParentOptions, "duration" | "retryFor" | "hangGrace" | "replyTimeout">,
): number {
  return options.duration + options.retryFor + Math.max(options.hangGrace, 2 * options.replyTimeout);
}

/** The command-line flags that start a parent with `options` (as the demo does). */
export function parentFlags(options: ParentOptions): string[] {
  return [
    ...["--servers", String(options.servers), "--stagger", `${options.stagger}ms`],
    ...["--hang-grace", `${options.hangGrace}ms`],
    ...passedOnFlags(options, options.seed),
  ];
}
