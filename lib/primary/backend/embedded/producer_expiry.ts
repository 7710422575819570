/**
 * Keeps the dedupe state bounded in time: producers not heard from for the
 * TTL are forgotten, at start-up and then hourly. The next checkpoint forgets
 * them too; a replay of the whole log brings them back until the next expiry,
 * which is harmless (more dedupe state, never less).
 */
import type { Committer } from "./committer.ts";
import type { Ledger } from "../../ledger.ts";

/** How often a running primary expires producers (ms). */
export const EXPIRY_INTERVAL = 3_600_000;

/** Forgets producers unseen for `ttl` ms; returns how many. Call between batches. */
export function expireProducers(ledger: Ledger, ttl: number, now = Date.now()): number {
  return ledger.expire(now - ttl).length;
}

/** Expires producers every EXPIRY_INTERVAL, between batches, until the returned function is called. */
export function scheduleExpiry(committer: Committer, ledger: Ledger, ttl: number): () => void {
  const timer = setInterval(() => committer.betweenBatches(() => expireProducers(ledger, ttl)), EXPIRY_INTERVAL);
  return () => clearInterval(timer);
}
