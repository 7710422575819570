/**
 * Test support: temp directories under one root per test process, removed
 * when the process ends, so that test runs leave nothing behind in /tmp.
 */
const root = Deno.makeTempDirSync({ prefix: "likes_test_" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(root, { recursive: true });
  } catch { /* already gone */ }
});

/** A new empty directory, removed with the others when the tests end. */
export function tempDir(): Promise<string> {
  return Deno.makeTempDir({ dir: root });
}

/** Runs `fn` with a fresh directory, removed afterwards. */
export async function withDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await tempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
