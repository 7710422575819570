import assert from "node:assert/strict";
import { abortable } from "../../lib/common/io.ts";
import { EventStreams } from "../../lib/dashboard/event_streams.ts";
import { createRouter, type HttpSources } from "../../lib/dashboard/router.ts";
import { Stats } from "../../lib/primary/stats.ts";

/** The router alone, served by Deno.serve on a free port: no node adapter involved. */
async function served(options: { maxStreams?: number; token?: string } = {}) {
  const state = { stopping: false, accepting: true };
  const sources: HttpSources = {
    stats: new Stats(),
    total: () => 7,
    accepting: () => state.accepting,
    problem: () => undefined,
  };
  const streams = new EventStreams(() => "data: {}\n\n", 60_000);
  const router = createRouter({ hostname: "127.0.0.1", sources, streams, stopping: () => state.stopping, ...options });
  const listening = Promise.withResolvers<number>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: (addr) => listening.resolve(addr.port) },
    router,
  );
  const port = await listening.promise;
  return {
    state,
    streams,
    port,
    async close() {
      streams.closeAll();
      await server.shutdown();
    },
  };
}

/** The status line of the answer to `request`, sent as raw bytes over a new connection. */
async function rawStatus(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    const buffer = new Uint8Array(1024);
    const n = await abortable(conn.read(buffer), AbortSignal.timeout(10_000));
    return new TextDecoder().decode(buffer.subarray(0, n ?? 0)).split("\r\n")[0];
  } finally {
    conn.close();
  }
}

Deno.test("router answers 404 for an unknown path and 405 for a write", async () => {
  const http = await served();
  try {
    const missing = await fetch(`http://127.0.0.1:${http.port}/nope`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(missing.status, 404);
    assert.equal(await missing.text(), "Not found\n");
    assert.equal(missing.headers.get("x-content-type-options"), "nosniff");
    const post = await fetch(`http://127.0.0.1:${http.port}/healthz`, {
      method: "POST",
      body: "x",
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();
  } finally {
    await http.close();
  }
});

Deno.test("router answers 421 to a Host that is neither a loopback name nor the configured host", async () => {
  const http = await served();
  try {
    const request = (host: string) => `GET /api/stats HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
    assert.equal(await rawStatus(http.port, request("rebound.example")), "HTTP/1.1 421 Misdirected Request");
    assert.equal(await rawStatus(http.port, request(`localhost:${http.port}`)), "HTTP/1.1 200 OK");
    assert.equal(await rawStatus(http.port, request(`127.0.0.1:${http.port}`)), "HTTP/1.1 200 OK");
  } finally {
    await http.close();
  }
});

Deno.test("router serves the stats, the metrics and the health from its sources", async () => {
  const http = await served();
  try {
    const stats =
      await (await fetch(`http://127.0.0.1:${http.port}/api/stats`, { signal: AbortSignal.timeout(10_000) })).json();
    assert.equal(stats.total, 7);
    assert.match(
      await (await fetch(`http://127.0.0.1:${http.port}/metrics`, { signal: AbortSignal.timeout(10_000) })).text(),
      /^likes_total 7$/m,
    );
    http.state.accepting = false;
    const health = await fetch(`http://127.0.0.1:${http.port}/healthz`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(health.status, 503);
    assert.equal(await health.text(), "unhealthy: not accepting likes\n");
  } finally {
    await http.close();
  }
});

Deno.test("router refuses a live stream beyond maxStreams and any while stopping", async () => {
  const http = await served({ maxStreams: 1 });
  try {
    const first = await fetch(`http://127.0.0.1:${http.port}/events`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(first.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const reader = first.body!.getReader();
    assert.ok((await reader.read()).value);
    assert.equal(http.streams.size, 1);
    const second = await fetch(`http://127.0.0.1:${http.port}/events`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(second.status, 503);
    assert.equal(second.headers.get("retry-after"), "10");
    await second.body?.cancel();
    await reader.cancel();
    http.streams.closeAll();
    http.state.stopping = true;
    const late = await fetch(`http://127.0.0.1:${http.port}/events`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(late.status, 503);
    assert.equal(await late.text(), "Shutting down\n");
  } finally {
    await http.close();
  }
});

Deno.test("createRouter() refuses a maxStreams that is not a positive integer", () => {
  const sources = { stats: new Stats(), total: () => 0, accepting: () => true, problem: () => undefined };
  const streams = new EventStreams(() => "", 1000);
  for (const maxStreams of [0, -1, 1.5, NaN]) {
    assert.throws(() => createRouter({ hostname: "127.0.0.1", sources, streams, maxStreams }), {
      name: "RangeError",
      message: /^Cannot route HTTP requests: maxStreams must be a positive integer/,
    });
  }
});

Deno.test("router with a token answers 401 to a request without it or with a wrong one, and serves one that presents it", async () => {
  const http = await served({ token: "s3cret" });
  try {
    const status = async (headers: Record<string, string>) => {
      const response = await fetch(`http://127.0.0.1:${http.port}/api/stats`, { headers });
      await response.body?.cancel();
      return { status: response.status, challenge: response.headers.get("www-authenticate") };
    };
    assert.deepEqual(await status({}), { status: 401, challenge: 'Bearer realm="likes", Basic realm="likes"' });
    assert.equal((await status({ authorization: "Bearer wrong" })).status, 401);
    assert.equal((await status({ authorization: "Bearer s3cret" })).status, 200);
    // A browser, after its own prompt: Basic, with the token as the password.
    assert.equal((await status({ authorization: `Basic ${btoa("anyone:s3cret")}` })).status, 200);
    assert.equal((await status({ authorization: `Basic ${btoa("s3cret")}` })).status, 401);
  } finally {
    await http.close();
  }
});
