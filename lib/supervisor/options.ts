/** The parent's flags: its own, plus those it passes on to every LikesServer. */
import { flagName, type FlagSpecs, parse } from "../common/cli.ts";
import {
  formatPrimaries,
  likesServerDefaults,
  type LikesServerOptions,
  likesServerSpecs,
} from "../producer/options.ts";

export interface ParentOptions extends Omit<LikesServerOptions, "id"> {
  /** How many LikesServers to launch. @default {10} */
  servers: number;
  /** Pause between launches (ms). @default {1000} */
  stagger: number;
}

export const parentDefaults = {
  ...(({ id: _id, ...rest }) => rest)(likesServerDefaults),
  servers: 10,
  stagger: 1000,
} satisfies ParentOptions;

const { id: _id, ...childSpecs } = likesServerSpecs;

export const parentSpecs: FlagSpecs<ParentOptions> = {
  servers: { help: "How many LikesServers to launch", arg: "N", parse: parse.integer(1, 1000) },
  stagger: { help: "Pause between launches", arg: "DURATION", parse: parse.duration },
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
    if (key === "primaries") {
      args.push("--primaries", formatPrimaries(options.primaries!));
      continue;
    }
    args.push(`--${flagName(key)}`, CHILD_DURATIONS.has(key) ? `${value}ms` : String(value));
  }
  return args;
}

/** The command-line flags that give a LikesServer the parent's settings. */
export function childFlags(id: number, options: ParentOptions, seed: number | undefined): string[] {
  return ["--id", String(id), ...passedOnFlags(options, seed)];
}

/** The command-line flags that start a parent with `options` (as the demo does). */
export function parentFlags(options: ParentOptions): string[] {
  return [
    ...["--servers", String(options.servers), "--stagger", `${options.stagger}ms`],
    ...passedOnFlags(options, options.seed),
  ];
}
