/**
 * The Redis side of the comparison: a private redis-server (its own temp dir
 * and ephemeral port, append-only file on, no snapshots), loaded by the same
 * load generator as ours, speaking RESP. The server's CPU time and memory come
 * from its own INFO, not from /proc, so the bench needs no -A.
 */
import { RedisServer as RedisServerProcess } from "../launch/redis_server.ts";

export type Appendfsync = "everysec" | "always";

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
export async function redisCommand(port: number, command: string): Promise<string> {
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

export interface RedisOptions {
  /** The server's temp dir (append-only file, log) is made in here. */
  workDir: string;
  /** @default {"everysec"} */
  appendfsync?: Appendfsync;
  /** How long to wait for it to be ready (ms). @default {10000} */
  deadlineMs?: number;
}

/** A private redis-server, running. */
export interface RedisServer {
  port: number;
  appendfsync: Appendfsync;
  /** Its CPU time and memory so far, from INFO. */
  use(): Promise<RedisUse>;
  /** Stops it and removes its temp dir. */
  stop(): Promise<void>;
}

/**
 * Starts a fresh redis-server: its own temp dir under `workDir`, an ephemeral
 * port on 127.0.0.1, the append-only file on with `appendfsync`, no snapshots.
 *
 * @throws {Error} When it is not ready by the deadline (it is then killed)
 */
export async function startRedis(options: RedisOptions): Promise<RedisServer> {
  const { workDir, appendfsync = "everysec", deadlineMs = 10_000 } = options;
  const dir = await Deno.makeTempDir({ dir: workDir, prefix: "redis_" });
  let server;
  try {
    server = await RedisServerProcess.start({ dir, port: freePort(), appendfsync, deadlineMs });
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  const { port } = server;
  return {
    port,
    appendfsync,
    use: () => readRedisUse(port),
    async stop() {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
