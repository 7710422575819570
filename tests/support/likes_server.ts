/** Test support: a real LikesServer in a subprocess (granted -A), its output collected. */
const SCRIPT = new URL("../../likes_server.ts", import.meta.url).pathname;

export interface LikesServerRun {
  process: Deno.ChildProcess;
  /** Resolves with the exit code and what it printed, once it exits. */
  done: Promise<{ code: number; signal: Deno.Signal | null; stdout: string; stderr: string }>;
}

export function spawnLikesServer(
  args: string[],
  options: { stdin?: "piped" | "null"; env?: Record<string, string> } = {},
): LikesServerRun {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, ...args],
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
    env: options.env,
  }).spawn();
  const done = (async () => {
    const out = await process.output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code: out.code, signal: out.signal, stdout: decode(out.stdout), stderr: decode(out.stderr) };
  })();
  return { process, done };
}

/** True while `pid` is a live process (a zombie counts as ended). */
export function isRunning(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}
