/**
 * Test support: model seed-era LikesServer clients, as written in C against
 * the original assignment, in TypeScript (and the same three in C, built by
 * the test when a compiler is present: seed_client.c). Each sends one message
 * per send() and then waits for the answer:
 *
 * - `bare`: the message with no newline, on one connection for all messages;
 * - `padded`: the whole 1024-byte buffer: the message, its NUL, then
 *   uninitialised-looking garbage that holds a newline and a valid-looking message;
 * - `half-close`: one connection per message, closing its write side after sending.
 */

export type SeedClientKind = "bare" | "padded" | "half-close";

export const SEED_CLIENT_KINDS: SeedClientKind[] = ["bare", "padded", "half-close"];

export interface SeedReply {
  /** The reply bytes as text, terminator included (`0\0`, `1 likes above maximum\0`). */
  reply: string;
  /** Time from the send to the reply. */
  ms: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a padded client's buffer holds after the message's NUL. */
export const GARBAGE = "\x7f\x13GARBAGE\nLikesServer9 40\n\xff";

/** The buffer (1024 bytes unless told) a `send(fd, buf, sizeof buf, 0)` client sends. */
export function paddedBuffer(message: string, size = 1024): Uint8Array {
  const buffer = new Uint8Array(size).fill(0x78);
  const bytes = encoder.encode(message);
  buffer.set(bytes);
  buffer[bytes.length] = 0;
  buffer.set(Uint8Array.from(GARBAGE, (c) => c.charCodeAt(0)), bytes.length + 5);
  return buffer;
}

export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) written += await conn.write(bytes.subarray(written));
}

/** Reads one reply: up to its NUL or newline, or the peer's close; bounded by a deadline. */
export async function readReply(conn: Deno.Conn, deadline: number): Promise<string> {
  const buffer = new Uint8Array(1024);
  let bytes = new Uint8Array(0);
  const timer = setTimeout(() => conn.close(), deadline);
  try {
    while (!bytes.includes(0) && !bytes.includes(0x0a)) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      const joined = new Uint8Array(bytes.length + n);
      joined.set(bytes);
      joined.set(buffer.subarray(0, n), bytes.length);
      bytes = joined;
    }
  } finally {
    clearTimeout(timer);
  }
  return decoder.decode(bytes);
}

/** Sends `messages` the way a `kind` client does; returns each reply with its time. */
export async function runSeedClient(
  kind: SeedClientKind,
  port: number,
  messages: string[],
  deadline = 5000,
): Promise<SeedReply[]> {
  const replies: SeedReply[] = [];
  let shared: Deno.TcpConn | undefined;
  try {
    for (const message of messages) {
      const conn = kind === "half-close"
        ? await Deno.connect({ hostname: "127.0.0.1", port })
        : shared ??= await Deno.connect({ hostname: "127.0.0.1", port });
      const started = performance.now();
      await writeAll(conn, kind === "padded" ? paddedBuffer(message) : encoder.encode(message));
      if (kind === "half-close") await conn.closeWrite();
      const reply = await readReply(conn, deadline);
      replies.push({ reply, ms: performance.now() - started });
      if (kind === "half-close") conn.close();
    }
  } finally {
    try {
      shared?.close();
    } catch { /* closed by the deadline */ }
  }
  return replies;
}

/** Builds seed_client.c into `dir` with the system's C compiler (requirement("cc")); returns the binary's path. */
export async function buildSeedClient(dir: string): Promise<string> {
  const source = new URL("seed_client.c", import.meta.url).pathname;
  const binary = `${dir}/seed_client`;
  const { success, stderr } = await new Deno.Command("cc", {
    args: ["-O1", "-o", binary, source],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`cc failed: ${decoder.decode(stderr)}`);
  return binary;
}

/** Runs the C client: one reply per message, with its NUL when the reply was exactly a C string. */
export async function runCSeedClient(
  binary: string,
  kind: SeedClientKind,
  port: number,
  messages: string[],
): Promise<SeedReply[]> {
  const { success, stdout, stderr } = await new Deno.Command(binary, {
    args: [kind, String(port), ...messages],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  if (!success) throw new Error(`seed_client ${kind} failed: ${decoder.decode(stderr)}`);
  return decoder.decode(stdout).trim().split("\n").map((line) => {
    const [ms, received, ...words] = line.split(" ");
    const text = words.join(" ");
    // Received one byte more than the C string: its NUL terminator.
    return { ms: Number(ms), reply: Number(received) === text.length + 1 ? `${text}\0` : text };
  });
}
