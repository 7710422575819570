/**
 * The primary's HTTP side: live dashboard, Prometheus metrics, health and a
 * JSON view of the stats (the paths are in router.ts). Read-only: nothing
 * here can change the count.
 *
 * Served over node:http rather than Deno.serve, which has no connection cap
 * and no header or idle timeout: idle or slow HTTP clients must not hold the
 * descriptors the likes port needs. This module puts the parts together: the
 * router, the node adapter, the connection cap and the listener watchdog.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { EventStreams } from "./event_streams.ts";
import { httpLimits, type HttpOptions } from "./http_options.ts";
import { ListenerWatchdog } from "./listener_watchdog.ts";
import { nodeListener } from "./node_adapter.ts";
import { createRouter, type HttpSources, statsJson } from "./router.ts";

export { HTTP_DEFAULTS, type HttpOptions } from "./http_options.ts";
export { type HttpSources, isAllowedHost, statsJson } from "./router.ts";

export interface HttpServer {
  addr: Deno.NetAddr;
  /** Live streams open now. */
  readonly streams: number;
  /** HTTP connections open now. */
  readonly connections: number;
  /** Ends the live streams, then waits for the other requests to finish. */
  shutdown(): Promise<void>;
}

/** node's listen errors, worded as Deno words them for the likes port. */
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: "Address already in use",
  EADDRNOTAVAIL: "Cannot assign requested address",
  EACCES: "Permission denied",
};

/** Makes `server` listen on `hostname:port` (brackets of an IPv6 address allowed). */
function listen(server: Server, hostname: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname.replace(/^\[(.*)\]$/, "$1"), () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/**
 * Serves HTTP on `hostname:port` until shutdown.
 *
 * @throws {RangeError} When an option is not a positive integer
 * @throws {Error} When it cannot listen
 */
export async function startHttp(
  hostname: string,
  port: number,
  sources: HttpSources,
  options: HttpOptions & { token?: string } = {},
): Promise<HttpServer> {
  const limits = httpLimits(options);
  const streams = new EventStreams(
    () => `data: ${JSON.stringify(statsJson(sources, Date.now(), limits.streamServers))}\n\n`,
    limits.streamInterval,
  );
  let stopping = false;
  const router = createRouter({
    hostname,
    sources,
    streams,
    maxStreams: limits.maxStreams,
    stopping: () => stopping,
    token: options.token,
  });

  const server = createServer({
    // Both run from the moment a connection is accepted (or a keep-alive
    // response ends): a client dribbling its headers is cut off at the deadline.
    headersTimeout: limits.headerTimeout,
    requestTimeout: limits.headerTimeout,
    keepAliveTimeout: limits.idleTimeout,
    // How often the header and request timeouts are checked: node's default is 30 s.
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.headerTimeout / 4))),
  }, nodeListener(router));
  server.on("clientError", (_error: Error, socket: Socket) => socket.destroy());

  const watchdog = new ListenerWatchdog({
    close: () => server.close(),
    listen: () => listen(server, hostname, addr.port),
  }, { interval: limits.probeInterval });
  // The cap is kept here rather than with server.maxConnections, which drops
  // connections before they are seen: the watchdog's probes must be seen.
  const open = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    if (watchdog.claim(socket.remotePort ?? -1)) return socket.destroy();
    if (open.size >= limits.maxConnections) return socket.destroy();
    open.add(socket);
    socket.once("close", () => open.delete(socket));
  });

  await listen(server, hostname, port).catch((error: NodeJS.ErrnoException) => {
    // node words it `listen EADDRINUSE: address already in use 127.0.0.1:4243`: say it as the likes port does.
    throw new Error(LISTEN_ERRORS[error.code ?? ""] ?? error.message, { cause: error });
  });
  server.on("error", (error: Error) => console.error(`HTTP server error: ${error.message}`));
  const bound = server.address() as AddressInfo;
  const addr: Deno.NetAddr = { transport: "tcp", hostname: bound.address, port: bound.port };
  watchdog.start(addr);

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
      watchdog.stop();
      streams.closeAll();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    },
  };
}
