/**
 * The embedded backend's defaults, each defined once: its classes and the
 * primary's flags import them from here, a module light enough for the flag
 * table to load without SQLite.
 */
/** fsync mode: where the log's sync runs (see EMBEDDED_DEFAULTS.syncOn). */
export type SyncOn = "loop" | "thread";

export const EMBEDDED_DEFAULTS = {
  /** fsync mode: the longest a batch waits for the connections known to be sending (ms). */
  commitDelay: 1,
  /**
   * fsync mode: where the log's sync runs. `thread`: on a blocking thread,
   * batches written behind it (pipelined); `loop`: on the event loop, nothing
   * written meanwhile. `loop` measured better at 1×1 and 10×1 and alike at 50×1
   * (docs/performance.md, "Pipelined syncs"); `thread` better only at 50×32.
   */
  syncOn: "loop" as SyncOn,
  /** Longest time between checkpoints while the log grows (ms). */
  checkpointEvery: 5000,
  /** Most log bytes between checkpoints. */
  checkpointBytes: 8 << 20,
} as const;
