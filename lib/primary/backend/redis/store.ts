/**
 * The shared state in Redis, for several primaries counting one exact total:
 * each batch commits in one round trip (COMMIT_SCRIPT by EVALSHA, EVAL when
 * Redis has lost its script cache), doing the dedupe, one INCRBY of the
 * shared total, and an entry in this primary's journal.
 *
 * Keys, under a prefix (default `{likes}:`; the braces are a Cluster hash tag
 * that keeps every key in one slot, as a script needs):
 *   <prefix>total               string: the shared total
 *   <prefix>producer:<id>       string: the producer's highest applied seq and which of the W seqs up to it were
 *                               applied ("<highest> <W characters 0/1>"); expires after the producer TTL
 *   <prefix>journal:<primary>   stream: one entry per batch this primary committed and has not confirmed as logged
 *
 * The journal is what lets a primary's own log hold every like it committed
 * even when it dies between the Redis commit and its log write: at start-up
 * it writes the entries past the last one its log records, then confirms
 * them (trimJournal, or `loggedUpTo` on the next commit), which deletes them.
 *
 * Durability: Redis is the commit point. `--durability fsync` requires
 * `appendonly yes` with `appendfsync always`, so that a batch is on Redis's
 * disk before its reply (Redis fsyncs the AOF before answering in that mode).
 * WAIT for a replica was not chosen: it needs a replica to run at all, and
 * the ack means "in another machine's memory", not "on disk".
 */
import { createClient } from "@redis/client";
import type { Like } from "../../../protocol/message.ts";
import { DEFAULT_DURABILITY, DEFAULT_PRODUCER_TTL, type Durability, StoreError } from "../backend.ts";
import { COMMIT_SCRIPT } from "./script.ts";
import { type JournalLike, type Outcome, packBatch, parseJournalEntry, readOutcomes } from "./batch.ts";
import { parseRedisUrl } from "./url.ts";
import { REDIS_DEFAULTS } from "./defaults.ts";

// Kept here too: the store's callers know parseRedisUrl from this module.
export { parseRedisUrl, type RedisAddress } from "./url.ts";

/**
 * Redis cannot be reached, timed out, or refused a command. Retryable: the
 * caller answers `1 storage error`. A commit that failed this way may still
 * have been applied in Redis (the reply was lost): the caller drains the
 * journal before logging anything else (see readJournal).
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

export type { JournalLike, Outcome } from "./batch.ts";

/** The persistence settings of a Redis server, as CONFIG GET returns them. */
export interface RedisPersistence {
  appendonly: string;
  appendfsync: string;
  /** RDB snapshot rules; "" when snapshots are off. */
  save: string;
}

/**
 * Why a Redis with these settings cannot back a primary, or undefined when it
 * can: with no AOF and no RDB a restart of Redis loses every like (allowed only
 * with `allowVolatile`), and fsync durability needs every write fsynced.
 */
export function persistenceProblem(
  config: RedisPersistence,
  durability: Durability,
  allowVolatile: boolean,
): string | undefined {
  const aof = config.appendonly === "yes";
  if (durability === "fsync" && !(aof && config.appendfsync === "always")) {
    return `durability fsync needs Redis with appendonly yes and appendfsync always, got appendonly ${config.appendonly}, appendfsync ${config.appendfsync}`;
  }
  if (!aof && config.save.trim() === "" && !allowVolatile) {
    return `Redis keeps nothing on disk (appendonly no, save ""), so a Redis restart would lose the total: enable appendonly, or allow a volatile store`;
  }
  return undefined;
}

export interface RedisStoreOptions {
  /** `redis://HOST:PORT[/DB]`. */
  url: string;
  /** Names this primary's journal: stable across its restarts, unique among the primaries sharing the Redis. */
  primaryId: string;
  /** Prepended to every key. @default {REDIS_DEFAULTS.keyPrefix} */
  keyPrefix?: string;
  /** Applied seqs remembered per producer for `duplicate` answers. @default {REDIS_DEFAULTS.window} */
  window?: number;
  /** A producer's dedupe state expires this long after it was last heard from (ms); 0 for never. @default {DEFAULT_PRODUCER_TTL} */
  producerTtlMs?: number;
  /** @default {"normal"} */
  durability?: Durability;
  /** Accept a Redis that keeps nothing on disk. @default {false} */
  allowVolatile?: boolean;
  /** A command without reply for this long fails (ms). @default {REDIS_DEFAULTS.timeout} */
  commandTimeoutMs?: number;
  /** Connecting gives up after this long (ms). @default {REDIS_DEFAULTS.timeout} */
  connectTimeoutMs?: number;
}

/** What one commit did. */
export interface CommitResult {
  /** The journal entry of this batch; "" for an empty batch. */
  journalId: string;
  /** Per like, in order. */
  outcomes: Outcome[];
  /** The shared total right after each like. */
  totals: number[];
}

/** One committed batch from the journal. */
export interface JournalBatch {
  id: string;
  /** The batch time (ms since the epoch). */
  time: number;
  likes: JournalLike[];
}

const JOURNAL_PAGE = 1000;

const RENEW_CLAIM = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

const RELEASE_CLAIM = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0`;

function newClient(
  options: { host: string; port: number; db: number; commandTimeoutMs: number; connectTimeoutMs: number },
) {
  // Once connected, keep reconnecting in the background so that service
  // resumes when Redis is back; before that, a refused connection fails open().
  let everReady = false;
  const client = createClient({
    socket: {
      host: options.host,
      port: options.port,
      connectTimeout: options.connectTimeoutMs,
      reconnectStrategy: (retries: number, cause: Error) => everReady ? Math.min((retries + 1) * 100, 1000) : cause,
    },
    database: options.db,
    // RESP2: replies come as plain arrays (CONFIG GET as [name, value], not a map).
    RESP: 2,
    // Redis Enterprise's maintenance push messages: off, and with them the
    // client's only environment read (REDIS_DEBUG_MAINTENANCE), so that the
    // store needs no --allow-env.
    maintNotifications: "disabled",
    // Fail fast: a batch sent while Redis is away fails at once and its
    // clients hear `1 storage error`, instead of queueing behind a dead link.
    disableOfflineQueue: true,
    commandOptions: { timeout: options.commandTimeoutMs },
  });
  client.on("ready", () => everReady = true);
  // Errors reach the callers of each command; without a listener the client throws them as uncaught.
  client.on("error", () => {});
  return client;
}

type RedisClient = ReturnType<typeof newClient>;
type Reply = string | number | null | Reply[];
const SAFE_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * Reads the shared total from `redis://HOST:PORT[/DB]` without opening a
 * store (no persistence check, no script, no journal): for the audit.
 *
 * @throws {RangeError} On a bad URL
 * @throws {StoreUnavailableError} When Redis cannot be reached or does not answer in time
 * @throws {Error} When the key holds something other than an integer
 */
export async function readRedisTotal(
  url: string,
  options: { keyPrefix?: string; timeoutMs?: number } = {},
): Promise<number> {
  const { keyPrefix = REDIS_DEFAULTS.keyPrefix, timeoutMs = REDIS_DEFAULTS.timeout } = options;
  const { host, port, db } = parseRedisUrl(url);
  const client = newClient({ host, port, db, commandTimeoutMs: timeoutMs, connectTimeoutMs: timeoutMs });
  let value: Reply;
  try {
    await client.connect();
    value = await client.sendCommand<Reply>(["GET", `${keyPrefix}total`]);
  } catch (error) {
    throw new StoreUnavailableError(`Cannot read the total from Redis ${url}: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    client.destroy();
  }
  if (value === null) return 0;
  const total = Number(value);
  if (typeof value !== "string" || !/^\d+$/.test(value) || !Number.isSafeInteger(total)) {
    throw new Error(`Cannot read the total from Redis ${url}: ${keyPrefix}total holds ${JSON.stringify(value)}`);
  }
  return total;
}

/** The shared total, dedupe state and this primary's journal, in Redis. */
export class RedisStore {
  readonly url: string;
  readonly primaryId: string;
  readonly #client: RedisClient;
  readonly #keys: { total: string; journal: string; producer: string };
  readonly #window: number;
  readonly #ttl: number;
  readonly #claimKey: string;
  #sha = "";

  private constructor(url: string, primaryId: string, client: RedisClient, options: Required<RedisStoreOptions>) {
    this.url = url;
    this.primaryId = primaryId;
    this.#client = client;
    const prefix = options.keyPrefix;
    this.#keys = { total: `${prefix}total`, journal: `${prefix}journal:${primaryId}`, producer: `${prefix}producer:` };
    this.#window = options.window;
    this.#ttl = options.producerTtlMs;
    this.#claimKey = `${prefix}claim:${primaryId}`;
  }

  /**
   * Connects, checks that Redis persists what it is given (see
   * persistenceProblem), and loads the commit script.
   *
   * @throws {RangeError} On bad options
   * @throws {StoreUnavailableError} When Redis cannot be reached or does not answer in time
   * @throws {StoreError} When Redis's persistence does not fit the durability asked for
   */
  static async open(options: RedisStoreOptions): Promise<RedisStore> {
    const {
      url,
      primaryId,
      keyPrefix = REDIS_DEFAULTS.keyPrefix,
      window = REDIS_DEFAULTS.window,
      producerTtlMs = DEFAULT_PRODUCER_TTL,
      durability = DEFAULT_DURABILITY,
      allowVolatile = false,
      commandTimeoutMs = REDIS_DEFAULTS.timeout,
      connectTimeoutMs = REDIS_DEFAULTS.timeout,
    } = options;
    const { host, port, db } = parseRedisUrl(url);
    if (!SAFE_ID.test(primaryId)) {
      throw new RangeError(
        `Cannot open the Redis store: the primary id must be 1-128 printable ASCII characters without spaces, got ${
          JSON.stringify(primaryId)
        }`,
      );
    }
    for (
      const [name, value, min] of [["window", window, 1], ["producerTtlMs", producerTtlMs, 0], [
        "commandTimeoutMs",
        commandTimeoutMs,
        1,
      ], ["connectTimeoutMs", connectTimeoutMs, 1]] as const
    ) {
      if (!Number.isSafeInteger(value) || value < min) {
        throw new RangeError(`Cannot open the Redis store: ${name} must be an integer >= ${min}, got ${value}`);
      }
    }
    const client = newClient({ host, port, db, commandTimeoutMs, connectTimeoutMs });
    const store = new RedisStore(url, primaryId, client, {
      url,
      primaryId,
      keyPrefix,
      window,
      producerTtlMs,
      durability,
      allowVolatile,
      commandTimeoutMs,
      connectTimeoutMs,
    });
    try {
      await store.#call("connect", () => client.connect());
      const setting = async (name: string) => {
        const reply = await store.#send("CONFIG GET", ["CONFIG", "GET", name]) as string[];
        return reply[1] ?? "";
      };
      const persistence = {
        appendonly: await setting("appendonly"),
        appendfsync: await setting("appendfsync"),
        save: await setting("save"),
      };
      const problem = persistenceProblem(persistence, durability, allowVolatile);
      if (problem) throw new StoreError(`Cannot use the Redis store ${url}: ${problem}`);
      store.#sha = await store.#send("SCRIPT LOAD", ["SCRIPT", "LOAD", COMMIT_SCRIPT]) as string;
    } catch (error) {
      client.destroy();
      throw error;
    }
    return store;
  }

  /** Whether the connection to Redis is up now (for /healthz). */
  get connected(): boolean {
    return this.#client.isReady;
  }

  #send(what: string, args: (string | number)[]): Promise<Reply> {
    return this.#call(what, () => this.#client.sendCommand<Reply>(args.map(String)));
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof StoreError || error instanceof RangeError) throw error;
      throw new StoreUnavailableError(`Redis store ${this.url} failed (${what}): ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /**
   * Commits a batch in one round trip. Nothing of it is applied when this
   * throws a RangeError; after a StoreUnavailableError it may or may not be.
   *
   * @param loggedUpTo The journal id this primary's log holds everything up to: deleted with older entries
   * @throws {RangeError} On a like Redis could not store exactly
   * @throws {StoreUnavailableError} When Redis is unreachable, slow or refuses the script
   */
  async commit(likes: readonly Like[], now = Date.now(), loggedUpTo = ""): Promise<CommitResult> {
    for (const like of likes) {
      if (!Number.isSafeInteger(like.likes) || like.likes < 0) {
        throw new RangeError(`Cannot commit to Redis: likes must be a non-negative integer, got ${like.likes}`);
      }
      if (!Number.isSafeInteger(like.server) || like.server < 0) {
        throw new RangeError(`Cannot commit to Redis: server must be a non-negative integer, got ${like.server}`);
      }
      if (like.producer === undefined || like.seq === undefined) continue;
      if (!Number.isSafeInteger(like.seq) || like.seq < 0 || !SAFE_ID.test(like.producer)) {
        throw new RangeError(
          `Cannot commit to Redis: bad producer or seq: ${JSON.stringify(like.producer)} ${like.seq}`,
        );
      }
    }
    const batch = packBatch(likes);
    const keys = [this.#keys.total, this.#keys.journal, ...batch.producers.map((id) => this.#keys.producer + id)];
    const tail = [
      String(keys.length),
      ...keys,
      String(now),
      String(this.#window),
      String(this.#ttl),
      loggedUpTo,
      batch.runs,
      batch.likes,
      batch.producers.join(" "),
    ];
    const reply = await this.#call("commit", async () => {
      try {
        return await this.#client.sendCommand<Reply>(["EVALSHA", this.#sha, ...tail]);
      } catch (error) {
        // A restarted Redis (or SCRIPT FLUSH) has forgotten the script: EVAL loads it again.
        if (!String((error as Error).message).startsWith("NOSCRIPT")) throw error;
        return await this.#client.sendCommand<Reply>(["EVAL", COMMIT_SCRIPT, ...tail]);
      }
    }) as string[];
    if (likes.length === 0) return { journalId: reply[0], outcomes: [], totals: [] };
    let read;
    try {
      read = readOutcomes(likes, batch.outcomeAt, Number(reply[1]), reply[2]);
    } catch (error) {
      // Applied in Redis, but this answer cannot be trusted: the journal holds the batch.
      throw new StoreUnavailableError(
        `Redis store ${this.url} gave an unreadable commit reply: ${(error as Error).message}`,
      );
    }
    return { journalId: reply[0], ...read };
  }

  /** The shared total now. @throws {StoreUnavailableError} */
  async total(): Promise<number> {
    const value = await this.#send("GET total", ["GET", this.#keys.total]);
    return value === null ? 0 : Number(value);
  }

  /**
   * This primary's journal entries after `afterId` ("" for all), oldest first:
   * batches committed in Redis that its log may not hold yet.
   *
   * @throws {StoreUnavailableError}
   * @throws {Error} On an entry that is not of the journal's form
   */
  async readJournal(afterId = ""): Promise<JournalBatch[]> {
    const batches: JournalBatch[] = [];
    let start = afterId === "" ? "-" : `(${afterId}`;
    while (true) {
      const page = await this.#send("XRANGE journal", [
        "XRANGE",
        this.#keys.journal,
        start,
        "+",
        "COUNT",
        JOURNAL_PAGE,
      ]) as [
        string,
        string[],
      ][];
      for (const [id, fields] of page) {
        const field = (name: string) => {
          const at = fields.indexOf(name);
          return at === -1 || at % 2 === 1 ? "" : fields[at + 1];
        };
        const entry = parseJournalEntry({ t: field("t"), b: field("b"), p: field("p"), l: field("l"), o: field("o") });
        batches.push({ id, ...entry });
      }
      if (page.length < JOURNAL_PAGE) return batches;
      start = `(${page[page.length - 1][0]}`;
    }
  }

  /**
   * Deletes journal entries up to and including `id`, once the log holds them.
   *
   * @throws {StoreUnavailableError}
   */
  async trimJournal(id: string): Promise<void> {
    await this.#call(
      "trim journal",
      () =>
        this.#client.multi().addCommand(["XTRIM", this.#keys.journal, "MINID", id]).addCommand([
          "XDEL",
          this.#keys.journal,
          id,
        ]).exec(),
    );
  }

  /**
   * Claims this primary's id for `leaseMs`, unless another holder's claim is
   * live: two live primaries with one id would drain each other's journal.
   *
   * @param token Unique to this process
   * @returns Whether the claim is now `token`'s
   * @throws {StoreUnavailableError}
   */
  async claim(token: string, leaseMs: number): Promise<boolean> {
    const reply = await this.#send("claim", ["SET", this.#claimKey, token, "NX", "PX", leaseMs]);
    return reply === "OK";
  }

  /**
   * Extends the claim if it is still `token`'s, or takes it again if it
   * lapsed meanwhile (Redis was away longer than the lease, say).
   *
   * @returns Whether the claim is `token`'s; false when another process holds it
   * @throws {StoreUnavailableError}
   */
  async renewClaim(token: string, leaseMs: number): Promise<boolean> {
    const reply = await this.#send("renew claim", ["EVAL", RENEW_CLAIM, 1, this.#claimKey, token, leaseMs]);
    return reply === 1;
  }

  /** Ends the claim if it is `token`'s, so that a restart need not wait it out. @throws {StoreUnavailableError} */
  async releaseClaim(token: string): Promise<void> {
    await this.#send("release claim", ["EVAL", RELEASE_CLAIM, 1, this.#claimKey, token]);
  }

  /** Closes the connection (pending commands fail). */
  close(): void {
    this.#client.destroy();
  }
}
