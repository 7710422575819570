/** The parent's flags: its own, plus those it passes on to every LikesServer. */
import { type FlagSpecs, parse, toFlags } from "../common/cli.ts";
import { likesServerDefaults, type LikesServerOptions, likesServerSpecs } from "../producer/options.ts";

export interface ParentOptions extends Omit<LikesServerOptions, "id" | "parentPipe"> {
  /** How many LikesServers to launch. @default {10} */
  servers: number;
  /** Pause between launches (ms). @default {1000} */
  stagger: number;
  /**
   * A LikesServer silent this long (no heartbeat, no error line) is hung, and
   * killed; so is one not ended by its duration plus retry budget plus this.
   * Raised to twice --heartbeat and twice --reply-timeout when below them
   * (see silenceLimit, hangDeadline). @default {30000}
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
    help:
      "Kill a LikesServer silent this long (at least 2x --heartbeat), or still running this long after --duration plus --retry-for (at least 2x --reply-timeout)",
    arg: "DURATION",
    parse: parse.duration,
  },
  ...childSpecs,
};

/** The command-line flags that give a LikesServer the parent's settings, with `seed` as its seed. */
export function childFlags(id: number, options: ParentOptions, seed: number | undefined): string[] {
  return toFlags(likesServerSpecs, { ...options, id, seed, parentPipe: true });
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

/**
 * How long a LikesServer may go without a heartbeat or any other line on
 * stderr before it counts as hung: the grace, never less than two heartbeats,
 * so that one late beat (a busy machine) is not a hang. Raised rather than
 * refused, as in hangDeadline().
 */
export function silenceLimit(options: Pick<ParentOptions, "hangGrace" | "heartbeat">): number {
  return Math.max(options.hangGrace, 2 * options.heartbeat);
}

/** The command-line flags that start a parent with `options` (as the demo does). */
export function parentFlags(options: ParentOptions): string[] {
  return toFlags(parentSpecs, options);
}
