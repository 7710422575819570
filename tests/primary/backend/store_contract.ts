/**
 * The behaviour every store promises, as one suite of tests run against each
 * store through a factory: contract_test.ts runs it on the embedded and the
 * Redis backends, through the backend interface.
 *
 * The interface is the smallest one both can offer: commit a batch of likes
 * and hear, per like, its outcome and the total after it; reopen to see what
 * survived.
 */
import assert from "node:assert/strict";
import type { Like } from "../../../lib/protocol/message.ts";
import { type Requirement, testNeeding } from "../../support/requirements.ts";

export type ContractOutcome = "accepted" | "duplicate" | "out of order" | "seq reused";

/** A store under test, as the contract sees it. */
export interface ContractStore {
  /** Per like, its outcome and the total after it (unchanged after a like it refused). */
  commit(likes: readonly Like[]): Promise<{ outcomes: ContractOutcome[]; totals: number[] }>;
  total(): Promise<number>;
  close(): Promise<void> | void;
}

/** Opens stores that share one state: `open()` twice gives two views (or a reopened one) of the same data. */
export interface ContractFactory {
  /** The store's name in test names. */
  name: string;
  /** The dedupe window the stores were opened with. */
  window: number;
  /** Makes a fresh, empty state and returns an opener for it. */
  fresh(): Promise<{ open(): Promise<ContractStore>; dispose(): Promise<void> }>;
  /** Whether two stores may be open on one state at once (several primaries). */
  shared: boolean;
  /** What the store needs of this machine (the suite is skipped, and says so, where it is missing). */
  requirement?: Requirement;
}

export function like(producer: string | undefined, seq: number | undefined, likes = 1, server = 1): Like {
  return producer === undefined ? { kind: "like", server, likes } : { kind: "like", server, likes, producer, seq };
}

/** Registers the contract's tests for `factory`. */
export function storeContract(factory: ContractFactory): void {
  const test = (name: string, fn: (open: () => Promise<ContractStore>) => Promise<void>) =>
    testNeeding(factory.requirement ? [factory.requirement] : [], {
      name: `${factory.name} store: ${name}`,
      async fn() {
        const state = await factory.fresh();
        try {
          await fn(state.open);
        } finally {
          await state.dispose();
        }
      },
    });

  test("counts each like of a batch once and reports the total after each", async (open) => {
    const store = await open();
    try {
      const result = await store.commit([like("p", 1, 3), like("p", 2, 4), like(undefined, undefined, 5)]);
      assert.deepEqual(result.outcomes, ["accepted", "accepted", "accepted"]);
      assert.deepEqual(result.totals, [3, 7, 12]);
      assert.equal(await store.total(), 12);
    } finally {
      await store.close();
    }
  });

  test("answers duplicate for a seq among the last applied, within a batch and across batches", async (open) => {
    const store = await open();
    try {
      await store.commit([like("p", 1), like("p", 2)]);
      // Each repeat of the highest seq with its own count: another count is seq reused (below).
      const result = await store.commit([like("p", 2), like("p", 3), like("p", 3), like("p", 1, 9)]);
      assert.deepEqual(result.outcomes, ["duplicate", "accepted", "duplicate", "duplicate"]);
      assert.deepEqual(result.totals, [2, 3, 3, 3]);
    } finally {
      await store.close();
    }
  });

  test("answers the highest seq sent again with another count 1 seq reused with other likes, and counts nothing", async (open) => {
    const store = await open();
    try {
      await store.commit([like("reuse", 1, 10)]);
      // Across batches, within one (the seq just counted), and its own count still a duplicate after a refusal.
      const result = await store.commit([
        like("reuse", 1, 40),
        like("reuse", 1, 10),
        like("reuse", 2, 3),
        like("reuse", 2, 4),
        like("other", 2, 4),
      ]);
      assert.deepEqual(result.outcomes, ["seq reused", "duplicate", "accepted", "seq reused", "accepted"]);
      assert.deepEqual(result.totals, [10, 10, 13, 13, 17]);
      // Only the highest seq's count is kept: a lower counted seq with another count is a plain duplicate.
      assert.deepEqual((await store.commit([like("reuse", 1, 40)])).outcomes, ["duplicate"]);
      assert.equal(await store.total(), 17);
    } finally {
      await store.close();
    }
  });

  test("answers out of order for a seq below the highest never applied, and never 0 for one that left the window", async (open) => {
    const store = await open();
    try {
      await store.commit([like("p", 1), like("p", 5)]);
      assert.deepEqual((await store.commit([like("p", 3, 9)])).outcomes, ["out of order"]);
      const beyond = Array.from({ length: factory.window }, (_, i) => like("p", 6 + i));
      await store.commit(beyond);
      const result = await store.commit([like("p", 5, 9), like("p", 6, 9)]);
      // 5 has left the window of the last W applied seqs; 6 is the oldest still in it. A store
      // may still know 5 was counted (the embedded one keeps the run of consecutive seqs):
      // either answer keeps it out of the total, and neither promises a count it did not make.
      assert.ok(["out of order", "duplicate"].includes(result.outcomes[0]), result.outcomes[0]);
      assert.equal(result.outcomes[1], "duplicate");
      assert.equal(await store.total(), 2 + factory.window);
    } finally {
      await store.close();
    }
  });

  test("keeps producers apart", async (open) => {
    const store = await open();
    try {
      const result = await store.commit([like("a", 7), like("b", 7), like("a", 7)]);
      assert.deepEqual(result.outcomes, ["accepted", "accepted", "duplicate"]);
    } finally {
      await store.close();
    }
  });

  test("keeps the total and the dedupe state when reopened", async (open) => {
    const first = await open();
    await first.commit([like("p", 1, 2), like("p", 2, 3)]);
    await first.close();
    const second = await open();
    try {
      assert.equal(await second.total(), 5);
      assert.deepEqual((await second.commit([like("p", 2, 3), like("p", 3)])).outcomes, ["duplicate", "accepted"]);
    } finally {
      await second.close();
    }
  });

  if (factory.shared) {
    test("counts a like once across two stores on one state, whichever a retry reaches", async (open) => {
      const [a, b] = [await open(), await open()];
      try {
        assert.deepEqual((await a.commit([like("p", 1, 2)])).totals, [2]);
        const retry = await b.commit([like("p", 1, 2), like("q", 1, 3)]);
        assert.deepEqual(retry.outcomes, ["duplicate", "accepted"]);
        assert.deepEqual(retry.totals, [2, 5]);
        assert.equal(await a.total(), 5);
      } finally {
        await a.close();
        await b.close();
      }
    });

    test("refuses the highest seq again with another count whichever store on one state it reaches", async (open) => {
      const [a, b] = [await open(), await open()];
      try {
        await a.commit([like("reuse", 1, 10)]);
        assert.deepEqual((await b.commit([like("reuse", 1, 40), like("reuse", 1, 10)])).outcomes, [
          "seq reused",
          "duplicate",
        ]);
        assert.equal(await a.total(), 10);
      } finally {
        await a.close();
        await b.close();
      }
    });
  }
}
