/**
 * Test support: a real redis-server on an ephemeral port in a temp dir (see
 * lib/launch/redis_server.ts), and the reason to skip Redis tests when
 * redis-server is not installed.
 */
import {
  RedisServer,
  redisServerMissing,
  type RedisServerOptions,
  startRedisServer,
} from "../../lib/launch/redis_server.ts";
import { tempDir } from "./temp.ts";

export { RedisServer };

/** Why Redis tests cannot run here (printed once), or undefined when they can. */
export const redisMissing: string | undefined = await redisServerMissing();
if (redisMissing) console.warn(`Skipping Redis tests: ${redisMissing}`);

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
