/** Test support: a raw TCP client speaking the line protocol. */
import { closeQuietly, writeAll } from "../../lib/common/io.ts";

const encoder = new TextEncoder();

/** Connects, sends `data` (lines or raw bytes), reads `expected` reply lines, closes. */
export async function exchange(
  port: number,
  data: string | Uint8Array,
  expected: number,
  deadline = 10_000,
): Promise<string[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(conn, typeof data === "string" ? encoder.encode(data) : data);
    return await readReplies(conn, expected, deadline);
  } finally {
    closeQuietly(conn);
  }
}

/** Reads reply lines until `expected` have arrived, the peer closes, or the deadline passes. */
export async function readReplies(conn: Deno.Conn, expected: number, deadline = 10_000): Promise<string[]> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(65536);
  let text = "";
  const timer = setTimeout(() => conn.close(), deadline);
  try {
    while (text.split("\n").length - 1 < expected) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
  return text.split("\n").slice(0, -1);
}

/** Reads until the peer closes or the deadline passes; the bytes as latin1 text, NULs and all. */
export async function readAll(conn: Deno.Conn, deadline = 10_000): Promise<string> {
  const buffer = new Uint8Array(1024);
  let text = "";
  const timer = setTimeout(() => conn.close(), deadline);
  try {
    for (let n; (n = await conn.read(buffer).catch(() => null)) !== null;) {
      for (const b of buffer.subarray(0, n)) text += String.fromCharCode(b);
    }
  } finally {
    clearTimeout(timer);
  }
  return text;
}

/** Pipelines `lines` on one connection while reading replies; calls `onReply` with the count so far. */
export async function pipeline(
  port: number,
  lines: string[],
  onReply: (count: number) => void = () => {},
): Promise<string[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const writing = writeAll(conn, encoder.encode(lines.map((line) => `${line}\n`).join("")))
    .catch(() => {/* the primary is gone */});
  const replies: string[] = [];
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(65536);
  let text = "";
  const timer = setTimeout(() => conn.close(), 15_000);
  try {
    while (replies.length < lines.length) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n));
      const parts = text.split("\n");
      text = parts.pop()!;
      replies.push(...parts);
      onReply(replies.length);
    }
  } finally {
    clearTimeout(timer);
    closeQuietly(conn);
  }
  await writing;
  return replies;
}

/** Reads until the server closes the connection; `closed` is false when the deadline came first. */
export async function untilClosed(conn: Deno.Conn, deadline = 10_000): Promise<{ text: string; closed: boolean }> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(65536);
  let text = "";
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, deadline);
  try {
    while (true) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
  } finally {
    clearTimeout(timer);
    if (!timedOut) closeQuietly(conn);
  }
  return { text, closed: !timedOut };
}
