/**
 * The name `LikesServer<N>`, built and read in this one place: messages, log
 * file names, log lines and permission grants all spell it the same way.
 */

/** What every LikesServer name starts with. */
export const LIKES_SERVER_PREFIX = "LikesServer";

/**
 * Highest N in `LikesServer<N>`. The message parser rejects a higher one, so
 * that hostile input cannot make per-server state grow without bound.
 */
export const MAX_SERVER_ID = 9999;

/** Digits of the highest id: the parser reads no more than this many. */
export const SERVER_ID_DIGITS = String(MAX_SERVER_ID).length;

/** Whether `id` is a valid N in `LikesServer<N>` (an integer in 0..MAX_SERVER_ID). */
export function isServerId(id: number): boolean {
  return Number.isInteger(id) && id >= 0 && id <= MAX_SERVER_ID;
}

/**
 * `LikesServer<id>`.
 *
 * @throws {RangeError} When `id` is not an integer in 0..MAX_SERVER_ID
 */
export function likesServerName(id: number): string {
  if (!isServerId(id)) throw new RangeError(`Not a LikesServer id (0..${MAX_SERVER_ID}): ${id}`);
  return `${LIKES_SERVER_PREFIX}${id}`;
}

/** N when `name` is exactly `LikesServer<N>` (no sign, no leading zero, N in range), else undefined. */
export function parseLikesServerName(name: string): number | undefined {
  if (!name.startsWith(LIKES_SERVER_PREFIX)) return undefined;
  const digits = name.slice(LIKES_SERVER_PREFIX.length);
  if (!/^(0|[1-9][0-9]*)$/.test(digits) || digits.length > SERVER_ID_DIGITS) return undefined;
  const id = Number(digits);
  return isServerId(id) ? id : undefined;
}
