/**
 * Test support: model seed-era PrimaryLikesServers, as written against the
 * original assignment. Each treats one read as one message, parses only
 * `LikesServer<N> <likes>` (sscanf-style: the first two fields), keeps a
 * total, and answers in its own words and framing:
 *
 * - `ack`: `ACK\n`, keeping the connection;
 * - `one`: `1` and a NUL (a C string sent with strlen + 1) for success;
 * - `padded`: `Received likes count` in a NUL-padded 1024-byte buffer;
 * - `once`: `Likes received`, no terminator, then closes: one message per connection;
 * - `bare`: `1`, no terminator, keeping the connection (`zero`: the same with `0`);
 * - `cstring`: `0\0a\0%s %`, a C string inside a fixed 8-byte buffer, keeping the connection.
 *
 * None keeps ids: a message sent twice is counted twice. With `connections`,
 * one accepts exactly that many connections (one per LikesServer, as the
 * original assignment's LikesServers connect once), then stops listening.
 *
 * And one that never answers: startResettingPrimary() resets each connection
 * after reading a message, as a seed-era primary that crashes or bails out does.
 */
import net from "node:net";

export type SeedPrimaryKind = "ack" | "one" | "padded" | "once" | "bare" | "zero" | "cstring";

export const SEED_PRIMARY_KINDS: SeedPrimaryKind[] = ["ack", "one", "padded", "once", "bare", "cstring"];

export interface SeedPrimary {
  port: number;
  /** Sum of the likes of every message it parsed. */
  total(): number;
  /** Messages it read (parsed or not). */
  messages(): number;
  /** Connections it accepted. */
  connections(): number;
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function answer(kind: SeedPrimaryKind): Uint8Array {
  switch (kind) {
    case "ack":
      return encoder.encode("ACK\n");
    case "one":
      return encoder.encode("1\0");
    case "padded": {
      const buffer = new Uint8Array(1024);
      buffer.set(encoder.encode("Received likes count"));
      return buffer;
    }
    case "once":
      return encoder.encode("Likes received");
    case "bare":
      return encoder.encode("1");
    case "zero":
      return encoder.encode("0");
    case "cstring":
      return encoder.encode("0\0a\0%s %");
  }
}

/** Starts a model seed-era primary on an ephemeral loopback port; `connections`: how many it accepts in all. */
export function startSeedPrimary(kind: SeedPrimaryKind, options: { connections?: number } = {}): SeedPrimary {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let total = 0;
  let messages = 0;
  let accepted = 0;
  const serve = async (conn: Deno.Conn) => {
    const buffer = new Uint8Array(1024);
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) return;
        messages++;
        const match = /^LikesServer(\d+) (\d+)/.exec(decoder.decode(buffer.subarray(0, n)));
        if (match) total += Number(match[2]);
        const reply = answer(kind);
        for (let written = 0; written < reply.length;) written += await conn.write(reply.subarray(written));
        if (kind === "once") return;
      }
    } catch {
      // The client went away.
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      serve(conn);
      // Later LikesServers' connections are refused: the port is closed.
      if (++accepted === options.connections) listener.close();
    }
  })().catch(() => {/* listener closed */});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    total: () => total,
    messages: () => messages,
    connections: () => accepted,
    async close() {
      try {
        listener.close();
      } catch { /* closed after its last connection */ }
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      await accepting;
    },
  };
}

/**
 * Starts a model seed-era primary that reads one message per connection and
 * then resets the connection (SO_LINGER 0 and close: a RST) without a reply.
 * Its total counts what it read: it may have counted the like before failing.
 */
export async function startResettingPrimary(): Promise<SeedPrimary> {
  let total = 0;
  let messages = 0;
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {/* the client went away */});
    socket.once("data", (data) => {
      messages++;
      const match = /^LikesServer(\d+) (\d+)/.exec(decoder.decode(data));
      if (match) total += Number(match[2]);
      socket.resetAndDestroy();
    });
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    total: () => total,
    messages: () => messages,
    connections: () => accepted,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
