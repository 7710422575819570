/**
 * One live primary per id on a Redis. Two primaries with one --primary-id
 * would share one journal and write each other's batches into their logs, so
 * each holds a claim on its id: a key set only if absent, with a lease
 * renewed at a third of its length. A second primary with a live holder's id
 * is refused at start-up; a primary restarted after a crash waits out its dead
 * predecessor's lease (at most one lease) and then takes the claim.
 */
import type { RedisStore } from "./store.ts";
import { sleep } from "../../../common/sleep.ts";

/**
 * Takes the claim on the store's primary id, waiting up to a lease and a bit
 * for a previous holder's to lapse.
 *
 * @throws {Error} When another process keeps the claim alive
 * @throws {StoreUnavailableError} When Redis does not answer
 */
export async function claimPrimaryId(store: RedisStore, token: string, leaseMs: number): Promise<void> {
  const deadline = Date.now() + leaseMs + Math.min(leaseMs, 1000);
  while (!await store.claim(token, leaseMs)) {
    if (Date.now() >= deadline) {
      throw new Error(
        `Another primary with id ${store.primaryId} is running on the Redis store ${store.url} ` +
          `(it renewed its claim for longer than the lease, ${leaseMs} ms): give each primary its own --primary-id`,
      );
    }
    await sleep(Math.min(200, leaseMs / 5));
  }
}

/**
 * Renews the claim every third of the lease until the returned function is
 * called. `onChange` hears a reason when another process holds the claim (this
 * primary must stop committing), and undefined when it is ours again. Redis
 * being away is not a loss: commits fail then anyway, and the claim is
 * renewed (or taken again) when Redis is back.
 */
export function keepClaim(
  store: RedisStore,
  token: string,
  leaseMs: number,
  onChange: (lost: string | undefined) => void,
): () => void {
  let lost = false;
  let running = false;
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      const held = await store.renewClaim(token, leaseMs);
      if (held === !lost) return;
      lost = !held;
      onChange(
        lost
          ? `Another primary took the id ${store.primaryId} on ${store.url} (this one lost its claim): refusing likes`
          : undefined,
      );
    } catch {
      /* Redis away: the commits say so */
    } finally {
      running = false;
    }
  }, Math.max(1, Math.floor(leaseMs / 3)));
  return () => clearInterval(timer);
}
