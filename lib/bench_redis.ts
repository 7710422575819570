/**
 * The Redis side of the comparison: a private redis-server (its own temp dir
 * and ephemeral port, append-only file on, no snapshots) and
 * `redis-benchmark -t incr` at the same connections × pipeline.
 */
import type { RedisResult } from "./bench_report.ts";
import { readCpuSeconds, readMemory } from "./bench_proc.ts";

export type Appendfsync = "everysec" | "always";

/** Why the comparison cannot run, or undefined when redis-server and redis-benchmark are installed. */
export async function redisMissing(): Promise<string | undefined> {
  for (const program of ["redis-server", "redis-benchmark"]) {
    try {
      const { success } = await new Deno.Command(program, { args: ["--version"], stdout: "null", stderr: "null" })
        .output();
      if (!success) return `${program} --version failed`;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        return `${program} is not installed (apt-get install redis-server redis-tools)`;
      }
      throw error;
    }
  }
  return undefined;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

async function ping(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(new TextEncoder().encode("PING\r\n"));
      const buffer = new Uint8Array(64);
      const n = await conn.read(buffer);
      return n !== null && new TextDecoder().decode(buffer.subarray(0, n)).startsWith("+PONG");
    } finally {
      conn.close();
    }
  } catch {
    return false;
  }
}

export interface RedisBenchOptions {
  connections: number;
  pipeline: number;
  requests: number;
  /** @default {"everysec"} */
  appendfsync?: Appendfsync;
  /** redis-benchmark is stopped after this long (ms). @default {60000} */
  deadlineMs?: number;
}

/**
 * Starts a fresh redis-server, runs redis-benchmark against it, stops it.
 *
 * @throws {Error} When redis-server does not start or redis-benchmark fails
 */
export async function benchRedis(options: RedisBenchOptions): Promise<RedisResult> {
  const { connections, pipeline, requests, appendfsync = "everysec", deadlineMs = 60_000 } = options;
  for (const [name, value] of Object.entries({ connections, pipeline, requests, deadlineMs })) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`Cannot run redis-benchmark: ${name} must be a positive integer, got ${value}`);
    }
  }
  const dir = await Deno.makeTempDir({ prefix: "likes_bench_redis_" });
  const port = freePort();
  const server = new Deno.Command("redis-server", {
    args: [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--appendonly",
      "yes",
      "--appendfsync",
      appendfsync,
      "--save",
      "",
      "--daemonize",
      "no",
      "--logfile",
      `${dir}/redis.log`,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    const started = Date.now();
    while (!await ping(port)) {
      if (Date.now() - started > 10_000) throw new Error(`redis-server did not answer PING on port ${port} within 10s`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const args = [
      "-h",
      "127.0.0.1",
      "-p",
      String(port),
      "-t",
      "incr",
      "-c",
      String(connections),
      "-P",
      String(pipeline),
      "-n",
      String(requests),
      "--csv",
    ];
    const cpuBefore = readCpuSeconds(server.pid);
    const bench = new Deno.Command("redis-benchmark", { args, stdout: "piped", stderr: "piped" }).spawn();
    const timer = setTimeout(() => bench.kill("SIGKILL"), deadlineMs);
    const output = await bench.output();
    clearTimeout(timer);
    const cpuSeconds = readCpuSeconds(server.pid) - cpuBefore;
    const { peakRssMb } = readMemory(server.pid);
    const text = new TextDecoder().decode(output.stdout);
    if (!output.success) {
      throw new Error(`redis-benchmark failed (${output.code}): ${new TextDecoder().decode(output.stderr).trim()}`);
    }
    return {
      command: `redis-benchmark ${args.join(" ")}`,
      appendfsync,
      requests,
      ...parseRedisCsv(text),
      server: { cpuSeconds, peakRssMb },
    };
  } finally {
    try {
      server.kill("SIGTERM");
    } catch { /* already gone */ }
    await server.output();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Reads redis-benchmark's `--csv` output:
 *   "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",...,"p99_latency_ms","max_latency_ms"
 *   "INCR","140845.08","0.191","0.056","0.183","0.263","0.335","1.191"
 *
 * @throws {Error} When there is no header with rps, p50 and p99, or no INCR row
 */
export function parseRedisCsv(text: string): { rate: number; latencyMs: { p50: number; p99: number } } {
  const rows = text.trim().split("\n").map((line) => line.trim().split(",").map((cell) => cell.replace(/^"|"$/g, "")));
  const header = rows.find((row) => row[0] === "test");
  const incr = rows.find((row) => row[0] === "INCR");
  const column = (name: string) => header?.indexOf(name) ?? -1;
  const [rps, p50, p99] = [column("rps"), column("p50_latency_ms"), column("p99_latency_ms")];
  if (!incr || rps < 0 || p50 < 0 || p99 < 0) throw new Error(`Cannot read redis-benchmark output: ${text.trim()}`);
  return { rate: Number(incr[rps]), latencyMs: { p50: Number(incr[p50]), p99: Number(incr[p99]) } };
}
