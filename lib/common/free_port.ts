/**
 * A TCP port on 127.0.0.1 that was free a moment ago, for a server that cannot
 * pick an ephemeral port itself (redis-server) or must restart on the same
 * port. Another process may take it before it is bound: callers retry.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}
