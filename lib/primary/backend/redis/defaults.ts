/**
 * The Redis backend's defaults, each defined once: its classes and the
 * primary's flags import them from here, a module light enough for the flag
 * table to load without the Redis client.
 */
export const REDIS_DEFAULTS = {
  /** Prepended to every key (the braces are a Cluster hash tag: every key on one slot). */
  keyPrefix: "{likes}:",
  /** Applied seqs remembered per producer for `duplicate` answers. */
  window: 64,
  /** A command (or connect) without answer for this long fails (ms). */
  timeout: 2000,
  /** How long a primary's claim on its id lasts unless renewed (ms). */
  lease: 5000,
  /** Batches whose commits may be outstanding at once. */
  inFlight: 2,
} as const;
