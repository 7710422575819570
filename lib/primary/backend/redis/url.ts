/**
 * The `--store redis://HOST:PORT[/DB]` address, read without loading the Redis
 * client: the flags of every primary (embedded ones too) check it.
 */

/** Where a Redis store lives, from `redis://HOST:PORT[/DB]`. */
export interface RedisAddress {
  host: string;
  port: number;
  db: number;
}

/**
 * Reads `redis://HOST:PORT[/DB]` (IPv6 hosts in brackets). The port is
 * required: a default port would hide a typo.
 *
 * @throws {RangeError} When the URL is not of that form
 */
export function parseRedisUrl(text: string): RedisAddress {
  const usage = `Invalid Redis store: expected redis://HOST:PORT[/DB], got ${JSON.stringify(text)}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RangeError(usage);
  }
  if (url.protocol !== "redis:" || url.hostname === "" || url.port === "") throw new RangeError(usage);
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    throw new RangeError(`${usage} (credentials and options in the URL are not supported)`);
  }
  const path = url.pathname.replace(/^\//, "");
  if (path !== "" && !/^\d{1,2}$/.test(path)) throw new RangeError(`${usage} (DB must be a number)`);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(url.port), db: path === "" ? 0 : Number(path) };
}
