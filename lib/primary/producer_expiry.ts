/**
 * Keeps the dedupe state bounded in time: producers not heard from for the
 * TTL are forgotten, in memory and in the store, at start-up and then hourly.
 */
import type { Ledger } from "./ledger.ts";
import type { Store } from "./store.ts";

/** How often a running primary expires producers (ms). */
export const EXPIRY_INTERVAL = 3_600_000;

/**
 * Forgets producers unseen for `ttl` ms; returns how many.
 *
 * @throws {StoreError} When the store cannot delete them (the ledger has forgotten them already;
 *   the rows are expired again next time)
 */
export function expireProducers(ledger: Ledger, store: Store, ttl: number, now = Date.now()): number {
  const gone = ledger.expire(now - ttl);
  store.forget(gone);
  return gone.length;
}

/** Expires producers every EXPIRY_INTERVAL until the returned function is called. */
export function scheduleExpiry(ledger: Ledger, store: Store, ttl: number): () => void {
  const timer = setInterval(() => {
    try {
      expireProducers(ledger, store, ttl);
    } catch (error) {
      console.error(`primary: ${(error as Error).message}`);
    }
  }, EXPIRY_INTERVAL);
  return () => clearInterval(timer);
}
