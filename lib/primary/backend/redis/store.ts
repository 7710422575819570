/**
 * The shared state in Redis, for several primaries counting one exact total:
 * each batch commits in one round trip (COMMIT_SCRIPT by EVALSHA, EVAL when
 * Redis has lost its script cache), doing the dedupe, one INCRBY of the
 * shared total, and an entry in this primary's journal.
 *
 * Keys, under a prefix (default `{likes}:`; the braces are a Cluster hash tag
 * that keeps every key in one slot, as a script needs):
 *   <prefix>total               string: the shared total
 *   <prefix>producer:<id>       string: the producer's highest applied seq, which of the W seqs up to it were
 *                               applied, and the likes of the highest ("<highest> <W characters 0/1> <likes>";
 *                               without the likes when written before they were kept); expires after the producer TTL
 *   <prefix>journal:<primary>   stream: one entry per batch this primary committed and has not confirmed as logged
 *   <prefix>identity            string: a random id written once, when the store is first used (or adopted)
 *   <prefix>claim:<primary>     string: the token of the process holding the id, with a lease (claim.ts)
 *   <prefix>epoch:<primary>     string: how many times the id was claimed (the fencing count)
 *
 * Every script that writes for a primary first checks, in the same atomic
 * step, that the identity is the one it opened the store with, that it still
 * holds its claim, and that the total is not below the last it saw (GUARD in
 * script.ts): a Redis that lost its data, a primary fenced by another with its
 * id, a Redis restored from an older copy are refused (StoreRefusedError),
 * never counted into. The persistence settings are checked again on every
 * reconnect and every poll (verify).
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
import { COMMIT_SCRIPT, JOURNAL_SCRIPT, VERIFY_SCRIPT } from "./script.ts";
import { type JournalLike, type Outcome, packBatch, parseJournalEntry, readOutcomes } from "./batch.ts";
import { parseRedisUrl } from "./url.ts";
import { escapeText } from "../../../common/escape.ts";
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

/** Why a store that answers must not be written to: see StoreRefusedError. */
export type Refusal = "identity" | "fenced" | "behind" | "persistence";

/**
 * Redis answered, but this primary must not count into it: it lost its
 * identity (emptied, or another store), another process holds this
 * primary's id, its total went below what this primary saw, or it no longer
 * persists as the durability mode needs. Nothing of the batch was applied.
 * Answered `1 storage error` like an outage, but never retried into the store
 * on its own: `identity` and `behind` need the operator (--adopt-redis-store).
 */
export class StoreRefusedError extends Error {
  readonly refusal: Refusal;
  constructor(refusal: Refusal, message: string) {
    super(message);
    this.name = "StoreRefusedError";
    this.refusal = refusal;
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
  /**
   * Give a Redis that holds no likes yet (no identity, no total) its identity.
   * False where the caller has counted on a store before: an empty Redis is
   * then one that lost its data, and `identity` stays undefined. @default {true}
   */
  createIdentity?: boolean;
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

// A claim counts itself in the epoch key: a holder whose claim lapsed takes
// it again only while nobody else claimed the id meanwhile.
const TAKE_CLAIM = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return epoch`;

const RENEW_CLAIM = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if holder or redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

const CREATE_IDENTITY = `
local identity = redis.call('GET', KEYS[1])
if identity then return identity end
if redis.call('EXISTS', KEYS[2]) == 1 then return false end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]`;

const ADOPT = `
local identity = redis.call('GET', KEYS[1])
local created = 0
if not identity then
  identity = ARGV[1]
  created = 1
  redis.call('SET', KEYS[1], identity)
end
local before = redis.call('GET', KEYS[2]) or '0'
local after = before
if tonumber(before) < tonumber(ARGV[2]) then
  after = ARGV[2]
  redis.call('SET', KEYS[2], after)
end
return { identity, created, before, after }`;

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
  readonly #keys: { total: string; journal: string; producer: string; identity: string; epoch: string };
  readonly #window: number;
  readonly #ttl: number;
  readonly #claimKey: string;
  readonly #durability: Durability;
  readonly #allowVolatile: boolean;
  #sha = "";
  #identity: string | undefined;
  /** The claim this process holds: its token, the epoch it took it at, and its lease. */
  #claim = { token: "", epoch: "", lease: "1" };
  /** Why Redis's persistence does not fit the durability mode, as last checked. */
  #persistence: string | undefined;
  /** The check after a reconnect, while it runs: commits wait for it. */
  #checking: Promise<void> | undefined;

  private constructor(url: string, primaryId: string, client: RedisClient, options: Required<RedisStoreOptions>) {
    this.url = url;
    this.primaryId = primaryId;
    this.#client = client;
    const prefix = options.keyPrefix;
    this.#keys = {
      total: `${prefix}total`,
      journal: `${prefix}journal:${primaryId}`,
      producer: `${prefix}producer:`,
      identity: "",
      epoch: "",
    };
    this.#window = options.window;
    this.#ttl = options.producerTtlMs;
    this.#claimKey = `${prefix}claim:${primaryId}`;
    this.#keys.identity = `${prefix}identity`;
    this.#keys.epoch = `${prefix}epoch:${primaryId}`;
    this.#durability = options.durability;
    this.#allowVolatile = options.allowVolatile;
    let opened = false;
    // A reconnect may reach a Redis restarted with other settings: its
    // CONFIG GETs go out first on the new connection, and commits wait for them.
    client.on("ready", () => {
      if (!opened) return void (opened = true);
      this.#checking = this.checkPersistence().catch(() => {}).finally(() => this.#checking = undefined);
    });
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
      createIdentity = true,
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
      createIdentity,
    });
    try {
      await store.#call("connect", () => client.connect());
      await store.checkPersistence();
      if (store.#persistence) throw new StoreError(`Cannot use the Redis store ${url}: ${store.#persistence}`);
      store.#sha = await store.#send("SCRIPT LOAD", ["SCRIPT", "LOAD", COMMIT_SCRIPT]) as string;
      const identity = createIdentity
        ? await store.#send("create identity", [
          "EVAL",
          CREATE_IDENTITY,
          2,
          store.#keys.identity,
          store.#keys.total,
          crypto.randomUUID(),
        ])
        : await store.#send("GET identity", ["GET", store.#keys.identity]);
      store.#identity = typeof identity === "string" ? identity : undefined;
    } catch (error) {
      client.destroy();
      throw error;
    }
    return store;
  }

  /** The store's identity, undefined when Redis has none (it lost its data, or was never given one). */
  get identity(): string | undefined {
    return this.#identity;
  }

  /** The identity key's name, for messages. */
  get identityKey(): string {
    return this.#keys.identity;
  }

  /**
   * Reads Redis's persistence settings again; the result holds for the
   * commits after it (they are refused while it is a problem).
   *
   * @throws {StoreUnavailableError} When Redis does not answer (the settings then count as unchecked)
   */
  async checkPersistence(): Promise<void> {
    try {
      const setting = async (name: string) => {
        const reply = await this.#send("CONFIG GET", ["CONFIG", "GET", name]) as string[];
        return reply[1] ?? "";
      };
      const config = {
        appendonly: await setting("appendonly"),
        appendfsync: await setting("appendfsync"),
        save: await setting("save"),
      };
      this.#persistence = persistenceProblem(config, this.#durability, this.#allowVolatile);
    } catch (error) {
      this.#persistence = "its persistence settings could not be read after a reconnect";
      throw error;
    }
  }

  /**
   * Accepts Redis as it is, on the operator's word (--adopt-redis-store):
   * gives it an identity if it has none, and raises its total to `floor`
   * (the last total this primary's log recorded) if it is below.
   *
   * @throws {StoreUnavailableError}
   */
  async adopt(floor: number): Promise<{ identity: string; created: boolean; before: number; after: number }> {
    if (!Number.isSafeInteger(floor) || floor < 0) {
      throw new RangeError(`Cannot adopt the Redis store: floor must be a non-negative integer, got ${floor}`);
    }
    const [identity, created, before, after] = await this.#send("adopt", [
      "EVAL",
      ADOPT,
      2,
      this.#keys.identity,
      this.#keys.total,
      crypto.randomUUID(),
      floor,
    ]) as [string, number, string, string];
    this.#identity = identity;
    return { identity, created: created === 1, before: Number(before), after: Number(after) };
  }

  /** The guard's keys and arguments (see GUARD in script.ts), for `floor`. */
  #guard(floor: number): { keys: string[]; args: string[] } {
    const { token, epoch, lease } = this.#claim;
    return {
      keys: [this.#keys.identity, this.#claimKey, this.#keys.epoch],
      args: [this.#identity ?? "", token, epoch, lease, String(floor)],
    };
  }

  /** A script's refusal, in words; other errors as they are. */
  #refusal(error: unknown, floor: number): unknown {
    const message = String((error as Error)?.message);
    const match = /^LIKES_(IDENTITY|FENCED|BEHIND) (\S*)/.exec(message);
    if (!match) return error;
    const [, kind, text] = match;
    // What Redis held is outside data: plain when it has the form a primary writes, else escaped.
    const found = /^[\w-]+$/.test(text) ? text : escapeText(text);
    if (kind === "IDENTITY") {
      return new StoreRefusedError(
        "identity",
        `The Redis store ${this.url} lost its identity (${this.#keys.identity} is ${
          found === "none" ? "gone: Redis was emptied or lost its data" : `${found}, not ${this.#identity}`
        }), so its total cannot be trusted: refusing likes until the operator checks it and restarts the ` +
          `primaries with --adopt-redis-store`,
      );
    }
    if (kind === "FENCED") {
      return new StoreRefusedError(
        "fenced",
        `Another primary holds the id ${this.primaryId} on ${this.url} (it claimed it while this one was stopped ` +
          `or cut off past its lease): refusing likes`,
      );
    }
    return new StoreRefusedError(
      "behind",
      `The Redis store ${this.url} went backwards: its total ${found} is below the ${floor} this primary saw ` +
        `(restored from an older copy?): refusing likes until the operator checks it and restarts the primaries ` +
        `with --adopt-redis-store`,
    );
  }

  #persistenceRefusal(): StoreRefusedError {
    return new StoreRefusedError("persistence", `Cannot use the Redis store ${this.url}: ${this.#persistence}`);
  }

  /**
   * Checks what every commit's guard checks, and the persistence settings,
   * without writing: for the primary's poll, so that /healthz tells while no
   * likes arrive.
   *
   * @returns The shared total
   * @throws {StoreRefusedError} When a commit would be refused
   * @throws {StoreUnavailableError}
   */
  async verify(floor: number): Promise<number> {
    await this.checkPersistence();
    if (this.#persistence !== undefined) throw this.#persistenceRefusal();
    const { keys, args } = this.#guard(floor);
    const value = await this.#call(
      "verify",
      () => this.#client.sendCommand<Reply>(["EVAL", VERIFY_SCRIPT, "4", ...keys, this.#keys.total, ...args]),
      floor,
    );
    return value === null ? 0 : Number(value);
  }

  /** Whether the connection to Redis is up now (for /healthz). */
  get connected(): boolean {
    return this.#client.isReady;
  }

  #send(what: string, args: (string | number)[]): Promise<Reply> {
    return this.#call(what, () => this.#client.sendCommand<Reply>(args.map(String)));
  }

  async #call<T>(what: string, fn: () => Promise<T>, floor = 0): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof StoreError || error instanceof RangeError) throw error;
      const refused = this.#refusal(error, floor);
      if (refused !== error) throw refused;
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
  async commit(likes: readonly Like[], now = Date.now(), loggedUpTo = "", floor = 0): Promise<CommitResult> {
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
    // Only after a reconnect: the settings of the Redis reached are known before anything is counted in it.
    if (this.#checking !== undefined) await this.#checking;
    if (this.#persistence !== undefined) throw this.#persistenceRefusal();
    const batch = packBatch(likes);
    const guard = this.#guard(floor);
    const keys = [
      this.#keys.total,
      this.#keys.journal,
      ...batch.producers.map((id) => this.#keys.producer + id),
      ...guard.keys,
    ];
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
      ...guard.args,
    ];
    const reply = await this.#call("commit", async () => {
      try {
        return await this.#client.sendCommand<Reply>(["EVALSHA", this.#sha, ...tail]);
      } catch (error) {
        // A restarted Redis (or SCRIPT FLUSH) has forgotten the script: EVAL loads it again.
        if (!String((error as Error).message).startsWith("NOSCRIPT")) throw error;
        return await this.#client.sendCommand<Reply>(["EVAL", COMMIT_SCRIPT, ...tail]);
      }
    }, floor) as string[];
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
      const guard = this.#guard(0);
      const [identity, claim, epoch] = guard.keys;
      const [identityArg, token, epochArg, lease] = guard.args;
      const page = await this.#send("XRANGE journal", [
        "EVAL",
        JOURNAL_SCRIPT,
        5,
        identity,
        claim,
        epoch,
        this.#keys.total,
        this.#keys.journal,
        identityArg,
        token,
        epochArg,
        lease,
        start,
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
    const epoch = await this.#send("claim", ["EVAL", TAKE_CLAIM, 2, this.#claimKey, this.#keys.epoch, token, leaseMs]);
    if (epoch === 0) return false;
    this.#claim = { token, epoch: String(epoch), lease: String(leaseMs) };
    return true;
  }

  /**
   * Extends the claim if it is still `token`'s, or takes it again if it
   * lapsed meanwhile (Redis was away longer than the lease, say) and nobody
   * else claimed the id since.
   *
   * @returns Whether the claim is `token`'s; false when another process holds it
   * @throws {StoreUnavailableError}
   */
  async renewClaim(token: string, leaseMs: number): Promise<boolean> {
    const reply = await this.#send("renew claim", [
      "EVAL",
      RENEW_CLAIM,
      2,
      this.#claimKey,
      this.#keys.epoch,
      token,
      leaseMs,
      this.#claim.token === token ? this.#claim.epoch : "",
    ]);
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
