/**
 * The idle-connections check: N producers connect, each sends one like and
 * gets it acknowledged, then all stay connected and quiet. With all of them
 * open the primary's memory is read, and a new producer must still be served.
 */
import type { IdleResult } from "./bench_report.ts";
import { readMemory, readOpenFileLimit } from "./bench_proc.ts";

export interface IdleOptions {
  /** Connections opened at once while ramping up. @default {200} */
  concurrency?: number;
  /** Deadline for each connection's first reply and for the new producer (ms). @default {10000} */
  replyDeadlineMs?: number;
}

const encoder = new TextEncoder();

/** Sends one line and reads one reply line; returns the reply without its newline. */
async function likeOnce(conn: Deno.TcpConn, line: string): Promise<string> {
  const bytes = encoder.encode(line);
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
  const buffer = new Uint8Array(64);
  let reply = "";
  while (!reply.includes("\n")) {
    const n = await conn.read(buffer);
    if (n === null) {
      throw new Error(`Connection closed before a reply${reply ? ` (got ${JSON.stringify(reply)})` : ""}`);
    }
    reply += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return reply.slice(0, reply.indexOf("\n"));
}

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no reply within ${ms}ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Opens `count` producer connections to the primary on `port` (process
 * `pid`), measures its memory with them all open, and checks a new one is served.
 * Stops opening at the first failure (e.g. out of file descriptors) and says so.
 */
export async function checkIdleConnections(
  port: number,
  pid: number,
  count: number,
  options: IdleOptions = {},
): Promise<IdleResult> {
  const { concurrency = 200, replyDeadlineMs = 10_000 } = options;
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`Cannot check idle connections: count must be a positive integer, got ${count}`);
  }
  const conns: Deno.TcpConn[] = [];
  let error: string | undefined;
  let next = 0;
  let opened = 0;
  const opener = async () => {
    while (next < count && error === undefined) {
      const i = next++;
      let conn: Deno.TcpConn | undefined;
      try {
        conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conns.push(conn);
        const reply = await withDeadline(likeOnce(conn, `LikesServer1 1 idle${i} 1\n`), replyDeadlineMs, `idle${i}`);
        if (reply !== "0") throw new Error(`idle${i} was answered ${JSON.stringify(reply)}`);
        opened++;
      } catch (e) {
        error ??= `connection ${i + 1} failed: ${(e as Error).message}`;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, opener));
    const memory = readMemory(pid);
    const started = performance.now();
    let freshServed = false;
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        freshServed = await withDeadline(likeOnce(conn, "LikesServer1 1 fresh 1\n"), replyDeadlineMs, "fresh") === "0";
      } finally {
        conn.close();
      }
    } catch (e) {
      error ??= `the new connection failed: ${(e as Error).message}`;
    }
    const freshMs = performance.now() - started;
    return {
      requested: count,
      opened,
      ...(error === undefined ? {} : { error }),
      rssMb: memory.rssMb,
      peakRssMb: memory.peakRssMb,
      freshServed,
      freshMs,
      openFileLimit: { load: readOpenFileLimit("self"), primary: readOpenFileLimit(pid) },
    };
  } finally {
    for (const conn of conns) {
      try {
        conn.close();
      } catch { /* closed by the primary */ }
    }
  }
}
