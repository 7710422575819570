/**
 * Test support: a real redis-server on an ephemeral port in a temp dir (see
 * lib/launch/redis_server.ts), and whether Redis tests can run here.
 */
import { RedisServer, type RedisServerOptions, startRedisServer } from "../../lib/launch/redis_server.ts";
import { type Requirement, requirement } from "./requirements.ts";
import { tempDir } from "./temp.ts";

export { RedisServer };

/** redis-server here, for the Redis tests: `REDIS.test({ … })` skips them, saying so, where it is missing. */
export const REDIS: Requirement = await requirement("redis");

/** Starts a fresh redis-server; the port and directory are chosen unless given. */
export async function startRedis(options: Partial<RedisServerOptions> = {}): Promise<RedisServer> {
  return await startRedisServer({ ...options, dir: options.dir ?? await tempDir() });
}

/** Runs `fn` with a fresh redis-server, stopped afterwards. */
export async function withRedis(
  fn: (server: RedisServer) => Promise<void>,
  options: Partial<RedisServerOptions> = {},
): Promise<void> {
  const server = await startRedis(options);
  try {
    await fn(server);
  } finally {
    await server.stop("SIGKILL");
  }
}
