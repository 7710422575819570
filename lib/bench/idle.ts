/**
 * The idle-connections check: N producers connect, each sends one like and
 * gets it acknowledged, then all stay connected and quiet. With all of them
 * open the primary's memory is read, and a new producer must still be served.
 */
import { abortable, closeQuietly, isTimeout, writeAll } from "../common/io.ts";
import type { IdleResult } from "./report.ts";

export interface IdleOptions {
  /** Connections opened at once while ramping up. @default {200} */
  concurrency?: number;
  /** Deadline for each connection to connect and get its first reply, and for the new producer (ms). @default {10000} */
  replyDeadlineMs?: number;
  /**
   * Connections closed again when the open-file limit stops the opening, so
   * that both processes have descriptors to spare for the rest of the check
   * (the memory read, the new producer). @default {100}
   */
  headroom?: number;
  /**
   * Whether the primary has reported running out of file descriptors: it
   * then leaves new connections unaccepted, which looks like no reply here. @default {() => false}
   */
  primaryOutOfFiles?: () => boolean;
}

/** The primary's resident memory now and at its peak, MiB. */
export interface Memory {
  rssMb: number;
  peakRssMb: number;
}

const encoder = new TextEncoder();
/** How long connections already open may still wait for their reply once one has failed (ms). */
const GRACE_MS = 1000;

/**
 * Connects, sends one line and reads one reply line; returns the connection
 * and the reply without its newline. Gives up at the deadline, or at once when
 * `abandon` rejects.
 */
async function likeOnce(
  port: number,
  line: string,
  deadlineMs: number,
  abandon?: AbortSignal,
): Promise<[Deno.TcpConn, string]> {
  let conn: Deno.TcpConn | undefined;
  let gaveUp = false;
  const attempt = (async () => {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    // A connect that completes after we gave up is closed, not leaked.
    if (gaveUp) throw new Error("connected after giving up");
    await writeAll(conn, encoder.encode(line));
    const buffer = new Uint8Array(64);
    let reply = "";
    while (!reply.includes("\n")) {
      const n = await conn.read(buffer);
      if (n === null) {
        throw new Error(`Connection closed before a reply${reply ? ` (got ${JSON.stringify(reply)})` : ""}`);
      }
      reply += new TextDecoder().decode(buffer.subarray(0, n));
    }
    return [conn, reply.slice(0, reply.indexOf("\n"))] as [Deno.TcpConn, string];
  })();
  const deadline = AbortSignal.timeout(deadlineMs);
  try {
    return await abortable(attempt, abandon ? AbortSignal.any([deadline, abandon]) : deadline);
  } catch (error) {
    gaveUp = true;
    attempt.catch(() => {}).finally(() => closeQuietly(conn));
    closeQuietly(conn);
    throw isTimeout(error) ? new Error(`no reply within ${deadlineMs}ms`) : error;
  }
}

/** EMFILE (or ENFILE) from a syscall, as Deno words it. */
function isOutOfFiles(error: unknown): boolean {
  return /Too many open files|os error 2[34]\b/.test(String((error as Error)?.message ?? error));
}

/**
 * Opens `count` producer connections to the primary on `port`, reads its
 * memory with `readMemory` with them all open, and checks a new one is served.
 * Stops opening at the first failure and says so. When that failure is the
 * open-file limit (`ulimit -n`) of either process, it closes `headroom` of
 * the open ones and reports the check as capped at the rest.
 */
export async function checkIdleConnections(
  port: number,
  count: number,
  readMemory: () => Promise<Memory>,
  options: IdleOptions = {},
): Promise<IdleResult> {
  const { concurrency = 200, replyDeadlineMs = 10_000, headroom = 100, primaryOutOfFiles = () => false } = options;
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`Cannot check idle connections: count must be a positive integer, got ${count}`);
  }
  if (!Number.isInteger(headroom) || headroom < 0) {
    throw new RangeError(`Cannot check idle connections: headroom must be a non-negative integer, got ${headroom}`);
  }
  // Deno sets up its signal handling lazily (on first use, or some time
  // after start) and panics if it gets no descriptor for it then: have it
  // done now, while there are descriptors to spare.
  const noop = () => {};
  Deno.addSignalListener("SIGUSR2", noop);
  Deno.removeSignalListener("SIGUSR2", noop);
  const conns: Deno.TcpConn[] = [];
  let error: string | undefined;
  let outOfFiles = false;
  let next = 0;
  // The first failure stops the opening. Connections still waiting for their
  // reply get a moment to have it, then are given up rather than each waiting
  // out its deadline (a primary out of descriptors leaves them unaccepted).
  const abandon = new AbortController();
  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  const opener = async () => {
    while (next < count && error === undefined) {
      const i = next++;
      try {
        const [conn, reply] = await likeOnce(port, `LikesServer1 1 idle${i} 1\n`, replyDeadlineMs, abandon.signal);
        if (reply !== "0") {
          closeQuietly(conn);
          throw new Error(`idle${i} was answered ${JSON.stringify(reply)}`);
        }
        conns.push(conn);
      } catch (e) {
        if (error === undefined) {
          outOfFiles = isOutOfFiles(e) || primaryOutOfFiles();
          error = `connection ${i + 1} failed: ${(e as Error).message}`;
          graceTimer = setTimeout(
            () => abandon.abort(new Error("given up after an earlier connection failed")),
            GRACE_MS,
          );
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, opener));
    clearTimeout(graceTimer);
    if (outOfFiles) {
      for (const conn of conns.splice(Math.max(0, conns.length - headroom))) closeQuietly(conn);
      error = `capped at ${conns.length} by the open-file limit (ulimit -n): ${error}`;
    }
    // The new producer first: it goes to the primary's TCP side, whose accept
    // loop outlives running out of descriptors, and queues behind connections
    // given up above, so once it is served those are done with and the HTTP
    // side (which does not outlive it) can take the memory read.
    const started = performance.now();
    let freshServed = false;
    try {
      const [conn, reply] = await likeOnce(port, "LikesServer1 1 fresh 1\n", replyDeadlineMs);
      closeQuietly(conn);
      freshServed = reply === "0";
    } catch (e) {
      error ??= `the new connection failed: ${(e as Error).message}`;
    }
    const freshMs = performance.now() - started;
    const memory = await readMemory();
    return {
      requested: count,
      opened: conns.length,
      ...(error === undefined ? {} : { error }),
      rssMb: memory.rssMb,
      peakRssMb: memory.peakRssMb,
      freshServed,
      freshMs,
    };
  } finally {
    for (const conn of conns) closeQuietly(conn);
  }
}
