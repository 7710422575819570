/**
 * What the server, the log watch and the timers need of a committer,
 * whichever store it commits to: the embedded one (Committer) or Redis
 * (RedisCommitter).
 */
import type { Entry } from "./embedded/committer.ts";

export interface CommitPath {
  /** Queues a chunk's messages; resolves with their replies, one line each, in order (bytes: read, never write). */
  submit(entries: Entry[]): Promise<Uint8Array>;
  /** Resolves when everything submitted so far has been answered. */
  drained(): Promise<void>;
  /** Runs `fn` when no batch is in flight (now, if none is). */
  betweenBatches(fn: () => void): void;
  /** While `reason` is set, likes are answered `1 storage error` and nothing is written. */
  refuse(reason: string | undefined): void;
  /**
   * Writes an event line to the log.
   *
   * @throws {Error} When the log cannot be written
   */
  event(text: string): void;
}
