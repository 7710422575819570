import assert from "node:assert/strict";
import { LikesClient, SendError } from "../../lib/producer/client.ts";
import { freePort } from "../support/parent.ts";
import { closeQuietly } from "../../lib/common/io.ts";

/** A one-connection-at-a-time line server whose behaviour each test scripts. */
function scriptedServer(respond: (line: string, conn: Deno.Conn) => Promise<void> | void) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      connections.push(conn);
      (async () => {
        const buffer = new Uint8Array(1024);
        let text = "";
        for (let n; (n = await conn.read(buffer).catch(() => null)) !== null;) {
          text += new TextDecoder().decode(buffer.subarray(0, n));
          let newline;
          while ((newline = text.indexOf("\n")) !== -1) {
            const line = text.slice(0, newline);
            text = text.slice(newline + 1);
            await respond(line, conn);
          }
        }
      })();
    }
  })();
  return {
    port: listener.addr.port,
    accepted: () => connections.length,
    async close() {
      listener.close();
      for (const conn of connections) {
        closeQuietly(conn);
      }
      await serving.catch(() => {});
    },
  };
}

const reply = (conn: Deno.Conn, text: string) => conn.write(new TextEncoder().encode(`${text}\n`)).then(() => {});

Deno.test("LikesClient sends a line and returns the reply, over one connection", async () => {
  const server = scriptedServer((line, conn) => reply(conn, line === "LikesServer1 5" ? "0" : "1 unexpected"));
  const client = new LikesClient({ port: server.port });
  try {
    assert.equal(await client.send("LikesServer1 5"), "0");
    assert.equal(await client.send("nonsense"), "1 unexpected");
    assert.equal(server.accepted(), 1);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("LikesClient fails with a connect SendError when nothing listens", async () => {
  const client = new LikesClient({ port: freePort() });
  const error = await client.send("LikesServer1 5").catch((e) => e);
  assert.ok(error instanceof SendError);
  assert.equal(error.phase, "connect");
  assert.equal(error.retryable, true);
  assert.match(error.message, /^Cannot connect to 127\.0\.0\.1:\d+: /);
});

Deno.test("LikesClient gives up on a reply after its timeout, then reconnects for the next send", async () => {
  let silent = true;
  const server = scriptedServer(async (_line, conn) => {
    if (!silent) await reply(conn, "0");
  });
  const client = new LikesClient({ port: server.port, timeout: 200 });
  try {
    const error = await client.send("LikesServer1 5").catch((e) => e);
    assert.ok(error instanceof SendError);
    assert.equal(error.phase, "receive");
    assert.match(error.message, /no reply within 200ms/);
    silent = false;
    assert.equal(await client.send("LikesServer1 5"), "0");
    assert.equal(server.accepted(), 2, "a fresh connection after the failure");
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("LikesClient reports a connection closed before the reply as a receive error", async () => {
  const server = scriptedServer((_line, conn) => conn.close());
  const client = new LikesClient({ port: server.port });
  try {
    const error = await client.send("LikesServer1 5").catch((e) => e);
    assert.ok(error instanceof SendError);
    assert.equal(error.phase, "receive");
    assert.match(error.message, /connection closed by the primary/);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("LikesClient authenticates each new connection and does not retry a refused token", async () => {
  const server = scriptedServer((line, conn) =>
    reply(conn, line === "AUTH good" ? "0 authenticated" : line.startsWith("AUTH") ? "1 bad token\u001b[31m" : "0")
  );
  const good = new LikesClient({ port: server.port, token: "good" });
  const bad = new LikesClient({ port: server.port, token: "bad" });
  try {
    assert.equal(await good.send("LikesServer1 5"), "0");
    const error = await bad.send("LikesServer1 5").catch((e) => e);
    assert.ok(error instanceof SendError);
    assert.equal(error.retryable, false);
    // The primary's words are escaped: no terminal escape reaches a log.
    assert.match(error.message, /refused the token: "1 bad token\\u001b\[31m"$/);
  } finally {
    good.close();
    bad.close();
    await server.close();
  }
});

const write = (conn: Deno.Conn, bytes: string) =>
  conn.write(Uint8Array.from(bytes, (c) => c.charCodeAt(0))).then(() => {});

Deno.test("LikesClient ends a reply at a NUL and skips the NUL padding before the next one", async () => {
  const server = scriptedServer((_line, conn) => write(conn, `0${"\0".repeat(100)}`));
  const client = new LikesClient({ port: server.port });
  try {
    assert.equal(await client.send("LikesServer1 5"), "0");
    assert.equal(await client.send("LikesServer1 6"), "0");
    assert.equal(server.accepted(), 1);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("LikesClient takes the peer's close as the end of a reply that has begun", async () => {
  const server = scriptedServer(async (_line, conn) => {
    await write(conn, "Likes received");
    conn.close();
  });
  const client = new LikesClient({ port: server.port });
  try {
    assert.equal(await client.send("LikesServer1 5"), "Likes received");
    // The connection is gone: the next send opens a new one.
    assert.equal(await client.send("LikesServer1 5"), "Likes received");
    assert.equal(server.accepted(), 2);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("LikesClient.sendAlone() uses a connection per message and returns any reply", async () => {
  const server = scriptedServer((line, conn) => write(conn, line === "LikesServer2 3" ? "ACK\n" : "1\0"));
  const client = new LikesClient({ port: server.port });
  try {
    assert.equal(await client.sendAlone("LikesServer2 3"), "ACK");
    assert.equal(await client.sendAlone("LikesServer2 4"), "1");
    assert.equal(server.accepted(), 2);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("LikesClient never reads the bytes after a reply's NUL as the next reply, and counts them as discarded", async () => {
  const server = scriptedServer((_line, conn) => write(conn, "0\0a\0%s %"));
  const client = new LikesClient({ port: server.port });
  try {
    assert.equal(await client.send("LikesServer1 5 p 1"), "0");
    assert.equal(await client.send("LikesServer1 6 p 2"), "0");
    assert.equal(client.takeDiscarded(), 12);
    assert.equal(client.takeDiscarded(), 0);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("LikesClient discards what arrives between replies instead of taking it as the next answer", async () => {
  let first = true;
  const server = scriptedServer(async (_line, conn) => {
    await write(conn, "0\n");
    if (!first) return;
    first = false;
    await new Promise((r) => setTimeout(r, 30));
    await write(conn, "1 stale\n");
  });
  const client = new LikesClient({ port: server.port });
  try {
    assert.equal(await client.send("LikesServer1 5"), "0");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await client.send("LikesServer1 6"), "0");
    assert.equal(client.takeDiscarded(), "1 stale\n".length);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("LikesClient ends a bare reply on a kept connection after the quiet period, long before the timeout", async () => {
  const server = scriptedServer((_line, conn) => write(conn, "1"));
  const client = new LikesClient({ port: server.port, timeout: 5000, quiet: 50 });
  try {
    for (const likes of [5, 6]) {
      const started = performance.now();
      assert.equal(await client.send(`LikesServer1 ${likes}`), "1");
      const ms = performance.now() - started;
      assert.ok(ms >= 40 && ms < 1000, `answered after ${ms}ms`);
    }
    assert.equal(server.accepted(), 1, "the connection is kept");
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("LikesClient opens a new connection when the primary closed the last one after its reply", async () => {
  const server = scriptedServer(async (_line, conn) => {
    await write(conn, "1\0");
    conn.close();
  });
  const client = new LikesClient({ port: server.port });
  try {
    assert.equal(await client.send("LikesServer1 5"), "1");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await client.send("LikesServer1 6"), "1");
    assert.equal(server.accepted(), 2);
  } finally {
    client.close();
    await server.close();
  }
});
