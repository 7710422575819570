/**
 * A LikesServer's connection to the primary: sends one line, waits for its
 * reply, with a deadline. Connects lazily and drops the connection on any
 * error, so that the next send starts from a fresh one.
 *
 * A reply ends at a newline, a NUL (seed-era primaries answer with C strings,
 * padded with NULs), or the peer's close after some bytes: so `0` followed by
 * a NUL and a close is an answer, not a lost connection.
 */
import { escapeText } from "../common/escape.ts";
import { closeQuietly, writeAll } from "../common/io.ts";
import { likesServerDefaults } from "./options.ts";

export type SendPhase = "connect" | "send" | "receive";

/** A send that failed on the way. */
export class SendError extends Error {
  readonly phase: SendPhase;
  /** False when trying again cannot help (no permission to connect, token refused). */
  readonly retryable: boolean;
  constructor(phase: SendPhase, message: string, options?: ErrorOptions & { retryable?: boolean }) {
    super(message, options);
    this.name = "SendError";
    this.phase = phase;
    this.retryable = options?.retryable ?? true;
  }
}

export interface LikesClientOptions {
  /** @default {"127.0.0.1"} */
  host?: string;
  /** @default {4242} */
  port?: number;
  /** Sent as `AUTH <token>` on each new connection. @default {undefined} */
  token?: string;
  /** How long to wait for a connection and for each reply (ms). @default {5000} */
  timeout?: number;
}

const NEWLINE = 0x0a;
const NUL = 0x00;
/** A peer that sends this much without ending its reply has said all it can: the reply is cut there. */
const MAX_REPLY = 4096;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class LikesClient {
  readonly #host: string;
  readonly #port: number;
  readonly #token: string | undefined;
  readonly #timeout: number;
  #conn: Deno.TcpConn | undefined;
  /** Bytes read past the last reply. */
  #pending: Uint8Array = new Uint8Array(0);
  readonly #buffer = new Uint8Array(1024);

  constructor(options: LikesClientOptions = {}) {
    const {
      host = likesServerDefaults.host,
      port = likesServerDefaults.port,
      token,
      timeout = likesServerDefaults.replyTimeout,
    } = options;
    if (!Number.isInteger(timeout) || timeout < 1) {
      throw new RangeError(`Cannot create a client: timeout must be a positive integer, got ${timeout}`);
    }
    this.#host = host;
    this.#port = port;
    this.#token = token;
    this.#timeout = timeout;
  }

  get address(): string {
    return `${this.#host}:${this.#port}`;
  }

  /**
   * Sends `line` and returns the primary's reply line.
   *
   * @throws {SendError} When connecting, sending or receiving fails or times out
   */
  async send(line: string): Promise<string> {
    const conn = this.#conn ?? await this.#connect();
    return await this.#exchange(conn, line);
  }

  /**
   * Sends `line` on a connection of its own and returns the reply, for a
   * seed-era primary: several of them serve one message per connection.
   *
   * @throws {SendError} As send(); only a "connect" error means the line surely was not delivered
   */
  async sendAlone(line: string): Promise<string> {
    this.close();
    const conn = await this.#connect();
    try {
      return await this.#exchange(conn, line);
    } finally {
      this.close();
    }
  }

  close(): void {
    const conn = this.#conn;
    this.#conn = undefined;
    this.#pending = new Uint8Array(0);
    closeQuietly(conn);
  }

  async #connect(): Promise<Deno.TcpConn> {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: this.#host, port: this.#port, signal: AbortSignal.timeout(this.#timeout) });
    } catch (error) {
      const reason = error instanceof DOMException ? `timed out after ${this.#timeout}ms` : (error as Error).message;
      throw new SendError("connect", `Cannot connect to ${this.address}: ${reason}`, {
        cause: error,
        retryable: !(error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied),
      });
    }
    this.#conn = conn;
    this.#pending = new Uint8Array(0);
    if (this.#token !== undefined) {
      const reply = await this.#exchange(conn, `AUTH ${this.#token}`);
      if (!reply.startsWith("0")) {
        this.close();
        // The reply is outside data: escaped, it cannot forge a line in the logs it reaches.
        throw new SendError("connect", `The primary at ${this.address} refused the token: ${escapeText(reply)}`, {
          retryable: false,
        });
      }
    }
    return conn;
  }

  async #exchange(conn: Deno.TcpConn, line: string): Promise<string> {
    try {
      const bytes = encoder.encode(`${line}\n`);
      await writeAll(conn, bytes);
    } catch (error) {
      this.close();
      throw new SendError("send", `Cannot send to ${this.address}: ${(error as Error).message}`, { cause: error });
    }
    const timer = setTimeout(() => this.close(), this.#timeout);
    try {
      // NUL padding left over from the last reply is not part of this one.
      let start = 0;
      while (start < this.#pending.length && this.#pending[start] === NUL) start++;
      let bytes = this.#pending.subarray(start);
      let end: number;
      while ((end = replyEnd(bytes)) === -1) {
        if (bytes.length >= MAX_REPLY) {
          this.close();
          return decodeReply(bytes.subarray(0, MAX_REPLY));
        }
        const n = await conn.read(this.#buffer);
        if (n === null) {
          if (bytes.length === 0) throw new Error("connection closed by the primary");
          // The peer's close ends the reply.
          this.close();
          return decodeReply(bytes);
        }
        const joined = new Uint8Array(bytes.length + n);
        joined.set(bytes);
        joined.set(this.#buffer.subarray(0, n), bytes.length);
        bytes = joined;
      }
      this.#pending = bytes.slice(end + 1);
      return decodeReply(bytes.subarray(0, end));
    } catch (error) {
      const timedOut = this.#conn !== conn;
      this.close();
      const reason = timedOut ? `no reply within ${this.#timeout}ms` : (error as Error).message;
      throw new SendError("receive", `No reply from ${this.address}: ${reason}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Where a reply ends in `bytes`: its newline or NUL, or -1. */
function replyEnd(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === NEWLINE || bytes[i] === NUL) return i;
  return -1;
}

function decodeReply(bytes: Uint8Array): string {
  const reply = decoder.decode(bytes);
  return reply.endsWith("\r") ? reply.slice(0, -1) : reply;
}
