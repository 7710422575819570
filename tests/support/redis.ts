/**
 * Test support: a real redis-server on an ephemeral port in a temp dir (see
 * lib/launch/redis_server.ts), and the reason to skip Redis tests when
 * redis-server is not installed.
 */
import { RedisServer, redisServerMissing, type RedisServerOptions } from "../../lib/launch/redis_server.ts";
import { freePort } from "./parent.ts";
import { tempDir } from "./temp.ts";

export { RedisServer };

/** Why Redis tests cannot run here (printed once), or undefined when they can. */
export const redisMissing: string | undefined = await redisServerMissing();
if (redisMissing) console.warn(`Skipping Redis tests: ${redisMissing}`);

/** Starts a fresh redis-server; the port and directory are chosen unless given. */
export async function startRedis(options: Partial<RedisServerOptions> = {}): Promise<RedisServer> {
  const dir = options.dir ?? await tempDir();
  // A port that was free a moment ago can be taken before redis-server binds it: try another.
  for (let attempt = 1;; attempt++) {
    try {
      return await RedisServer.start({ ...options, dir, port: options.port ?? freePort() });
    } catch (error) {
      if (options.port !== undefined || attempt === 3 || !/Address already in use/.test(String(error))) throw error;
    }
  }
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
