/**
 * The bench's processes besides the primary and Redis: the load generator
 * (load_worker.ts), run in a subprocess of its own for every measurement, and
 * the empty server (empty_server.ts), the runtime's ceiling. Each runs with
 * least privilege: the load generator may reach only the port it loads, the
 * empty server only listen on 127.0.0.1.
 */
import { textLines } from "../common/text_lines.ts";
import { denoCommand, launchArgs } from "../launch/permissions.ts";
import type { LoadProtocol } from "./load_generator.ts";
import { likesServerName } from "../protocol/names.ts";
import { LatencyHistogram, type Percentiles, percentiles } from "./report.ts";

/** What one load process measured. */
export interface LoadSummary {
  /** Length of the measured window, seconds. */
  seconds: number;
  /** Messages answered as success (`0`, or a RESP integer) in the window. */
  acknowledged: number;
  /** Messages answered otherwise in the window. */
  rejected: number;
  firstRejection?: string;
  /** Messages never answered. */
  unanswered: number;
  /** Acknowledged messages per second. */
  rate: number;
  latencyMs: Percentiles;
  /** CPU seconds the load process used in the window. */
  loadCpuSeconds: number;
}

export interface LoadProcessOptions {
  /** @default {"likes"} */
  protocol?: LoadProtocol;
  /** @default {1} */
  connections?: number;
  /** @default {1} */
  pipeline?: number;
  /** @default {5000} */
  durationMs?: number;
  /** @default {1000} */
  warmupMs?: number;
  /** Called as the measured window opens and closes, e.g. to sample the server's CPU. @default {undefined} */
  onWindow?: (edge: "start" | "end") => void;
  /** The load process is killed when it has not reported by then (ms). @default {warmup + duration + 30000} */
  deadlineMs?: number;
  /** A built C load client (load_client.ts) to run instead of load_worker.ts. @default {undefined} */
  client?: string;
}

/**
 * Loads 127.0.0.1:`port` (or several ports, connections spread over them in
 * turn) from a fresh load process and returns what it measured.
 *
 * @throws {Error} When the process fails, reports nothing, or misses its deadline
 */
export async function runLoadProcess(
  port: number | readonly number[],
  options: LoadProcessOptions = {},
): Promise<LoadSummary> {
  const ports = typeof port === "number" ? [port] : port;
  const { protocol = "likes", connections = 1, pipeline = 1, durationMs = 5000, warmupMs = 1000, onWindow } = options;
  const deadlineMs = options.deadlineMs ?? warmupMs + durationMs + 30_000;
  const shape = ["--connections", String(connections), "--pipeline", String(pipeline)];
  const [command, args] = options.client === undefined
    ? [
      denoCommand(),
      launchArgs("lib/bench/load_worker.ts", { net: ports.map((p) => `127.0.0.1:${p}`) }, [
        ...["--port", ports.join(","), "--protocol", protocol, ...shape],
        ...["--duration", `${durationMs}ms`, "--warmup", `${warmupMs}ms`],
      ]),
    ]
    : [options.client, [
      ...["--port", ports.join(","), "--protocol", protocol, ...shape],
      ...["--duration-ms", String(durationMs), "--warmup-ms", String(warmupMs)],
      // The same likes lines as load_worker.ts sends: LikesServer1, one like, a fresh producer per connection.
      ...["--prefix", `${likesServerName(1)} 1 bench-${crypto.randomUUID()}-`],
    ]];
  const child = new Deno.Command(command, { args, stdin: "null", stdout: "piped", stderr: "piped" }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited meanwhile */ }
  }, deadlineMs);
  const stderr = new Response(child.stderr).text();
  let result: LoadSummary | undefined;
  // The C client reports its latencies as `latency <µs> <count>` lines, not percentiles.
  const latencies = new LatencyHistogram();
  try {
    for await (const line of textLines(child.stdout)) {
      if (line === "window start" || line === "window end") onWindow?.(line === "window start" ? "start" : "end");
      else if (line.startsWith("latency ")) {
        const [us, count] = line.slice("latency ".length).split(" ").map(Number);
        latencies.record(us / 1000, count);
      } else if (line.startsWith("result ")) result = JSON.parse(line.slice("result ".length));
    }
  } finally {
    clearTimeout(timer);
  }
  const status = await child.status;
  const errors = (await stderr).trim();
  if (!status.success || result === undefined) {
    const why = status.signal === "SIGKILL" ? `missed its ${deadlineMs}ms deadline` : `exited with ${status.code}`;
    throw new Error(`The load process ${why}${errors ? `: ${errors}` : ""}`);
  }
  return result.latencyMs === undefined ? { ...result, latencyMs: percentiles(latencies) } : result;
}

/** The empty server, running. */
export interface EmptyServer {
  port: number;
  /**
   * Its user + system CPU seconds so far, as it reports them.
   *
   * @throws {Error} When it does not report them within the deadline
   */
  cpuSeconds(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts empty_server.ts on an ephemeral port of 127.0.0.1 and waits for its ready line.
 *
 * @throws {Error} When it exits first or is not ready within `deadlineMs` (it is then killed)
 */
export async function startEmptyServer(deadlineMs = 15_000): Promise<EmptyServer> {
  const args = launchArgs("lib/bench/empty_server.ts", { net: ["127.0.0.1:0"] }, ["--port", "0"]);
  const child = new Deno.Command(denoCommand(), { args, stdin: "null", stdout: "piped", stderr: "piped" }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = textLines(child.stdout);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), deadlineMs));
  const ready = (async () => {
    // Not a for-await: leaving one would close the stream that the CPU lines come on later.
    for (let next = await lines.next(); !next.done; next = await lines.next()) {
      const match = /^EmptyServer ready: likes on \S+:(\d+)$/.exec(next.value);
      if (match) return Number(match[1]);
    }
    return "exited" as const;
  })();
  const port = await Promise.race([ready, timeout]);
  clearTimeout(timer);
  if (typeof port !== "number") {
    try {
      child.kill("SIGKILL");
    } catch { /* exited meanwhile */ }
    await child.status;
    const errors = (await stderr).trim();
    throw new Error(
      `The empty server ${port === "timeout" ? `was not ready within ${deadlineMs}ms` : "exited before ready"}` +
        (errors ? `: ${errors}` : ""),
    );
  }
  // Keep its output drained so that it never blocks on a full pipe; CPU lines answer cpuSeconds() in turn.
  const waiting: PromiseWithResolvers<number>[] = [];
  const drained = (async () => {
    for await (const line of lines) {
      const match = /^EmptyServer cpu (\S+)$/.exec(line);
      if (match) waiting.shift()?.resolve(Number(match[1]));
    }
    for (const wait of waiting.splice(0)) wait.reject(new Error("The empty server exited"));
  })();
  return {
    port,
    async cpuSeconds() {
      const wait = Promise.withResolvers<number>();
      waiting.push(wait);
      child.kill("SIGUSR2");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) =>
        timer = setTimeout(
          () => reject(new Error(`The empty server did not report its CPU within ${deadlineMs}ms`)),
          deadlineMs,
        )
      );
      try {
        return await Promise.race([wait.promise, late]);
      } finally {
        clearTimeout(timer);
        // A late line must not answer the next caller.
        const left = waiting.indexOf(wait);
        if (left !== -1) waiting.splice(left, 1);
      }
    },
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
      await child.status;
      await drained;
      await stderr;
    },
  };
}
