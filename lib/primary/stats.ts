/**
 * Live statistics of the primary, for the dashboard and /metrics. Counters
 * since the process started; the total itself comes from the ledger. Nothing
 * here is durable and nothing here decides what is counted.
 */

export interface ServerStats {
  likes: number;
  messages: number;
  duplicates: number;
  /** Milliseconds since the epoch of the last message, 0 if none. */
  lastSeen: number;
  /** Open connections that have sent as this server. */
  connections: number;
}

/** Upper bounds (ms) of the commit latency histogram buckets. */
export const COMMIT_BUCKETS_MS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000];

/** Seconds of per-second history kept for the chart. */
export const HISTORY_SECONDS = 600;

export class Stats {
  readonly startedAt: number;
  accepted = 0;
  duplicates = 0;
  invalid = 0;
  failed = 0;
  /** Unfinished messages dropped when their connection ended (also counted in `invalid`). */
  incomplete = 0;
  /** Bytes dropped as seed-era buffer padding (after a NUL, until the client's next message). */
  paddingBytes = 0;
  connectionsOpen = 0;
  connectionsTotal = 0;
  connectionsRefused = 0;
  /** New producers refused because the dedupe table was full of live ones (also counted in `failed`). */
  producersRefused = 0;
  /** New producers refused over their address's --new-producer-rate (also counted in `failed`). */
  newProducersLimited = 0;
  /** Likes refused as their producer's highest seq with another count (also counted in `failed`). */
  seqReused = 0;
  readonly servers = new Map<number, ServerStats>();
  /** Batches written while a sync of the log ran (fsync mode, pipelined: --sync-on thread). */
  writtenBehindSync = 0;
  readonly commitBuckets: number[] = COMMIT_BUCKETS_MS.map(() => 0);
  commitCount = 0;
  commitSumMs = 0;
  // Ring of likes accepted per wall-clock second.
  readonly #history = new Float64Array(HISTORY_SECONDS);
  #historySecond: number;

  constructor(now = Date.now()) {
    this.startedAt = now;
    this.#historySecond = Math.floor(now / 1000);
  }

  server(id: number): ServerStats {
    let s = this.servers.get(id);
    if (!s) {
      s = { likes: 0, messages: 0, duplicates: 0, lastSeen: 0, connections: 0 };
      this.servers.set(id, s);
    }
    return s;
  }

  recordLike(server: number, likes: number, duplicate: boolean, now: number): void {
    const s = this.server(server);
    s.messages++;
    s.lastSeen = now;
    if (duplicate) {
      s.duplicates++;
      this.duplicates++;
      return;
    }
    s.likes += likes;
    this.accepted++;
    this.#advance(now);
    this.#history[this.#historySecond % HISTORY_SECONDS] += likes;
  }

  recordCommit(ms: number): void {
    this.commitCount++;
    this.commitSumMs += ms;
    for (let i = 0; i < COMMIT_BUCKETS_MS.length; i++) {
      if (ms <= COMMIT_BUCKETS_MS[i]) {
        this.commitBuckets[i]++;
        return;
      }
    }
  }

  /** Likes per second for the last `seconds` whole seconds, oldest first. */
  history(now: number, seconds = HISTORY_SECONDS): { start: number; likes: number[] } {
    this.#advance(now);
    const n = Math.min(seconds, HISTORY_SECONDS);
    const likes: number[] = [];
    for (let i = n - 1; i >= 0; i--) {
      likes.push(this.#history[(this.#historySecond - i + HISTORY_SECONDS) % HISTORY_SECONDS]);
    }
    return { start: this.#historySecond - n + 1, likes };
  }

  // Zeroes the slots of seconds that passed without likes.
  #advance(now: number): void {
    const second = Math.floor(now / 1000);
    if (second <= this.#historySecond) return;
    const gap = Math.min(second - this.#historySecond, HISTORY_SECONDS);
    for (let i = 1; i <= gap; i++) this.#history[(this.#historySecond + i) % HISTORY_SECONDS] = 0;
    this.#historySecond = second;
  }
}
