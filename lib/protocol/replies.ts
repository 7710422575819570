/**
 * The primary's replies, one line each: `0` and its variants for a message
 * counted (or known), `1 <reason>` for one refused. The primary encodes its
 * replies from this table and the sender classifies them by it: whether
 * sending the very same message (same producer and seq) again may succeed.
 *
 * Retryable (transient: nothing was counted, and the cause may pass):
 *   storage error          the batch's log write or commit failed and was rolled back
 *   too many connections   the primary was full when we connected (or, not yet authenticated,
 *                          we made room for a newer connection); it closes the connection
 *   authentication timeout we did not authenticate within --auth-timeout; it closes the connection
 *   too many producers     a new producer while the primary's dedupe table is full of live
 *                          ones; room comes as producers go unseen for --producer-ttl
 *   too many new producers its address started more new producers than --new-producer-rate
 *
 * Final (the same message gets the same answer however often it is sent):
 *   out of order           the primary has applied a higher seq of this producer and this
 *                          one is outside its dedupe window; what it knows of a producer
 *                          only grows, so a retry cannot change the answer. A LikesServer
 *                          waits for each reply before its next seq, so it meets this only
 *                          when someone else uses its producer id.
 *   seq reused with other likes
 *                          the producer's highest counted seq again, with another count: the
 *                          like counted under that seq is not this one, and this one never will be
 *   bad token, authentication required, line too long, and every parse error
 *                          (likes above maximum, bad producer id, ...): the line itself is wrong
 *
 * Unknown reasons count as final: retrying a message the primary refuses for
 * a reason we do not know could repeat forever within the budget for nothing.
 */

/** The fixed reasons of `1 <reason>` replies, and whether each is worth a retry. */
export const REASONS = {
  storageError: { text: "storage error", retryable: true },
  tooManyConnections: { text: "too many connections", retryable: true },
  tooManyProducers: { text: "too many producers", retryable: true },
  tooManyNewProducers: { text: "too many new producers", retryable: true },
  authenticationTimeout: { text: "authentication timeout", retryable: true },
  outOfOrder: { text: "out of order", retryable: false },
  seqReused: { text: "seq reused with other likes", retryable: false },
  badToken: { text: "bad token", retryable: false },
  authenticationRequired: { text: "authentication required", retryable: false },
  lineTooLong: { text: "line too long", retryable: false },
  incomplete: { text: "incomplete", retryable: false },
} as const satisfies Record<string, { text: string; retryable: boolean }>;

/** The reply `1 <reason>`, without its newline. */
export function rejection(reason: string): string {
  return `1 ${reason}`;
}

/** Every fixed reply, without its newline. */
export const REPLIES = {
  accepted: "0",
  duplicate: "0 duplicate",
  authenticated: "0 authenticated",
  storageError: rejection(REASONS.storageError.text),
  tooManyConnections: rejection(REASONS.tooManyConnections.text),
  outOfOrder: rejection(REASONS.outOfOrder.text),
} as const;

/** Reasons worth retrying with the same producer and seq. */
export const RETRYABLE_REASONS: ReadonlySet<string> = new Set(
  Object.values(REASONS).filter((reason) => reason.retryable).map((reason) => reason.text),
);

/** True when the reply `1 <reason>` is transient, so the same message may be sent again. */
export function isRetryable(reason: string): boolean {
  return RETRYABLE_REASONS.has(reason);
}

/** The reason of a `1 <reason>` reply, or undefined for any other reply. */
export function rejectionReason(reply: string): string | undefined {
  return reply.startsWith("1 ") ? reply.slice(2) : undefined;
}
