/** A LikesServer's flags; the parent passes each of them on to its children. */
import { DEFAULT_MAX_LIKES } from "../protocol/message.ts";
import { type FlagSpecs, parse, UsageError } from "../common/cli.ts";
import { formatDuration } from "../common/duration.ts";
import { formatPrimary, parsePrimaries, type PrimaryAddress } from "./failover.ts";
import { MAX_SERVER_ID } from "../protocol/names.ts";
import { DEFAULT_HOST, DEFAULT_PORT } from "../protocol/address.ts";
import { DEFAULT_LOG_DIR } from "../formats/file_names.ts";

export interface LikesServerOptions {
  /** N in LikesServer<N>; required. @default {undefined} */
  id: number | undefined;
  /** How long to keep sending (ms). @default {300000} */
  duration: number;
  /** Shortest wait between sends (ms). @default {1000} */
  minInterval: number;
  /** Longest wait between sends (ms). @default {5000} */
  maxInterval: number;
  /** Most likes in one message. @default {42} */
  maxLikes: number;
  /** @default {"127.0.0.1"} */
  host: string;
  /** @default {4242} */
  port: number;
  /**
   * Several primaries sharing one total, instead of --host/--port: the
   * LikesServer starts on one picked by its id and fails over to the next on
   * a failed send (see failover.ts). @default {undefined}
   */
  primaries: PrimaryAddress[] | undefined;
  /** Directory of the LikesServer<N> log. @default {"/tmp"} */
  logDir: string;
  /** Makes every random choice reproducible. @default {undefined} */
  seed: number | undefined;
  /** How long one message may keep failing before the LikesServer gives up (ms). @default {30000} */
  retryFor: number;
  /** How long to wait for a connection or a reply (ms). @default {5000} */
  replyTimeout: number;
  /**
   * Once some bytes of a reply have arrived, this long without more ends the
   * reply: a primary may answer a bare `0` or `1` and keep the connection
   * (the mirror of the primary's --quiet-end). @default {50}
   */
  replyQuiet: number;
  /**
   * A new connection for every message, closed after its reply, instead of one
   * kept for the whole run: for primaries that close after each message.
   * @default {false}
   */
  connectPerMessage: boolean;
  /**
   * Stdin is a pipe held by the parent: its end (EOF) means the parent is gone,
   * and the LikesServer stops. Only the parent passes it. @default {false}
   */
  parentPipe: boolean;
  /**
   * With --parent-pipe: how often to write a heartbeat line on stderr, by
   * which the parent tells a hung LikesServer from a waiting one. @default {1000}
   */
  heartbeat: number;
  /**
   * `idempotent`: `LikesServer<N> <likes> <producer> <seq>`, retried until
   * acknowledged, counted once. `plain`: `LikesServer<N> <likes>` only, at
   * most once, for seed-era primaries. @default {"idempotent"}
   */
  protocol: Protocol;
}

export type Protocol = "idempotent" | "plain";

export const likesServerDefaults = {
  id: undefined,
  duration: 300_000,
  minInterval: 1000,
  maxInterval: 5000,
  maxLikes: DEFAULT_MAX_LIKES,
  host: DEFAULT_HOST,
  port: DEFAULT_PORT,
  primaries: undefined,
  logDir: DEFAULT_LOG_DIR,
  seed: undefined,
  retryFor: 30_000,
  replyTimeout: 5000,
  replyQuiet: 50,
  connectPerMessage: false,
  parentPipe: false,
  heartbeat: 1000,
  protocol: "idempotent",
} satisfies LikesServerOptions;

export const likesServerSpecs: FlagSpecs<LikesServerOptions> = {
  id: { help: "Number N of this LikesServer (required)", arg: "N", parse: parse.integer(0, MAX_SERVER_ID) },
  duration: { help: "How long to keep sending", arg: "DURATION", parse: parse.duration },
  minInterval: { help: "Shortest wait between sends", arg: "DURATION", parse: parse.duration },
  maxInterval: { help: "Longest wait between sends", arg: "DURATION", parse: parse.duration },
  maxLikes: { help: "Most likes in one message", arg: "N", parse: parse.integer(0, 1_000_000) },
  host: { help: "Primary's address", arg: "HOST", parse: parse.host },
  port: { help: "Primary's port", arg: "PORT", parse: parse.integer(1, 65535) },
  primaries: {
    help: "Primaries sharing one total, instead of --host/--port: start on one, fail over to the next",
    arg: "HOST:PORT,…",
    parse: parsePrimaries,
    format: (primaries) => formatPrimaries(primaries!),
  },
  logDir: { help: "Directory for the LikesServer<N> log", arg: "DIR", parse: parse.path },
  seed: { help: "Seed for reproducible random choices", arg: "N", parse: parse.integer(0, 2 ** 32 - 1) },
  retryFor: { help: "Keep retrying one message this long before giving up", arg: "DURATION", parse: parse.duration },
  replyTimeout: { help: "Wait this long for a connection or a reply", arg: "DURATION", parse: parse.duration },
  replyQuiet: {
    help: "Once a reply has begun, this long without more bytes ends it (a bare 0 or 1)",
    arg: "DURATION",
    parse: parse.positiveDuration,
  },
  connectPerMessage: { help: "Open a connection per message, for primaries that close after each one" },
  parentPipe: { help: "Stop when stdin ends: set by the parent, which holds the other end" },
  heartbeat: {
    help: "With --parent-pipe: write a heartbeat line on stderr this often, for the parent's --hang-grace",
    arg: "DURATION",
    parse: parse.positiveDuration,
  },
  protocol: {
    help: "idempotent (ours), or plain for a seed-era primary: `LikesServer<N> <likes>`, at most once",
    arg: "MODE",
    parse: parse.oneOf("idempotent", "plain"),
  },
};

/** Where a LikesServer sends: the --primaries list, else --host/--port. */
export function primaryAddresses(
  options: Pick<LikesServerOptions, "host" | "port"> & { primaries?: PrimaryAddress[] },
): PrimaryAddress[] {
  return options.primaries ?? [{ host: options.host, port: options.port }];
}

/** The --primaries text for `primaries`, as parsePrimaries() reads it. */
export function formatPrimaries(primaries: readonly PrimaryAddress[]): string {
  return primaries.map(formatPrimary).join(",");
}

/**
 * Checks what single flags cannot: the interval range.
 *
 * @throws {UsageError} When --min-interval is above --max-interval
 */
export function checkIntervals(options: { minInterval: number; maxInterval: number }): void {
  if (options.minInterval > options.maxInterval) {
    throw new UsageError(
      `--min-interval (${formatDuration(options.minInterval)}) is above --max-interval (${
        formatDuration(options.maxInterval)
      })`,
    );
  }
}
