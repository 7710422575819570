import assert from "node:assert/strict";
import {
  abortable,
  closeQuietly,
  concatBytes,
  decimalDigits,
  isTimeout,
  readAtSync,
  writeAll,
  writeAllSync,
  writeDecimal,
} from "../../lib/common/io.ts";
import { tempDir } from "../support/temp.ts";

/** Reads everything from `conn` until the peer closes. */
async function readToEnd(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(65536);
  for (let n; (n = await conn.read(buffer)) !== null;) chunks.push(buffer.slice(0, n));
  const all = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) all.set(chunk, (at += chunk.length) - chunk.length);
  return all;
}

Deno.test("writeAll() sends every byte of a buffer larger than one socket write takes", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  // Larger than the socket buffers, so the kernel takes it in several partial writes.
  const bytes = new Uint8Array(8 * 1024 * 1024).map((_, i) => i * 7);
  try {
    const accepted = listener.accept();
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const server = await accepted;
    const received = readToEnd(server);
    await writeAll(client, bytes);
    client.close();
    const got = await received;
    server.close();
    assert.equal(got.length, bytes.length);
    assert.deepEqual(got, bytes);
  } finally {
    listener.close();
  }
});

Deno.test("writeAll() keeps calling write() until a writer that takes a few bytes at a time has them all", async () => {
  const taken: number[] = [];
  const writer = {
    write(chunk: Uint8Array) {
      taken.push(...chunk.subarray(0, 3));
      return Promise.resolve(Math.min(3, chunk.length));
    },
  };
  await writeAll(writer, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
  assert.deepEqual(taken, [1, 2, 3, 4, 5, 6, 7, 8]);
});

Deno.test("writeAllSync() writes every byte to a real file", async () => {
  const path = `${await tempDir()}/out`;
  const text = "line\n".repeat(200_000);
  const file = Deno.openSync(path, { write: true, create: true });
  try {
    writeAllSync(file, new TextEncoder().encode(text));
  } finally {
    file.close();
  }
  assert.equal(Deno.readTextFileSync(path), text);
});

Deno.test("closeQuietly() closes a connection, and a second close or undefined does not throw", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const accepted = listener.accept();
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const server = await accepted;
    closeQuietly(client);
    assert.throws(() => client.close(), Deno.errors.BadResource);
    closeQuietly(client);
    closeQuietly(undefined);
    // The peer sees the close as end of stream.
    assert.equal(await server.read(new Uint8Array(1)), null);
    server.close();
  } finally {
    listener.close();
  }
});

Deno.test("abortable() settles with the work when it finishes first", async () => {
  assert.equal(await abortable(Promise.resolve(7), AbortSignal.timeout(10_000)), 7);
  await assert.rejects(abortable(Promise.reject(new Error("boom")), AbortSignal.timeout(10_000)), /boom/);
});

Deno.test("abortable() gives up on a socket read that never ends when the timeout fires", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const accepted = listener.accept();
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const server = await accepted;
    // Nobody writes: the read waits forever.
    const reading = client.read(new Uint8Array(16));
    const error = await abortable(reading, AbortSignal.timeout(50)).catch((e) => e);
    assert.ok(isTimeout(error), String(error));
    // The caller cleans up what it gave up on.
    client.close();
    await reading.catch(() => {});
    server.close();
  } finally {
    listener.close();
  }
});

Deno.test("abortable() rejects with the reason of any of several signals, and at once when already aborted", async () => {
  const stop = new AbortController();
  const never = new Promise<never>(() => {});
  const waiting = abortable(never, AbortSignal.any([AbortSignal.timeout(10_000), stop.signal]));
  stop.abort(new Error("stopped"));
  await assert.rejects(waiting, /stopped/);
  await assert.rejects(abortable(Promise.resolve(1), stop.signal), /stopped/);
  assert.ok(!isTimeout(new Error("stopped")));
});

Deno.test("writeDecimal() writes integers as `${value}` does, up to the largest safe integer", () => {
  const values = [0, 7, 9, 10, 99, 100, 12345, 0x7fffffff, 0x80000000, 10 ** 15, Number.MAX_SAFE_INTEGER];
  for (const value of values) {
    const out = new Uint8Array(20).fill(0x2e);
    const end = writeDecimal(out, 2, value);
    assert.equal(end, 2 + String(value).length, String(value));
    assert.equal(decimalDigits(value), String(value).length);
    assert.equal(new TextDecoder().decode(out.subarray(0, end + 1)), `..${value}.`);
  }
});

Deno.test("concatBytes() joins parts in order, empty ones included", () => {
  assert.deepEqual(
    concatBytes([new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array([3])]),
    new Uint8Array([1, 2, 3]),
  );
  assert.deepEqual(concatBytes([]), new Uint8Array(0));
});

Deno.test("readAtSync() fills the buffer from the offset, and stops at the end of the file", async () => {
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(path, "0123456789");
    using file = await Deno.open(path, { read: true });
    const buffer = new Uint8Array(4);
    assert.equal(readAtSync(file, 3, buffer), 4);
    assert.equal(new TextDecoder().decode(buffer), "3456");
    assert.equal(readAtSync(file, 8, buffer), 2);
    assert.equal(new TextDecoder().decode(buffer.subarray(0, 2)), "89");
    assert.equal(readAtSync(file, 20, buffer), 0);
  } finally {
    await Deno.remove(path);
  }
});
