/**
 * The primary's HTTP side: live dashboard, Prometheus metrics, health and a
 * JSON view of the stats. Read-only: nothing here can change the count.
 *
 *   /              the dashboard (one small page, inline CSS and JS)
 *   /events        Server-Sent Events: the stats JSON once a second
 *   /api/stats     the same JSON, once
 *   /metrics       Prometheus text exposition
 *   /healthz       200 while accepting likes with working storage, else 503 and the reason
 *   /uplot.js, /uplot.css  the chart library, served from here so the page works offline
 *
 * A request whose Host is neither a loopback name nor the configured host is
 * answered 421 (DNS rebinding).
 *
 * Served over node:http rather than Deno.serve, which has no connection cap
 * and no header or idle timeout: idle or slow HTTP clients must not hold the
 * descriptors the likes port needs.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { gzipSync } from "node:zlib";
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import page from "./dashboard.html" with { type: "text" };
import { formatMetrics, METRICS_CONTENT_TYPE } from "./metrics.ts";
import type { Stats } from "../primary/stats.ts";
import { likesServerName } from "../protocol/names.ts";
import { abortable, closeQuietly } from "../common/io.ts";
import { sleep } from "../common/sleep.ts";

export interface HttpSources {
  stats: Stats;
  /** The committed total (on a shared store, the shared total as last heard). */
  total: () => number;
  /** On a store shared by several primaries: the likes this one accepted since it started. */
  share?: () => number;
  /** True while the TCP side accepts producers. */
  accepting: () => boolean;
  /** What is wrong with storage (a failed log or checkpoint write, a deleted log); undefined when nothing. */
  problem: () => string | undefined;
}

export interface HttpOptions {
  /** Live streams (/events) served at once; more are answered 503. @default {100} */
  maxStreams?: number;
  /** Time between two updates of a live stream (ms). @default {1000} */
  streamInterval?: number;
  /** LikesServers a live update carries at most, the busiest ones. @default {200} */
  streamServers?: number;
  /**
   * HTTP connections open at once (live streams included); more are closed as
   * soon as accepted. Far below the likes port's cap and the usual descriptor
   * limit, so that HTTP clients leave descriptors for producers. @default {64}
   */
  maxConnections?: number;
  /** Time a client has from connecting (or from its last response) to send complete request headers (ms). @default {10000} */
  headerTimeout?: number;
  /** Close a keep-alive connection with no request for this long (ms). @default {30000} */
  idleTimeout?: number;
  /** Time between two checks that the listener still accepts (ms). @default {1000} */
  probeInterval?: number;
}

export interface HttpServer {
  addr: Deno.NetAddr;
  /** Live streams open now. */
  readonly streams: number;
  /** HTTP connections open now. */
  readonly connections: number;
  /** Ends the live streams, then waits for the other requests to finish. */
  shutdown(): Promise<void>;
}

/** Seconds of likes-per-second history in the JSON: the dashboard's chart window. */
const CHART_SECONDS = 300;

/**
 * The JSON of /api/stats, also what the dashboard's live stream sends.
 * `maxServers` keeps a live update small when thousands of LikesServers have
 * sent: the busiest are kept, and `serverCount` tells how many there are.
 */
export function statsJson(sources: HttpSources, now = Date.now(), maxServers = Infinity): Record<string, unknown> {
  const { stats } = sources;
  let servers = [...stats.servers];
  if (servers.length > maxServers) servers = servers.sort((a, b) => b[1].likes - a[1].likes).slice(0, maxServers);
  return {
    now,
    total: sources.total(),
    ...(sources.share === undefined ? {} : { share: sources.share() }),
    uptimeSeconds: (now - stats.startedAt) / 1000,
    accepted: stats.accepted,
    duplicates: stats.duplicates,
    invalid: stats.invalid,
    failed: stats.failed,
    connectionsOpen: stats.connectionsOpen,
    serverCount: stats.servers.size,
    servers: servers.sort((a, b) => a[0] - b[0]).map(([id, s]) => ({
      name: likesServerName(id),
      ...s,
      connected: s.connections > 0,
    })),
    history: stats.history(now, CHART_SECONDS),
  };
}

interface Asset {
  body: string;
  /** The body compressed once at start-up: uPlot shrinks to less than half. */
  gzip: Uint8Array<ArrayBuffer>;
  type: string;
  etag: string;
}

function asset(body: string, type: string): Asset {
  const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 16)}"`;
  return { body, gzip: new Uint8Array(gzipSync(body, { level: 9 })), type, etag };
}

const uplotJsAsset = asset(uplotJs, "text/javascript; charset=utf-8");
const uplotCssAsset = asset(uplotCss, "text/css; charset=utf-8");
// The library's URLs carry its hash, so browsers may cache them for good.
const pageAsset = asset(
  page
    .replace(`src="/uplot.js"`, `src="/uplot.js?v=${uplotJsAsset.etag.slice(1, 9)}"`)
    .replace(`href="/uplot.css"`, `href="/uplot.css?v=${uplotCssAsset.etag.slice(1, 9)}"`),
  "text/html; charset=utf-8",
);

const COMMON_HEADERS = { "x-content-type-options": "nosniff" };
const PAGE_HEADERS = {
  ...COMMON_HEADERS,
  "cache-control": "no-cache",
  "referrer-policy": "no-referrer",
  "content-security-policy": "default-src 'none'; script-src 'self' 'unsafe-inline'; " +
    "style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
};
const LIBRARY_HEADERS = { ...COMMON_HEADERS, "cache-control": "public, max-age=31536000, immutable" };

// Deno.serve compresses only when asked (its automaticCompression option, or
// DENO_SERVE_AUTOMATIC_COMPRESSION=1), and then again on every request. The
// assets never change, so they are gzipped once at start-up at the highest
// level and sent as they are to clients that take gzip; a response that
// already has a Content-Encoding is one Deno never compresses again.
const ACCEPTS_GZIP = /(?:^|,)\s*(?:gzip|\*)\s*(?:,|$|;\s*q=(?!0(?:\.0*)?\s*(?:,|$)))/;

function serveAsset(request: Request, asset: Asset, headers: Record<string, string>): Response {
  const gzip = ACCEPTS_GZIP.test(request.headers.get("accept-encoding") ?? "");
  // Each encoding is its own representation, with its own tag.
  const etag = gzip ? `${asset.etag.slice(0, -1)}-gz"` : asset.etag;
  const common = { ...headers, etag, vary: "Accept-Encoding" };
  if (request.headers.get("if-none-match")?.split(/\s*,\s*/).includes(etag)) {
    return new Response(null, { status: 304, headers: common });
  }
  if (!gzip) return new Response(asset.body, { headers: { ...common, "content-type": asset.type } });
  return new Response(asset.gzip, { headers: { ...common, "content-type": asset.type, "content-encoding": "gzip" } });
}

function text(body: string, status: number, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: {
      ...COMMON_HEADERS,
      "content-type": "text/plain; charset=utf-8",
      "cache-control": "no-store",
      ...headers,
    },
  });
}

const encoder = new TextEncoder();

/**
 * The live streams share one timer and one JSON per tick, however many
 * dashboards are open; the timer runs only while a stream is open.
 */
class EventStreams {
  readonly #clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  readonly #event: () => string;
  readonly #interval: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(event: () => string, interval: number) {
    this.#event = event;
    this.#interval = interval;
  }

  get size(): number {
    return this.#clients.size;
  }

  open(): Response {
    let self: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        self = controller;
        this.#clients.add(controller);
        // The browser reconnects after 1 s when the primary restarts.
        controller.enqueue(encoder.encode(`retry: 1000\n${this.#event()}`));
        this.#timer ??= setInterval(() => this.#tick(), this.#interval);
      },
      // Called when the client goes away.
      cancel: () => this.#remove(self),
    });
    return new Response(body, {
      headers: {
        ...COMMON_HEADERS,
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
      },
    });
  }

  /** Ends every stream: a served response that never ends would keep shutdown() waiting. */
  closeAll(): void {
    for (const controller of [...this.#clients]) {
      this.#remove(controller);
      try {
        controller.close();
      } catch { /* already cancelled */ }
    }
  }

  #tick(): void {
    const chunk = encoder.encode(this.#event());
    for (const controller of this.#clients) {
      // A client that does not read gets no more queued: memory stays bounded,
      // and it catches up with the newest stats when it reads again.
      if ((controller.desiredSize ?? 0) > 0) controller.enqueue(chunk);
    }
  }

  #remove(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.#clients.delete(controller);
    if (this.#clients.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

/** Loopback names a browser on this machine may send as Host. */
const LOOPBACK_HOST = /^(?:localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])$/i;

/**
 * True when `host` (a Host header, port included) names this server: a
 * loopback name or the configured host. Anything else is a page on another
 * origin that had its name resolved to us (DNS rebinding) to read the stats.
 */
export function isAllowedHost(host: string | null, configured: string): boolean {
  if (host === null) return false;
  const name = host.replace(/:\d+$/, "").toLowerCase();
  const own = configured.toLowerCase();
  return LOOPBACK_HOST.test(name) || name === own || name === `[${own}]`;
}

/**
 * Serves HTTP on `hostname:port` until shutdown.
 *
 * @throws {Error} When it cannot listen
 */
export async function startHttp(
  hostname: string,
  port: number,
  sources: HttpSources,
  options: HttpOptions = {},
): Promise<HttpServer> {
  const {
    maxStreams = 100,
    streamInterval = 1000,
    streamServers = 200,
    maxConnections = 64,
    headerTimeout = 10_000,
    idleTimeout = 30_000,
    probeInterval = 1000,
  } = options;
  const limits = {
    maxStreams,
    streamInterval,
    streamServers,
    maxConnections,
    headerTimeout,
    idleTimeout,
    probeInterval,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`Cannot start the HTTP server: ${name} must be a positive integer, got ${value}`);
    }
  }
  const streams = new EventStreams(
    () => `data: ${JSON.stringify(statsJson(sources, Date.now(), streamServers))}\n\n`,
    streamInterval,
  );
  let stopping = false;

  const handler = (request: Request): Response | Promise<Response> => {
    if (!isAllowedHost(request.headers.get("host"), hostname)) return text("Misdirected request: unknown Host\n", 421);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text("Method not allowed\n", 405, { allow: "GET, HEAD" });
    }
    switch (new URL(request.url).pathname) {
      case "/":
        return serveAsset(request, pageAsset, PAGE_HEADERS);
      case "/uplot.js":
        return serveAsset(request, uplotJsAsset, LIBRARY_HEADERS);
      case "/uplot.css":
        return serveAsset(request, uplotCssAsset, LIBRARY_HEADERS);
      case "/events":
        if (stopping) return text("Shutting down\n", 503);
        if (streams.size >= maxStreams) return text("Too many live streams\n", 503, { "retry-after": "10" });
        return streams.open();
      case "/api/stats":
        return Response.json(statsJson(sources), { headers: { ...COMMON_HEADERS, "cache-control": "no-store" } });
      case "/metrics":
        return text(formatMetrics(sources.stats, sources.total(), undefined, sources.share?.()), 200, {
          "content-type": METRICS_CONTENT_TYPE,
        });
      case "/healthz": {
        const problem = sources.problem();
        if (problem !== undefined) return text(`unhealthy: ${problem}\n`, 503);
        return sources.accepting() ? text("ok\n", 200) : text("unhealthy: not accepting likes\n", 503);
      }
      default:
        return text("Not found\n", 404);
    }
  };

  // node:http hands over its own request and response: the handler above
  // stays in Fetch terms, and this carries a Response back, streams included.
  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(", ") : value);
    }
    // The URL's authority is not the client's Host: that one is judged from the headers.
    const url = new URL(req.url ?? "/", "http://dashboard.invalid");
    const response = await handler(new Request(url, { method: req.method, headers }));
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (req.method === "HEAD" || response.body === null) {
      await response.body?.cancel();
      res.end();
      return;
    }
    const reader = response.body.getReader();
    res.on("close", () => reader.cancel().catch(() => {}));
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        // A client that does not read holds the stream back (the live stream then skips updates).
        if (!res.write(value)) await new Promise((resolve) => res.once("drain", resolve).once("close", resolve));
      }
    } catch { /* the client went away */ }
    res.end();
  };

  const server = createServer({
    // Both run from the moment a connection is accepted (or a keep-alive
    // response ends): a client dribbling its headers is cut off at the deadline.
    headersTimeout: headerTimeout,
    requestTimeout: headerTimeout,
    keepAliveTimeout: idleTimeout,
    // How often the header and request timeouts are checked: node's default is 30 s.
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headerTimeout / 4))),
  }, (req, res) => {
    serve(req, res).catch(() => res.destroy());
  });
  server.on("clientError", (_error: Error, socket: Socket) => socket.destroy());

  // The cap is kept here rather than with server.maxConnections, which drops
  // connections before they are seen: the listener probe below must be seen.
  const open = new Set<Socket>();
  const probes = new Map<number, () => void>();
  const recentPeers: number[] = [];
  server.on("connection", (socket: Socket) => {
    const probe = probes.get(socket.remotePort ?? -1);
    if (probe) {
      socket.destroy();
      return probe();
    }
    // A probe may be accepted before its prober learns its own port: remember recent peers.
    recentPeers.push(socket.remotePort ?? -1);
    if (recentPeers.length > RECENT_PEERS) recentPeers.shift();
    if (open.size >= maxConnections) return socket.destroy();
    open.add(socket);
    socket.once("close", () => open.delete(socket));
  });

  const listen = (at: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(at, hostname.replace(/^\[(.*)\]$/, "$1"), () => {
        server.off("error", reject);
        resolve();
      });
    });
  await listen(port).catch((error: NodeJS.ErrnoException) => {
    // node words it `listen EADDRINUSE: address already in use 127.0.0.1:4243`: say it as the likes port does.
    throw new Error(LISTEN_ERRORS[error.code ?? ""] ?? error.message, { cause: error });
  });
  server.on("error", (error: Error) => console.error(`HTTP server error: ${error.message}`));
  const bound = server.address() as AddressInfo;
  const addr: Deno.NetAddr = { transport: "tcp", hostname: bound.address, port: bound.port };

  // In Deno 2.9, node:http's listener stops accepting for good, silently (no
  // error event), once accept fails: out of descriptors, say, while a flood of
  // producers holds them. So the server connects to itself now and then; a
  // probe that connects but is never accepted means the listener is dead, and
  // it listens anew on the same address. Connections already open are kept.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watch = async () => {
    timer = undefined;
    let probe: Deno.TcpConn;
    try {
      probe = await Deno.connect({ hostname: addr.hostname, port: addr.port });
    } catch {
      // No descriptor to probe with either: the same test is made again later.
      if (!stopping) timer = setTimeout(watch, probeInterval);
      return;
    }
    const local = probe.localAddr.port;
    const taken = recentPeers.includes(local)
      ? Promise.resolve(true)
      : new Promise<boolean>((resolve) => probes.set(local, () => resolve(true)));
    const accepted = await abortable(taken, AbortSignal.timeout(PROBE_DEADLINE)).catch(() => false);
    probes.delete(local);
    closeQuietly(probe);
    if (stopping) return;
    if (!accepted) await relisten();
    if (!stopping) timer = setTimeout(watch, probeInterval);
  };
  const relisten = async () => {
    console.error("HTTP server stopped accepting, listening again on the same address");
    server.close();
    while (!stopping) {
      try {
        return await listen(addr.port);
      } catch (error) {
        console.error(`HTTP server cannot listen yet, trying again in ${RESTART_DELAY}ms: ${(error as Error).message}`);
        await sleep(RESTART_DELAY);
      }
    }
  };
  timer = setTimeout(watch, probeInterval);

  return {
    addr,
    get streams() {
      return streams.size;
    },
    get connections() {
      return open.size;
    },
    async shutdown() {
      stopping = true;
      clearTimeout(timer);
      streams.closeAll();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    },
  };
}

/** node's listen errors, worded as Deno words them for the likes port. */
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: "Address already in use",
  EADDRNOTAVAIL: "Cannot assign requested address",
  EACCES: "Permission denied",
};

/** Pause before listening again after a failure (ms). */
const RESTART_DELAY = 1000;
/** Peers remembered so that a probe accepted before it was registered still counts. */
const RECENT_PEERS = 64;
/** Time an accepting listener has to take the probe (ms): generous, the machine may be busy. */
const PROBE_DEADLINE = 3000;
