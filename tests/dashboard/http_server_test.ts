import assert from "node:assert/strict";
import { type HttpServer, type HttpSources, startHttp, statsJson } from "../../lib/dashboard/http_server.ts";
import { Stats } from "../../lib/primary/stats.ts";
import { exchange } from "../support/client.ts";
import { startPrimary } from "../support/primary.ts";
import { parseExposition } from "../support/prometheus.ts";

interface Got {
  status: number;
  headers: Headers;
  body: string;
}

async function get(port: number, path: string, init?: RequestInit): Promise<Got> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, init);
  return { status: response.status, headers: response.headers, body: await response.text() };
}

/** Reads Server-Sent Events from a response body, each with a deadline. */
class EventReader {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(response: Response) {
    this.#reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next event's data, or undefined when the stream ended. */
  async next(deadline = 10_000): Promise<string | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`No event within ${deadline}ms`)), deadline);
    });
    try {
      while (true) {
        const end = this.#buffer.indexOf("\n\n");
        if (end >= 0) {
          const event = this.#buffer.slice(0, end);
          this.#buffer = this.#buffer.slice(end + 2);
          const data = event.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
          if (data.length > 0) return data.join("\n");
          continue;
        }
        const { value, done } = await Promise.race([this.#reader.read(), timeout]);
        if (done) return undefined;
        this.#buffer += value;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reads events until one satisfies `match`; returns its JSON. */
  async until(match: (stats: Record<string, unknown>) => boolean, deadline = 10_000) {
    const end = Date.now() + deadline;
    while (true) {
      const data = await this.next(Math.max(1, end - Date.now()));
      if (data === undefined) throw new Error("Stream ended");
      const stats = JSON.parse(data);
      if (match(stats)) return stats;
    }
  }

  cancel(): Promise<void> {
    return this.#reader.cancel().catch(() => {});
  }
}

async function waitFor(what: string, condition: () => boolean, deadline = 10_000): Promise<void> {
  const end = Date.now() + deadline;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A real HTTP server in this process, fed by a Stats the test controls. */
async function inProcess(options?: Parameters<typeof startHttp>[3]) {
  const state = { total: 0, accepting: true, problem: undefined as string | undefined };
  const sources: HttpSources = {
    stats: new Stats(),
    total: () => state.total,
    accepting: () => state.accepting,
    problem: () => state.problem,
  };
  const http: HttpServer = await startHttp("127.0.0.1", 0, sources, options);
  return { state, sources, http, port: http.addr.port };
}

Deno.test("primary's HTTP endpoints report the likes sent over TCP", async () => {
  const primary = await startPrimary();
  try {
    const replies = await exchange(
      primary.port,
      "LikesServer3 23\nLikesServer1 5\nLikesServer3 4\nhello\nLikesServer2 7 p1 1\nLikesServer2 7 p1 1\n",
      6,
    );
    assert.deepEqual(replies, ["0", "0", "0", "1 unknown message", "0", "0 duplicate"]);

    const health = await get(primary.httpPort, "/healthz");
    assert.equal(health.status, 200);
    assert.equal(health.body, "ok\n");

    const api = await get(primary.httpPort, "/api/stats");
    assert.equal(api.status, 200);
    assert.match(api.headers.get("content-type")!, /^application\/json/);
    const stats = JSON.parse(api.body);
    assert.equal(stats.total, 39);
    assert.equal(stats.accepted, 4);
    assert.equal(stats.duplicates, 1);
    assert.equal(stats.invalid, 1);
    assert.equal(stats.serverCount, 3);
    assert.deepEqual(
      stats.servers.map((s: { name: string; likes: number; messages: number }) => [s.name, s.likes, s.messages]),
      [["LikesServer1", 5, 1], ["LikesServer2", 7, 2], ["LikesServer3", 27, 2]],
    );
    assert.equal(stats.history.likes.length, 300);
    assert.equal(stats.history.likes.reduce((a: number, b: number) => a + b, 0), 39);

    const scrape = await get(primary.httpPort, "/metrics");
    assert.equal(scrape.status, 200);
    assert.equal(scrape.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const metrics = parseExposition(scrape.body);
    assert.equal(metrics.value("likes_total"), 39);
    assert.equal(metrics.value("likes_messages_total", { result: "accepted" }), 4);
    assert.equal(metrics.value("likes_messages_total", { result: "duplicate" }), 1);
    assert.equal(metrics.value("likes_messages_total", { result: "invalid" }), 1);
    assert.equal(metrics.value("likes_messages_total", { result: "failed" }), 0);
    assert.equal(metrics.value("likes_server_likes_total", { server: "LikesServer3" }), 27);
    assert.equal(metrics.value("likes_server_likes_total", { server: "LikesServer2" }), 7);
    assert.equal(metrics.value("likes_connections_total"), 1);
    assert.equal(metrics.value("likes_connections_open"), 0);
    // The six lines arrived in one read: one batch, one commit.
    assert.ok(metrics.value("likes_commit_duration_seconds_count") >= 1);
    assert.equal(
      metrics.value("likes_commit_duration_seconds_bucket", { le: "+Inf" }),
      metrics.value("likes_commit_duration_seconds_count"),
    );
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
});

Deno.test("primary serves the dashboard page and its chart library itself", async () => {
  const primary = await startPrimary();
  try {
    const page = await get(primary.httpPort, "/");
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(page.headers.get("content-security-policy")!, /default-src 'none'/);
    assert.match(page.body, /<div class="big" id="total"/);
    assert.ok(!/https?:\/\//.test(page.body), "the page loads nothing from elsewhere");
    const js = /<script src="(\/uplot\.js\?v=[\w-]+)"/.exec(page.body)?.[1];
    const css = /<link rel="stylesheet" href="(\/uplot\.css\?v=[\w-]+)"/.exec(page.body)?.[1];
    assert.ok(js && css, "the page links the library by versioned URL");

    const library = await get(primary.httpPort, js);
    assert.equal(library.status, 200);
    assert.equal(library.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(library.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.match(library.body, /uPlot/);
    const revalidated = await get(primary.httpPort, js, { headers: { "if-none-match": library.headers.get("etag")! } });
    assert.equal(revalidated.status, 304);

    const gzipped = await fetch(`http://127.0.0.1:${primary.httpPort}${js}`, {
      headers: { "accept-encoding": "gzip" },
    });
    assert.equal(gzipped.headers.get("content-encoding"), "gzip");
    assert.ok(Number(gzipped.headers.get("content-length")) < library.body.length / 2, "gzip halves uPlot at least");
    assert.equal(await gzipped.text(), library.body);
    const plain = await fetch(`http://127.0.0.1:${primary.httpPort}${js}`, {
      headers: { "accept-encoding": "identity" },
    });
    assert.equal(plain.headers.get("content-encoding"), null);
    assert.equal(await plain.text(), library.body);

    const style = await get(primary.httpPort, css);
    assert.equal(style.status, 200);
    assert.equal(style.headers.get("content-type"), "text/css; charset=utf-8");
    assert.match(style.body, /\.uplot/);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
});

Deno.test("primary's HTTP side answers 404 for unknown paths and 405 for writes", async () => {
  const primary = await startPrimary();
  try {
    const missing = await get(primary.httpPort, "/nope");
    assert.equal(missing.status, 404);
    assert.equal(missing.body, "Not found\n");
    const post = await get(primary.httpPort, "/api/stats", { method: "POST", body: "x" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
});

Deno.test("primary stops promptly on SIGTERM while a dashboard stream is open", async () => {
  const primary = await startPrimary();
  const response = await fetch(`http://127.0.0.1:${primary.httpPort}/events`);
  const events = new EventReader(response);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assert.equal(JSON.parse((await events.next())!).total, 0);
    const deadline = new Promise<"deadline">((resolve) => timer = setTimeout(() => resolve("deadline"), 10_000));
    const status = await Promise.race([primary.stop("SIGTERM"), deadline]);
    assert.notEqual(status, "deadline", "the primary did not exit within 10 s of SIGTERM");
    assert.equal((status as Deno.CommandStatus).code, 0);
    assert.match(primary.output(), /stopped by SIGTERM/);
    // The server ended the stream instead of leaving it hanging.
    while (await events.next().catch(() => undefined) !== undefined) { /* drain */ }
  } finally {
    clearTimeout(timer);
    await events.cancel();
    await primary.stop("SIGKILL");
  }
});

Deno.test("/healthz answers 503 with the reason when not accepting or when storage fails", async () => {
  const { state, http, port } = await inProcess();
  try {
    assert.equal((await get(port, "/healthz")).status, 200);
    state.accepting = false;
    const stopping = await get(port, "/healthz");
    assert.equal(stopping.status, 503);
    assert.equal(stopping.body, "unhealthy: not accepting likes\n");
    state.accepting = true;
    state.problem = "Cannot write to the log /x: No space left on device";
    const failing = await get(port, "/healthz");
    assert.equal(failing.status, 503);
    assert.equal(failing.body, "unhealthy: Cannot write to the log /x: No space left on device\n");
  } finally {
    await http.shutdown();
  }
});

Deno.test("/events sends the stats at once and again each interval as likes arrive", async () => {
  const { state, sources, http, port } = await inProcess({ streamInterval: 100 });
  const events = new EventReader(await fetch(`http://127.0.0.1:${port}/events`));
  try {
    const first = JSON.parse((await events.next())!);
    assert.equal(first.total, 0);
    assert.deepEqual(Object.keys(first), Object.keys(statsJson(sources)));
    sources.stats.recordLike(4, 5, false, Date.now());
    state.total = 5;
    const later = await events.until((s) => s.total === 5);
    assert.deepEqual((later.servers as { name: string; likes: number }[]).map((s) => [s.name, s.likes]), [
      ["LikesServer4", 5],
    ]);
  } finally {
    await events.cancel();
    await http.shutdown();
  }
});

Deno.test("/events stops serving a client that disconnects and limits open streams", async () => {
  const { http, port } = await inProcess({ maxStreams: 1, streamInterval: 100 });
  try {
    const events = new EventReader(await fetch(`http://127.0.0.1:${port}/events`));
    await events.next();
    assert.equal(http.streams, 1);
    const refused = await get(port, "/events");
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "10");
    await events.cancel();
    await waitFor("the stream to be dropped", () => http.streams === 0);
    const again = new EventReader(await fetch(`http://127.0.0.1:${port}/events`));
    assert.ok(await again.next());
    await again.cancel();
    await waitFor("the second stream to be dropped", () => http.streams === 0);
  } finally {
    await http.shutdown();
  }
});

Deno.test("statsJson() carries this primary's share only on a shared store", () => {
  const sources = { stats: new Stats(1000), total: () => 30, accepting: () => true, problem: () => undefined };
  assert.equal("share" in statsJson(sources), false);
  assert.equal(statsJson({ ...sources, share: () => 12 }).share, 12);
});

Deno.test("statsJson() keeps only the busiest LikesServers when asked for fewer", () => {
  const stats = new Stats(1000);
  for (let id = 1; id <= 5; id++) stats.recordLike(id, id * 2, false, 2000);
  const json = statsJson({ stats, total: () => 30, accepting: () => true, problem: () => undefined }, 3000, 2);
  assert.equal(json.serverCount, 5);
  assert.deepEqual((json.servers as { name: string }[]).map((s) => s.name), ["LikesServer4", "LikesServer5"]);
  assert.equal(json.uptimeSeconds, 2);
});

Deno.test("the dashboard's self-check never mistakes a listener that accepts for a dead one", async () => {
  const said: string[] = [];
  const error = console.error;
  console.error = (...args: unknown[]) => said.push(args.join(" "));
  const { http } = await inProcess({ probeInterval: 10 });
  try {
    // Probes for longer than one may wait to be taken (3 s): each is accepted, some before the prober registered it.
    await new Promise((resolve) => setTimeout(resolve, 4500));
  } finally {
    await http.shutdown();
    console.error = error;
  }
  assert.deepEqual(said.filter((line) => line.includes("listening again")), []);
});
