/**
 * The `--store` switch: its value names the backend (`embedded`, or a URL
 * whose scheme does), and this is the one place that reads it. A new backend
 * is a folder beside embedded/ and redis/ with an opener (see OpenBackend in
 * backend.ts), and a line in backendOf().
 */
import type { PrimaryOptions } from "../options.ts";
import type { Backend, BackendContext, OpenBackend } from "./backend.ts";
import { parseRedisUrl, type RedisAddress } from "./redis/url.ts";

/** The embedded store's name for `--store`. */
export const EMBEDDED_STORE = "embedded";

interface BackendKind {
  /** The backend's modules, loaded only when it is used (the Redis client alone costs a quarter second). */
  load(): Promise<OpenBackend>;
  /** Whether the backend keeps its state in --state (else it ignores the flag). */
  usesStateFile: boolean;
  /** Whether the total is shared with other primaries (then --reset is refused and --primary-id names this one). */
  shared: boolean;
}

const EMBEDDED: BackendKind = {
  load: async () => (await import("./embedded/open.ts")).openEmbedded,
  usesStateFile: true,
  shared: false,
};

const REDIS: BackendKind = {
  load: async () => (await import("./redis/open.ts")).openRedis,
  usesStateFile: false,
  shared: true,
};

/**
 * The backend `store` names.
 *
 * @throws {RangeError} When it names none
 */
function backendOf(store: string): BackendKind {
  if (store === EMBEDDED_STORE) return EMBEDDED;
  parseRedisUrl(store);
  return REDIS;
}

/** The `--store` flag's parse: `embedded` or a Redis URL (checked, kept as given). */
export function storeUrl(text: string): string {
  backendOf(text);
  return text;
}

/** The Redis address of `--store`, or undefined for the embedded store. */
export function redisAddress(options: Pick<PrimaryOptions, "store">): Omit<RedisAddress, "db"> | undefined {
  if (backendOf(options.store) !== REDIS) return undefined;
  const { host, port } = parseRedisUrl(options.store);
  return { host, port };
}

/** Whether the backend `--store` names keeps its state in `--state`. */
export function usesStateFile(options: Pick<PrimaryOptions, "store">): boolean {
  return backendOf(options.store).usesStateFile;
}

/**
 * The id naming this primary among those sharing a store: --primary-id, else
 * the likes address, which is stable only on a fixed port.
 *
 * @throws {RangeError} With --port 0 and no --primary-id
 */
export function primaryIdOf(options: Pick<PrimaryOptions, "primaryId" | "host" | "port">): string {
  if (options.primaryId !== undefined) return options.primaryId;
  if (options.port === 0) {
    throw new RangeError(
      "A primary on Redis with --port 0 needs --primary-id: its journal must keep one name across restarts",
    );
  }
  return `${options.host}:${options.port}`;
}

/**
 * Checks the flags that depend on the backend, before anything is opened.
 *
 * @throws {RangeError} When they do not fit it
 */
export function checkBackendOptions(
  options: Pick<PrimaryOptions, "store" | "reset" | "primaryId" | "host" | "port"> & { adoptRedisStore?: boolean },
): void {
  if (!backendOf(options.store).shared) {
    if (options.adoptRedisStore) throw new RangeError("--adopt-redis-store needs --store redis://…");
    return;
  }
  primaryIdOf(options);
  if (options.reset) {
    throw new RangeError("--reset cannot be used with --store redis://…: the total is shared with other primaries");
  }
}

/** Opens the backend `--store` names (see OpenBackend). */
export async function openBackend(options: PrimaryOptions, context: BackendContext): Promise<Backend> {
  const open = await backendOf(options.store).load();
  return open(options, context);
}
