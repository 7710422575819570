/**
 * A primary in a subprocess, as the demo, the benchmark and the tests start
 * one: launched with the given grants, its one ready line awaited with a
 * deadline, its output kept, and stopped by a signal.
 */
import { abortable } from "../common/io.ts";
import { denoCommand, type Grants, launchArgs } from "./permissions.ts";

export interface LaunchOptions {
  /** Flags for primary.ts. @default {[]} */
  args?: string[];
  /** What the primary may do: its least-privilege grants, or `"all"` (-A) for tests. @default {"all"} */
  grants?: Grants | "all";
  /** The program that runs Deno. @default {denoCommand()} */
  deno?: string;
  /** How long to wait for the ready line (ms). @default {15000} */
  deadlineMs?: number;
  /** Added to the inherited environment. @default {undefined} */
  env?: Record<string, string>;
  /** `"inherit"` lets the primary's errors reach the terminal directly; else they are kept with its output. @default {"piped"} */
  stderr?: "piped" | "inherit";
}

export interface LaunchedPrimary {
  /** The port for LikesServers. */
  port: number;
  /** The dashboard's port; 0 when started with --http off. */
  httpPort: number;
  /** The durable total it started from. */
  total: number;
  /** The ready line, without its line break. */
  readyLine: string;
  process: Deno.ChildProcess;
  /** Everything the primary printed so far (stdout, and stderr when piped). */
  output(): string;
  /** Sends `signal` (unless it has exited) and waits for the exit status and the last output. @default {"SIGTERM"} */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/**
 * `PrimaryLikesServer ready: likes on HOST:PORT, dashboard http://HOST:PORT/, total N, log PATH`
 * and its line break (a pipe may split a line). HOST may be IPv6 (unbracketed),
 * so each port is what follows the last colon.
 */
const READY =
  /^PrimaryLikesServer ready: likes on \S+:(\d+)(?:, dashboard http:\/\/\S+:(\d+)\/)?, total (\d+), log [^\n]*\n/m;

/**
 * Starts primary.ts and waits for its ready line.
 *
 * @throws {Error} When it exits first or is not ready by the deadline (it is then killed); the message holds its output
 */
export async function launchPrimary(options: LaunchOptions = {}): Promise<LaunchedPrimary> {
  const { args = [], grants = "all", deno = denoCommand(), deadlineMs = 15_000, env, stderr = "piped" } = options;
  if (!(deadlineMs > 0)) {
    throw new RangeError(`Cannot launch the primary: deadlineMs must be positive, got ${deadlineMs}`);
  }
  const process = new Deno.Command(deno, {
    args: launchArgs("primary.ts", grants, args),
    stdin: "null",
    stdout: "piped",
    stderr,
    env,
  }).spawn();
  let text = "";
  let wake = () => {};
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      wake();
    }
  };
  const done = Promise.all([collect(process.stdout), ...(stderr === "piped" ? [collect(process.stderr)] : [])]);
  const exited = process.status.then(() => "exited" as const);
  const deadline = AbortSignal.timeout(deadlineMs);
  let ready: RegExpExecArray | null;
  while (!(ready = READY.exec(text))) {
    const output = new Promise<"output">((resolve) => wake = () => resolve("output"));
    const event = await abortable(Promise.race([output, exited]), deadline).catch(() => "timeout" as const);
    if (event === "timeout") {
      try {
        process.kill("SIGKILL");
      } catch { /* exited meanwhile */ }
      await process.status;
      await done;
      throw new Error(`Primary not ready within ${deadlineMs}ms: ${text}`);
    }
    if (event === "exited") {
      await done;
      throw new Error(`Primary exited before ready: ${text}`);
    }
  }
  return {
    port: Number(ready[1]),
    httpPort: ready[2] === undefined ? 0 : Number(ready[2]),
    total: Number(ready[3]),
    readyLine: ready[0].slice(0, -1),
    process,
    output: () => text,
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        process.kill(signal);
      } catch { /* already exited */ }
      const status = await process.status;
      await done;
      return status;
    },
  };
}
