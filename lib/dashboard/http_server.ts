/**
 * The primary's HTTP side: live dashboard, Prometheus metrics, health and a
 * JSON view of the stats. Read-only: nothing here can change the count.
 *
 *   /              the dashboard (one small page, inline CSS and JS)
 *   /events        Server-Sent Events: the stats JSON once a second
 *   /api/stats     the same JSON, once
 *   /metrics       Prometheus text exposition
 *   /healthz       200 while accepting likes with a writable store, else 503
 *   /uplot.js, /uplot.css  the chart library, served from here so the page works offline
 *
 * A request whose Host is neither a loopback name nor the configured host is
 * answered 421 (DNS rebinding).
 */
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import page from "./dashboard.html" with { type: "text" };
import { formatMetrics, METRICS_CONTENT_TYPE } from "./metrics.ts";
import type { Stats } from "../primary/stats.ts";

export interface HttpSources {
  stats: Stats;
  /** The committed total. */
  total: () => number;
  /** True while the TCP side accepts producers. */
  accepting: () => boolean;
  /** True while the store commits. */
  storeHealthy: () => boolean;
}

export interface HttpOptions {
  /** Live streams (/events) served at once; more are answered 503. @default {100} */
  maxStreams?: number;
  /** Time between two updates of a live stream (ms). @default {1000} */
  streamInterval?: number;
  /** LikesServers a live update carries at most, the busiest ones. @default {200} */
  streamServers?: number;
}

export interface HttpServer {
  addr: Deno.NetAddr;
  /** Live streams open now. */
  readonly streams: number;
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
    uptimeSeconds: (now - stats.startedAt) / 1000,
    accepted: stats.accepted,
    duplicates: stats.duplicates,
    invalid: stats.invalid,
    failed: stats.failed,
    connectionsOpen: stats.connectionsOpen,
    serverCount: stats.servers.size,
    servers: servers.sort((a, b) => a[0] - b[0]).map(([id, s]) => ({
      name: `LikesServer${id}`,
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

// Deno.serve does not compress here, so assets go out pre-compressed to clients that take gzip.
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

/** Serves HTTP on `hostname:port` until shutdown. */
export function startHttp(
  hostname: string,
  port: number,
  sources: HttpSources,
  options: HttpOptions = {},
): HttpServer {
  const { maxStreams = 100, streamInterval = 1000, streamServers = 200 } = options;
  for (const [name, value] of Object.entries({ maxStreams, streamInterval, streamServers })) {
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
        return text(formatMetrics(sources.stats, sources.total()), 200, { "content-type": METRICS_CONTENT_TYPE });
      case "/healthz": {
        const ok = sources.accepting() && sources.storeHealthy();
        return text(ok ? "ok\n" : "unhealthy\n", ok ? 200 : 503);
      }
      default:
        return text("Not found\n", 404);
    }
  };

  let server = Deno.serve({ hostname, port, onListen: () => {} }, handler);
  const addr = server.addr;
  // Deno.serve gives up for good when accept fails (out of file descriptors,
  // say, while a flood of producers holds them): the dashboard is then served
  // anew on the same address, instead of the error taking the primary down.
  let retry: ReturnType<typeof setTimeout> | undefined;
  const watch = (current: Deno.HttpServer<Deno.NetAddr>) => {
    current.finished.catch((error: Error) => {
      if (stopping) return;
      console.error(`HTTP server stopped, serving again in ${RESTART_DELAY}ms: ${error.message}`);
      retry = setTimeout(restart, RESTART_DELAY);
    });
  };
  const restart = () => {
    if (stopping) return;
    try {
      server = Deno.serve({ hostname, port: addr.port, onListen: () => {} }, handler);
      watch(server);
    } catch (error) {
      console.error(`HTTP server cannot listen yet, trying again in ${RESTART_DELAY}ms: ${(error as Error).message}`);
      retry = setTimeout(restart, RESTART_DELAY);
    }
  };
  watch(server);
  return {
    addr,
    get streams() {
      return streams.size;
    },
    async shutdown() {
      stopping = true;
      clearTimeout(retry);
      streams.closeAll();
      await server.shutdown().catch(() => {});
    },
  };
}

/** Pause before serving HTTP again after a failure (ms). */
const RESTART_DELAY = 1000;
