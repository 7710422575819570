/** The parent's flags: its own, plus those it passes on to every LikesServer. */
import { type FlagSpecs, parse, toFlags } from "../common/cli.ts";
import { likesServerDefaults, type LikesServerOptions, likesServerSpecs } from "../producer/options.ts";

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

/** The command-line flags that give a LikesServer the parent's settings, with `seed` as its seed. */
export function childFlags(id: number, options: ParentOptions, seed: number | undefined): string[] {
  // Only the child's own flags are written: the parent's (servers, stagger) are not among its specs.
  return toFlags(likesServerSpecs, { ...options, id, seed });
}

/** The command-line flags that start a parent with `options` (as the demo does). */
export function parentFlags(options: ParentOptions): string[] {
  return toFlags(parentSpecs, options);
}
