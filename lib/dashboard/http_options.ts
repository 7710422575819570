/**
 * The limits of the primary's HTTP side, with their defaults in one place:
 * the HTTP server applies them, and the primary's flags default to them.
 */

export interface HttpOptions {
  /** Live streams (/events) served at once; more are answered 503. @default {100} */
  maxStreams?: number;
  /** Time between two updates of a live stream (ms). @default {1000} */
  streamInterval?: number;
  /** LikesServers a live update carries at most, the busiest ones. @default {200} */
  streamServers?: number;
  /**
   * HTTP connections open at once (live streams included); more are closed as
   * soon as accepted. Far below the likes port's cap and the usual descriptor
   * limit, so that HTTP clients leave descriptors for producers. @default {64}
   */
  maxConnections?: number;
  /** Time a client has from connecting (or from its last response) to send complete request headers (ms). @default {10000} */
  headerTimeout?: number;
  /** Close a keep-alive connection with no request for this long (ms). @default {30000} */
  idleTimeout?: number;
  /** Time between two checks that the listener still accepts (ms). @default {1000} */
  probeInterval?: number;
}

/** Every limit of {@linkcode HttpOptions}, set. */
export type HttpLimits = Required<HttpOptions>;

/** The defaults of {@linkcode HttpOptions}. */
export const HTTP_DEFAULTS: Readonly<HttpLimits> = Object.freeze({
  maxStreams: 100,
  streamInterval: 1000,
  streamServers: 200,
  maxConnections: 64,
  headerTimeout: 10_000,
  idleTimeout: 30_000,
  probeInterval: 1000,
});

/**
 * `options` with the defaults applied.
 *
 * @throws {RangeError} When a limit is not a positive integer
 */
export function httpLimits(options: HttpOptions = {}): HttpLimits {
  const limits: HttpLimits = { ...HTTP_DEFAULTS };
  for (const name of Object.keys(HTTP_DEFAULTS) as (keyof HttpLimits)[]) {
    const value = options[name] ?? HTTP_DEFAULTS[name];
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`Cannot start the HTTP server: ${name} must be a positive integer, got ${value}`);
    }
    limits[name] = value;
  }
  return limits;
}
