/**
 * Test support: a real primary in a subprocess, on ephemeral ports, with its
 * log and state in a temp dir. Waits for the ready line, with a deadline.
 */
import { tempDir } from "./temp.ts";

const ROOT = new URL("../../", import.meta.url);

export interface PrimaryProcess {
  dir: string;
  log: string;
  state: string;
  port: number;
  /** 0 when started with --http off. */
  httpPort: number;
  process: Deno.ChildProcess;
  /** Everything the primary printed on stdout and stderr so far. */
  output(): string;
  /** Sends a signal and waits for the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

export interface StartOptions {
  /** Reuse a directory (log and state) from an earlier primary. */
  dir?: string;
  /** Fixed port instead of an ephemeral one (to restart on the same port). */
  port?: number;
  /** Extra flags. */
  args?: string[];
  /** How long to wait for the ready line (ms). */
  deadline?: number;
  env?: Record<string, string>;
}

export async function startPrimary(options: StartOptions = {}): Promise<PrimaryProcess> {
  const { port = 0, args = [], deadline = 15_000, env } = options;
  const dir = options.dir ?? await tempDir();
  const log = `${dir}/PrimaryLikesLog`;
  const state = `${dir}/PrimaryLikes.db`;
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("primary.ts", ROOT).pathname,
      "--port",
      String(port),
      "--http",
      "127.0.0.1:0",
      "--log",
      log,
      "--state",
      state,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
    env,
  }).spawn();
  let text = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  };
  const done = Promise.all([collect(process.stdout), collect(process.stderr)]);
  const started = Date.now();
  let ready: RegExpExecArray | null = null;
  while (!(ready = /ready: likes on [^\s]+:(\d+)(?:, dashboard http:\/\/[^\s]+:(\d+)\/)?/.exec(text))) {
    if (Date.now() - started > deadline) {
      try {
        process.kill("SIGKILL");
      } catch { /* already gone */ }
      await process.status;
      throw new Error(`Primary not ready within ${deadline}ms: ${text}`);
    }
    const exited = await Promise.race([process.status, new Promise((r) => setTimeout(() => r(undefined), 20))]);
    if (exited) {
      await done;
      throw new Error(`Primary exited before ready: ${text}`);
    }
  }
  return {
    dir,
    log,
    state,
    port: Number(ready[1]),
    httpPort: ready[2] ? Number(ready[2]) : 0,
    process,
    output: () => text,
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        process.kill(signal);
      } catch { /* already gone */ }
      const status = await process.status;
      await done;
      return status;
    },
  };
}
