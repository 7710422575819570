/**
 * Which primary a LikesServer sends to, when several share one total
 * (`--primaries HOST:PORT,HOST:PORT,…`): each LikesServer starts on the one
 * its id picks, so that a fleet spreads evenly, and moves to the next in the
 * list on a failed send. Round robin visits every primary before any twice,
 * so a LikesServer reaches a live primary within one pass while any is up.
 */
import { parse } from "../common/cli.ts";

/** One primary's address; `host` is bare (an IPv6 address without brackets), as Deno.connect takes it. */
export interface PrimaryAddress {
  host: string;
  port: number;
}

const USAGE = "expected HOST:PORT,HOST:PORT,… (IPv6 in brackets, e.g. [::1]:4242)";

function parseOne(text: string): PrimaryAddress {
  const bracketed = /^\[([^\]]*)\]:(.*)$/.exec(text);
  let host: string;
  let port: string;
  if (bracketed) {
    [, host, port] = bracketed;
    if (!host.includes(":")) throw new RangeError(`Brackets are for IPv6 addresses, got ${JSON.stringify(text)}`);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 1) throw new RangeError(`Expected HOST:PORT, got ${JSON.stringify(text)}`);
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
    if (host.includes(":") || host.includes("[") || host.includes("]")) {
      throw new RangeError(`IPv6 addresses go in brackets ([::1]:4242), got ${JSON.stringify(text)}`);
    }
  }
  parse.host(host);
  return { host, port: parse.integer(1, 65535)(port) };
}

/**
 * Reads `--primaries`: addresses separated by commas, each listed once.
 *
 * @throws {RangeError} On an empty list, an empty entry, a bad address or one listed twice
 */
export function parsePrimaries(text: string): PrimaryAddress[] {
  if (text.trim() === "") throw new RangeError(`Invalid --primaries: ${USAGE}, got an empty list`);
  const seen = new Set<string>();
  return text.split(",").map((entry) => {
    let address: PrimaryAddress;
    try {
      address = parseOne(entry.trim());
    } catch (error) {
      throw new RangeError(`Invalid --primaries: ${USAGE}: ${(error as Error).message}`);
    }
    const key = formatPrimary(address);
    if (seen.has(key)) throw new RangeError(`Invalid --primaries: ${key} is listed twice`);
    seen.add(key);
    return address;
  });
}

/** `HOST:PORT`, IPv6 in brackets: the form parsePrimaries() reads. */
export function formatPrimary(address: PrimaryAddress): string {
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** Where a LikesServer is and where it goes next. */
export class Failover {
  readonly primaries: readonly PrimaryAddress[];
  #index: number;

  /**
   * Starts on primary `serverId mod count`: consecutive LikesServer ids land
   * on consecutive primaries.
   *
   * @throws {RangeError} On no primaries or a negative or fractional id
   */
  constructor(primaries: readonly PrimaryAddress[], serverId: number) {
    if (primaries.length === 0) throw new RangeError("Cannot fail over: no primaries given");
    if (!Number.isSafeInteger(serverId) || serverId < 0) {
      throw new RangeError(`Cannot fail over: the LikesServer id must be a non-negative integer, got ${serverId}`);
    }
    this.primaries = primaries;
    this.#index = serverId % primaries.length;
  }

  /** The primary to send to now. */
  get current(): PrimaryAddress {
    return this.primaries[this.#index];
  }

  /** Moves on after a failed send: the next primary in the list, wrapping around. */
  next(): PrimaryAddress {
    this.#index = (this.#index + 1) % this.primaries.length;
    return this.current;
  }
}
