/**
 * What the primary's HTTP side answers, in Fetch terms (a Request in, a
 * Response out), whatever serves it:
 *
 *   /              the dashboard (one small page, inline CSS and JS)
 *   /events        Server-Sent Events: the stats JSON once a second
 *   /api/stats     the same JSON, once
 *   /metrics       Prometheus text exposition
 *   /healthz       200 while accepting likes with working storage, else 503 and the reason
 *   /uplot.js, /uplot.css  the chart library, served from here so the page works offline
 *
 * A request whose Host is neither a loopback name nor the configured host is
 * answered 421 (DNS rebinding). Read-only: nothing here can change the count.
 */
import { authorizationToken, tokenCheck } from "../protocol/token.ts";
import { COMMON_HEADERS, LIBRARY_HEADERS, PAGE, PAGE_HEADERS, serveAsset, UPLOT_CSS, UPLOT_JS } from "./assets.ts";
import { HTTP_DEFAULTS } from "./http_options.ts";
import { formatMetrics, METRICS_CONTENT_TYPE } from "./metrics.ts";
import type { Stats } from "../primary/stats.ts";
import { likesServerName } from "../protocol/names.ts";

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

/** The live streams /events opens, such as an `EventStreams`. */
export interface LiveStreams {
  /** Streams open now. */
  readonly size: number;
  /** A new stream's body. */
  open(): ReadableStream<Uint8Array>;
}

export interface RouterOptions {
  /** The configured host: a request's Host may name it, or a loopback name. */
  hostname: string;
  sources: HttpSources;
  streams: LiveStreams;
  /** Live streams served at once; more are answered 503. @default {100} */
  maxStreams?: number;
  /** True once the server is shutting down: no live stream is opened then. @default {() => false} */
  stopping?: () => boolean;
  /**
   * The token every request must present (`Authorization: Bearer`, or Basic
   * with the token as password): set when the dashboard listens off loopback.
   * @default {undefined}
   */
  token?: string;
}

/** Answers one request. */
export type Handler = (request: Request) => Response | Promise<Response>;

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

/**
 * The handler of every path above.
 *
 * @throws {RangeError} When `maxStreams` is not a positive integer
 */
export function createRouter(options: RouterOptions): Handler {
  const { hostname, sources, streams, maxStreams = HTTP_DEFAULTS.maxStreams, stopping = () => false, token } = options;
  const matches = token === undefined ? undefined : tokenCheck(token);
  if (!Number.isInteger(maxStreams) || maxStreams < 1) {
    throw new RangeError(`Cannot route HTTP requests: maxStreams must be a positive integer, got ${maxStreams}`);
  }
  const events = (): Response => {
    if (stopping()) return text("Shutting down\n", 503);
    if (streams.size >= maxStreams) return text("Too many live streams\n", 503, { "retry-after": "10" });
    return new Response(streams.open(), {
      headers: { ...COMMON_HEADERS, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store" },
    });
  };
  const health = (): Response => {
    const problem = sources.problem();
    if (problem !== undefined) return text(`unhealthy: ${problem}\n`, 503);
    return sources.accepting() ? text("ok\n", 200) : text("unhealthy: not accepting likes\n", 503);
  };
  return (request) => {
    if (!isAllowedHost(request.headers.get("host"), hostname)) return text("Misdirected request: unknown Host\n", 421);
    if (matches !== undefined) {
      const presented = authorizationToken(request.headers.get("authorization"));
      if (presented === undefined || !matches(presented)) {
        return text("Unauthorized: present the token as Authorization: Bearer\n", 401, {
          "www-authenticate": 'Bearer realm="likes", Basic realm="likes"',
        });
      }
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text("Method not allowed\n", 405, { allow: "GET, HEAD" });
    }
    switch (new URL(request.url).pathname) {
      case "/":
        return serveAsset(request, PAGE, PAGE_HEADERS);
      case "/uplot.js":
        return serveAsset(request, UPLOT_JS, LIBRARY_HEADERS);
      case "/uplot.css":
        return serveAsset(request, UPLOT_CSS, LIBRARY_HEADERS);
      case "/events":
        return events();
      case "/api/stats":
        return Response.json(statsJson(sources), { headers: { ...COMMON_HEADERS, "cache-control": "no-store" } });
      case "/metrics":
        return text(formatMetrics(sources.stats, sources.total(), undefined, sources.share?.()), 200, {
          "content-type": METRICS_CONTENT_TYPE,
        });
      case "/healthz":
        return health();
      default:
        return text("Not found\n", 404);
    }
  };
}
