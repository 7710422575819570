/** Test support: polling with a deadline. */
import { sleep } from "../../lib/common/sleep.ts";

/** Polls until `check` holds, failing the test after the deadline. */
export async function eventually(what: string, check: () => Promise<boolean>, deadline = 10_000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(20);
  }
}
