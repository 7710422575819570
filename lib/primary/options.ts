/**
 * The primary's flags: every tunable constant of the mission is one,
 * defaulting to the mission's value, each imported from the module it tunes.
 * (The embedded dedupe window, WINDOW in ledger.ts, is not: the checkpoint
 * stores it as a 32-bit mask.)
 */
import { DEFAULT_HOST, DEFAULT_PORT } from "../protocol/address.ts";
import { DEFAULT_PRIMARY_LOG, DEFAULT_PRIMARY_STATE } from "../formats/file_names.ts";
import { HTTP_DEFAULTS } from "../dashboard/http_options.ts";
import { DEFAULT_MAX_LIKES } from "../protocol/message.ts";
import { type FlagSpecs, parse } from "../common/cli.ts";
import { DEFAULT_DURABILITY, DEFAULT_PRODUCER_TTL, type Durability } from "./backend/backend.ts";
import { DEFAULT_NEW_PRODUCER_BURST, DEFAULT_NEW_PRODUCER_RATE } from "./new_producer_rate.ts";
import { EMBEDDED_DEFAULTS, type SyncOn } from "./backend/embedded/defaults.ts";
import { REDIS_DEFAULTS } from "./backend/redis/defaults.ts";
import { EMBEDDED_STORE, storeUrl } from "./backend/open.ts";
import { DEFAULT_MAX_PRODUCERS } from "./ledger.ts";
import { DEFAULT_INVALID_LOG_RATE } from "./invalid_log_limit.ts";
import { formatByteSize, parseByteSize } from "../common/byte_size.ts";
import { LOG_ROTATION_DEFAULTS } from "./log_rotation.ts";

export interface PrimaryOptions {
  /** Address to listen on for LikesServers. @default {"127.0.0.1"} */
  host: string;
  /** @default {4242} */
  port: number;
  /** @default {"/tmp/PrimaryLikesLog"} */
  log: string;
  /** SQLite state file. @default {"/tmp/PrimaryLikes.db"} */
  state: string;
  /** @default {42} */
  maxLikes: number;
  /** @default {"normal"} */
  durability: Durability;
  /** Start from a zero total on purpose. @default {false} */
  reset: boolean;
  /** Dashboard address `host:port`, or `off`. @default {"127.0.0.1:4243"} */
  http: string;
  /** Shared token producers must send; LIKES_TOKEN is read when absent. @default {undefined} */
  token: string | undefined;
  /** Allow a non-loopback host without a token. @default {false} */
  insecure: boolean;
  /** @default {1024} */
  maxLine: number;
  /** @default {10000} */
  maxConnections: number;
  /** @default {60000} */
  idleTimeout: number;
  /** @default {10000} */
  writeTimeout: number;
  /** @default {1024} */
  maxUnanswered: number;
  /** Most bytes of escaped data an Invalid data line holds; the line gives the whole length. @default {200} */
  maxLoggedBytes: number;
  /** Invalid messages per address per second logged line by line; the rest are summarised. @default {10} */
  invalidLogRate: number;
  /** With a token: a connection not authenticated within this long is closed (ms). @default {5000} */
  authTimeout: number;
  /** With a token: the percentage of --max-connections that unauthenticated connections may hold. @default {50} */
  unauthenticatedShare: number;
  /** Connections from one address off loopback; 0 is no cap. Loopback peers are never capped. @default {1000} */
  maxConnectionsPerAddress: number;
  /** How long a seed-era message without newline waits for more bytes before it counts as complete (ms); 0 is off. @default {200} */
  quietEnd: number;
  /** Producers whose dedupe state is kept; a new one beyond is refused while all are live. @default {100000} */
  maxProducers: number;
  /** A producer's dedupe state is kept at least this long after it was last seen (ms). @default {600000} */
  producerTtl: number;
  /** New producer ids admitted per second per peer address; 0 for no limit. @default {100} */
  newProducerRate: number;
  /** New producer ids a peer address may start at once. @default {1000} */
  newProducerBurst: number;
  /** Longest time between checkpoints while likes arrive (ms). @default {5000} */
  checkpointEvery: number;
  /** Most log bytes between checkpoints. @default {8388608} */
  checkpointBytes: number;
  /** fsync mode: longest a batch waits for the connections known to be sending (ms). @default {1} */
  commitDelay: number;
  /**
   * fsync mode: where the log's sync runs: `thread` (a blocking thread, later
   * batches written behind it) or `loop` (the event loop). @default {"loop"}
   */
  syncOn: SyncOn;
  /** How often the log file is checked for deletion or replacement (ms). @default {1000} */
  logCheckEvery: number;
  /** Rotate the log at the first batch boundary past this size (bytes); 0 never. @default {1073741824} */
  logMaxBytes: number;
  /** Rotated log files kept (`<log>.1` …); Infinity keeps all. @default {Infinity} */
  logKeep: number;
  /**
   * HTTP connections at once, live streams included. Kept far below
   * --max-connections and the usual descriptor limit (1024): a reserve of
   * descriptors for producers. @default {64}
   */
  httpMaxConnections: number;
  /** Time an HTTP client has to send complete request headers. @default {10000} */
  httpHeaderTimeout: number;
  /** Close an HTTP keep-alive connection with no request for this long. @default {30000} */
  httpIdleTimeout: number;
  /** Where the total and dedupe state live: `embedded` (SQLite checkpoint + log) or `redis://HOST:PORT[/DB]`. @default {"embedded"} */
  store: string;
  /**
   * Names this primary's journal in Redis: stable across its restarts, unique
   * among the primaries sharing the Redis. Undefined: the likes address
   * HOST:PORT (refused with --port 0, which changes every start). @default {undefined}
   */
  primaryId: string | undefined;
  /** Accept a Redis that keeps nothing on disk (no AOF, no RDB). @default {false} */
  allowVolatileStore: boolean;
  /** A Redis command (or connect) without answer for this long fails, answered `1 storage error`. @default {2000} */
  redisTimeout: number;
  /**
   * How long this primary's claim on its id in Redis lasts unless renewed
   * (renewed at a third of it): a second live primary with the same id is
   * refused; a restart after a crash waits out the dead one's claim. @default {5000}
   */
  redisLease: number;
  /**
   * Batches whose Redis commits may be outstanding at once; logs and answers
   * stay in batch order. @default {2}
   */
  redisInFlight: number;
  /**
   * The operator's recovery step for a Redis that lost its identity or whose
   * total is below the one this log recorded: give it an identity, raise its
   * total to the log's last, log that, and exit without listening. @default {false}
   */
  adoptRedisStore: boolean;
}

export const primaryDefaults = {
  host: DEFAULT_HOST,
  port: DEFAULT_PORT,
  log: DEFAULT_PRIMARY_LOG,
  state: DEFAULT_PRIMARY_STATE,
  maxLikes: DEFAULT_MAX_LIKES,
  durability: DEFAULT_DURABILITY,
  reset: false,
  http: "127.0.0.1:4243",
  token: undefined,
  insecure: false,
  maxLine: 1024,
  maxConnections: 10_000,
  idleTimeout: 60_000,
  writeTimeout: 10_000,
  maxUnanswered: 1024,
  maxLoggedBytes: 200,
  invalidLogRate: DEFAULT_INVALID_LOG_RATE,
  authTimeout: 5000,
  unauthenticatedShare: 50,
  maxConnectionsPerAddress: 1000,
  quietEnd: 200,
  maxProducers: DEFAULT_MAX_PRODUCERS,
  producerTtl: DEFAULT_PRODUCER_TTL,
  newProducerRate: DEFAULT_NEW_PRODUCER_RATE,
  newProducerBurst: DEFAULT_NEW_PRODUCER_BURST,
  checkpointEvery: EMBEDDED_DEFAULTS.checkpointEvery,
  checkpointBytes: EMBEDDED_DEFAULTS.checkpointBytes,
  commitDelay: EMBEDDED_DEFAULTS.commitDelay,
  syncOn: EMBEDDED_DEFAULTS.syncOn,
  logCheckEvery: 1000,
  logMaxBytes: LOG_ROTATION_DEFAULTS.maxBytes,
  logKeep: LOG_ROTATION_DEFAULTS.keep,
  httpMaxConnections: HTTP_DEFAULTS.maxConnections,
  httpHeaderTimeout: HTTP_DEFAULTS.headerTimeout,
  httpIdleTimeout: HTTP_DEFAULTS.idleTimeout,
  store: EMBEDDED_STORE,
  primaryId: undefined,
  allowVolatileStore: false,
  redisTimeout: REDIS_DEFAULTS.timeout,
  redisLease: REDIS_DEFAULTS.lease,
  redisInFlight: REDIS_DEFAULTS.inFlight,
  adoptRedisStore: false,
} satisfies PrimaryOptions;

// Launch code reads the store's address for its grants, and may import only this module of the primary's.
export { redisAddress } from "./backend/open.ts";

/** Printable ASCII without spaces, as a Redis key part and a log word. */
export function primaryIdText(text: string): string {
  if (!/^[\x21-\x7e]{1,128}$/.test(text)) {
    throw new RangeError(`Expected 1-128 printable ASCII characters without spaces, got ${JSON.stringify(text)}`);
  }
  return text;
}

/** `host:port` split at its last colon (IPv6 hosts have colons of their own). */
export function splitAddress(address: string): { hostname: string; port: number } {
  const colon = address.lastIndexOf(":");
  return { hostname: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

/** `host:port` or `off`. */
export function httpAddress(text: string): string {
  if (text === "off") return text;
  const colon = text.lastIndexOf(":");
  if (colon < 1) throw new RangeError(`Expected host:port or off, got ${JSON.stringify(text)}`);
  parse.host(text.slice(0, colon));
  parse.port(text.slice(colon + 1));
  return text;
}

export const primarySpecs: FlagSpecs<PrimaryOptions> = {
  host: { help: "Address to listen on for LikesServers", arg: "HOST", parse: parse.host },
  port: { help: "TCP port (0 picks a free one)", arg: "PORT", parse: parse.port },
  log: { help: "Human-readable log of every like and total", arg: "FILE", parse: parse.path },
  state: {
    help: "SQLite checkpoint of total and dedupe (the log is the commit record)",
    arg: "FILE",
    parse: parse.path,
  },
  maxLikes: { help: "Most likes one message may carry", arg: "N", parse: parse.integer(0, 1_000_000) },
  durability: {
    help: "normal survives kill -9; fsync also survives power loss",
    arg: "MODE",
    parse: parse.oneOf("normal", "fsync"),
  },
  reset: { help: "Start over from a zero total: a reset line in the log, every producer forgotten" },
  http: { help: "Dashboard and metrics address, or off", arg: "HOST:PORT", parse: httpAddress },
  token: {
    help: "Token producers must send (prefer $LIKES_TOKEN: flags show in ps)",
    arg: "TOKEN",
    parse: (text) => {
      // An empty token would satisfy the off-loopback check while no client could ever match it.
      if (text === "") throw new RangeError("The token must not be empty");
      return text;
    },
  },
  insecure: { help: "Allow a non-loopback --host without a token" },
  maxLine: { help: "Longest line in bytes", arg: "BYTES", parse: parse.integer(16, 1 << 20) },
  maxConnections: { help: "Connections served at once", arg: "N", parse: parse.integer(1, 1_000_000) },
  idleTimeout: { help: "Close a connection silent this long", arg: "DURATION", parse: parse.duration },
  writeTimeout: {
    help: "Close a connection that leaves replies unread this long",
    arg: "DURATION",
    parse: parse.duration,
  },
  maxUnanswered: {
    help: "Lines taken from a connection before its replies are written",
    arg: "N",
    parse: parse.integer(1, 1 << 20),
  },
  maxLoggedBytes: {
    help: "Most bytes of escaped data an Invalid data line holds (it gives the whole length)",
    arg: "BYTES",
    parse: parse.integer(0, 1 << 20),
  },
  invalidLogRate: {
    help: "Invalid messages per address per second logged line by line; the rest are summarised each second",
    arg: "N",
    parse: parse.integer(0, 1_000_000),
  },
  authTimeout: {
    help: "With a token: close a connection not authenticated within this long",
    arg: "DURATION",
    parse: parse.positiveDuration,
  },
  unauthenticatedShare: {
    help: "With a token: percentage of --max-connections unauthenticated connections may hold (the oldest make room)",
    arg: "PERCENT",
    parse: parse.integer(1, 100),
  },
  maxConnectionsPerAddress: {
    help: "Connections from one address off loopback (loopback is never capped), or off",
    arg: "N",
    parse: (text) => text === "off" ? 0 : parse.integer(1, 1_000_000)(text),
    format: (value) => value === 0 ? "off" : String(value),
  },
  quietEnd: {
    help: "End a newline-less message that parses complete after this quiet period, or off",
    arg: "DURATION",
    parse: parse.durationOrOff,
  },
  maxProducers: {
    help: "Producers whose dedupe state is kept; beyond, a new one is refused while all are live",
    arg: "N",
    parse: parse.integer(1, 10_000_000),
  },
  producerTtl: {
    help: "Keep a producer's dedupe state at least this long after it was last seen",
    arg: "DURATION",
    parse: parse.duration,
  },
  newProducerRate: {
    help: "New producer ids admitted per second per address, 0 for no limit",
    arg: "N",
    parse: parse.integer(0, 1_000_000),
  },
  newProducerBurst: {
    help: "New producer ids one address may start at once",
    arg: "N",
    parse: parse.integer(1, 10_000_000),
  },
  checkpointEvery: {
    help: "Longest time between checkpoints while likes arrive",
    arg: "DURATION",
    parse: parse.positiveDuration,
  },
  checkpointBytes: { help: "Most log bytes between checkpoints", arg: "BYTES", parse: parse.integer(1, 2 ** 40) },
  commitDelay: {
    help: "fsync mode: longest a batch waits for as many connections as the last full one, to share a sync (0: none)",
    arg: "DURATION",
    parse: parse.duration,
  },
  syncOn: {
    help: "fsync mode: sync the log on a blocking thread, writing later batches behind it (thread), " +
      "or on the event loop (loop)",
    arg: "WHERE",
    parse: parse.oneOf("thread", "loop"),
  },
  logCheckEvery: {
    help: "How often to check the log file was not deleted, moved, truncated or replaced (SIGHUP: at once)",
    arg: "DURATION",
    parse: parse.positiveDuration,
  },
  logMaxBytes: {
    help: "Rotate the log past this size (k, M, G), to <log>.1, .2 … as logrotate names them, or off",
    arg: "SIZE",
    parse: parseByteSize,
    format: formatByteSize,
  },
  logKeep: {
    help: "Rotated log files kept, or all (never one the checkpoint still needs is deleted)",
    arg: "N",
    parse: (text) => text === "all" ? Infinity : parse.integer(0, 1_000_000)(text),
    format: (value) => value === Infinity ? "all" : String(value),
  },
  httpMaxConnections: {
    help: "HTTP connections at once, more are closed (keep far below --max-connections)",
    arg: "N",
    parse: parse.integer(1, 100_000),
  },
  httpHeaderTimeout: {
    help: "Close an HTTP connection whose request headers take this long",
    arg: "DURATION",
    parse: parse.duration,
  },
  httpIdleTimeout: {
    help: "Close an HTTP keep-alive connection with no request this long",
    arg: "DURATION",
    parse: parse.duration,
  },
  store: {
    help: "Where the total and dedupe state live: embedded, or redis://HOST:PORT[/DB] shared by several primaries",
    arg: "URL",
    parse: storeUrl,
  },
  primaryId: {
    help: "With Redis: this primary's journal name, stable across restarts, unique per Redis (default HOST:PORT)",
    arg: "ID",
    parse: primaryIdText,
  },
  allowVolatileStore: { help: "With Redis: accept a Redis that keeps nothing on disk (a Redis restart loses all)" },
  redisTimeout: {
    help: "With Redis: a command without answer this long fails (answered 1 storage error)",
    arg: "DURATION",
    parse: parse.positiveDuration,
  },
  redisLease: {
    help: "With Redis: this primary's claim on its id lasts this long unless renewed",
    arg: "DURATION",
    parse: parse.positiveDuration,
  },
  redisInFlight: {
    help: "With Redis: batches whose commits may be outstanding at once (logs and answers stay in order)",
    arg: "N",
    parse: parse.integer(1, 64),
  },
  adoptRedisStore: {
    help: "With Redis: after checking it, accept a Redis that lost its data or went backwards " +
      "(new identity, total raised to this log's last), then exit",
  },
};

/**
 * True for names that claim to be loopback. A claim only: `127.lan` may
 * resolve anywhere, so the address it resolves to is judged too (see
 * isLoopbackAddress); a name failing this is refused without a lookup.
 */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host.startsWith("127.") || host === "::1" || host === "[::1]";
}

/** True for an IP address only this machine can reach: 127.0.0.0/8, ::1, or 127.x mapped into IPv6. */
export function isLoopbackAddress(address: string): boolean {
  const ip = address.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (ip === "::1" || ip === "0:0:0:0:0:0:0:1") return true;
  return /^(?:::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip);
}

/**
 * The address a listener on `host:port` binds, as the system resolves the
 * name (getaddrinfo, /etc/hosts included), found by binding it for a moment:
 * it needs no grant beyond the one to listen there, and judges the very
 * address Deno.listen picks. Undefined when it cannot bind now (port in use,
 * say): the listen itself then reports that.
 */
export function probeListenAddress(host: string, port: number): string | undefined {
  try {
    const listener = Deno.listen({ hostname: host, port, transport: "tcp" });
    const { hostname } = listener.addr;
    listener.close();
    return hostname;
  } catch {
    return undefined;
  }
}
