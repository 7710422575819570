/**
 * The Redis side of the comparison: a private redis-server (its own temp dir
 * and ephemeral port, append-only file on, no snapshots) and
 * `redis-benchmark -t incr` at the same connections × pipeline. The server's
 * CPU time and memory come from its own INFO, not from /proc, so the bench
 * needs no -A.
 */
import type { RedisResult } from "./report.ts";
import { sleep } from "../common/sleep.ts";

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

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Sends one inline command and returns its reply: a simple string (`+PONG`)
 * without its marker, or a bulk string's content.
 *
 * @throws {Error} On an error reply, a reply of another kind, or a connection closed early
 */
async function redisCommand(port: number, command: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(encoder.encode(`${command}\r\n`));
    const buffer = new Uint8Array(16 * 1024);
    let bytes = new Uint8Array(0);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error(`redis-server closed the connection before answering ${command}`);
      const joined = new Uint8Array(bytes.length + n);
      joined.set(bytes);
      joined.set(buffer.subarray(0, n), bytes.length);
      bytes = joined;
      const end = bytes.indexOf(0x0a);
      if (end === -1) continue;
      const head = decoder.decode(bytes.subarray(0, end)).trimEnd();
      if (head.startsWith("+")) return head.slice(1);
      if (head.startsWith("-")) throw new Error(`redis-server answered ${command} with ${head.slice(1)}`);
      const length = head.startsWith("$") ? Number(head.slice(1)) : NaN;
      if (!(length >= 0)) throw new Error(`Unexpected reply from redis-server to ${command}: ${head}`);
      // The bulk string and its closing CRLF.
      if (bytes.length >= end + 1 + length + 2) return decoder.decode(bytes.subarray(end + 1, end + 1 + length));
    }
  } finally {
    conn.close();
  }
}

async function ping(port: number): Promise<boolean> {
  try {
    return await redisCommand(port, "PING") === "PONG";
  } catch {
    return false;
  }
}

/** The `field:value` lines of an INFO reply (section headers and blank lines skipped). */
export function parseRedisInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0 && !line.startsWith("#")) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

/** What a redis-server has used so far, as its INFO says. */
export interface RedisUse {
  /** used_cpu_sys + used_cpu_user: all its threads, seconds. */
  cpuSeconds: number;
  /** used_memory_rss, bytes. */
  rssBytes: number;
}

/**
 * Reads the CPU time and resident memory from an INFO reply.
 *
 * @throws {Error} When a field is missing or not a number
 */
export function redisUse(info: Map<string, string>): RedisUse {
  const number = (name: string) => {
    const value = Number(info.get(name) ?? NaN);
    if (Number.isNaN(value)) throw new Error(`Cannot read ${name} from redis-server's INFO`);
    return value;
  };
  return { cpuSeconds: number("used_cpu_sys") + number("used_cpu_user"), rssBytes: number("used_memory_rss") };
}

async function readRedisUse(port: number): Promise<RedisUse> {
  return redisUse(parseRedisInfo(await redisCommand(port, "INFO")));
}

export interface RedisBenchOptions {
  /** The server's temp dir (append-only file, log) is made in here. */
  workDir: string;
  connections: number;
  pipeline: number;
  requests: number;
  /** @default {"everysec"} */
  appendfsync?: Appendfsync;
  /** redis-benchmark is stopped after this long (ms). @default {60000} */
  deadlineMs?: number;
  /** How often the server's memory is sampled while redis-benchmark runs, for its peak (ms). @default {100} */
  sampleMs?: number;
}

/**
 * Starts a fresh redis-server, runs redis-benchmark against it, stops it.
 *
 * @throws {Error} When redis-server does not start or redis-benchmark fails
 */
export async function benchRedis(options: RedisBenchOptions): Promise<RedisResult> {
  const { workDir, connections, pipeline, requests, appendfsync = "everysec", deadlineMs = 60_000, sampleMs = 100 } =
    options;
  for (const [name, value] of Object.entries({ connections, pipeline, requests, deadlineMs, sampleMs })) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`Cannot run redis-benchmark: ${name} must be a positive integer, got ${value}`);
    }
  }
  const dir = await Deno.makeTempDir({ dir: workDir, prefix: "redis_" });
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
      await sleep(20);
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
    const before = await readRedisUse(port);
    // INFO has no peak RSS: sample used_memory_rss while the benchmark runs.
    let peakRssBytes = before.rssBytes;
    let sampling = Promise.resolve();
    const sampler = setInterval(() => {
      sampling = sampling.then(async () => {
        peakRssBytes = Math.max(peakRssBytes, (await readRedisUse(port)).rssBytes);
      }).catch(() => {/* a missed sample: the next one or the last one counts */});
    }, sampleMs);
    let output: Deno.CommandOutput;
    try {
      const bench = new Deno.Command("redis-benchmark", { args, stdout: "piped", stderr: "piped" }).spawn();
      const timer = setTimeout(() => bench.kill("SIGKILL"), deadlineMs);
      output = await bench.output();
      clearTimeout(timer);
    } finally {
      clearInterval(sampler);
      await sampling;
    }
    const after = await readRedisUse(port);
    peakRssBytes = Math.max(peakRssBytes, after.rssBytes);
    const text = new TextDecoder().decode(output.stdout);
    if (!output.success) {
      throw new Error(`redis-benchmark failed (${output.code}): ${new TextDecoder().decode(output.stderr).trim()}`);
    }
    return {
      command: `redis-benchmark ${args.join(" ")}`,
      appendfsync,
      requests,
      ...parseRedisCsv(text),
      server: { cpuSeconds: after.cpuSeconds - before.cpuSeconds, peakRssMb: peakRssBytes / (1024 * 1024) },
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
