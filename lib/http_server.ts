/**
 * The primary's HTTP side: live dashboard, Prometheus metrics, health and a
 * JSON view of the stats. Read-only: nothing here can change the count.
 */
import type { Stats } from "./stats.ts";

export interface HttpSources {
  stats: Stats;
  /** The committed total. */
  total: () => number;
  /** True while the TCP side accepts producers. */
  accepting: () => boolean;
  /** True while the store commits. */
  storeHealthy: () => boolean;
}

export interface HttpServer {
  addr: Deno.NetAddr;
  shutdown(): Promise<void>;
}

/** The JSON of /api/stats, also what the dashboard's live stream sends. */
export function statsJson(sources: HttpSources, now = Date.now()): Record<string, unknown> {
  const { stats } = sources;
  return {
    total: sources.total(),
    uptimeSeconds: (now - stats.startedAt) / 1000,
    accepted: stats.accepted,
    duplicates: stats.duplicates,
    invalid: stats.invalid,
    connectionsOpen: stats.connectionsOpen,
    servers: [...stats.servers].sort((a, b) => a[0] - b[0]).map(([id, s]) => ({
      name: `LikesServer${id}`,
      ...s,
      connected: s.connections > 0,
    })),
    history: stats.history(now, 300),
  };
}

/** Serves HTTP on `hostname:port` until shutdown. */
export function startHttp(hostname: string, port: number, sources: HttpSources): HttpServer {
  const server = Deno.serve({ hostname, port, onListen: () => {} }, (request) => {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") {
      const ok = sources.accepting() && sources.storeHealthy();
      return new Response(ok ? "ok\n" : "unhealthy\n", { status: ok ? 200 : 503 });
    }
    if (url.pathname === "/api/stats") return Response.json(statsJson(sources));
    return new Response("Not found\n", { status: 404 });
  });
  return { addr: server.addr, shutdown: () => server.shutdown() };
}
