/**
 * Test support: a real tmpfs of a given size, for tests that need a full disk.
 * Mounting needs root (CI runs as root); elsewhere the test is skipped
 * (requirement("root")) rather than faked.
 */
import { tempDir } from "./temp.ts";

/** Runs `fn` with a fresh tmpfs of `size` (as mount's size=, e.g. "256k"), unmounted afterwards. */
export async function withTmpfs(size: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  await run("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir]);
  try {
    await fn(dir);
  } finally {
    await run("umount", ["-l", dir]);
  }
}

/** Fills the file system of `dir` to the last byte with a file named `name`; returns its path. */
export async function fill(dir: string, name = "filler"): Promise<string> {
  const path = `${dir}/${name}`;
  // dd stops at ENOSPC, with a non-zero status: that is the point.
  await new Deno.Command("dd", { args: ["if=/dev/zero", `of=${path}`, "bs=1k"], stdout: "null", stderr: "null" })
    .output();
  return path;
}

async function run(command: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${command} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
}
