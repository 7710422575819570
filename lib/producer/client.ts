/**
 * A LikesServer's connection to the primary: sends one line, waits for its
 * reply line, with a deadline. Connects lazily and drops the connection on
 * any error, so that the next send starts from a fresh one.
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

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class LikesClient {
  readonly #host: string;
  readonly #port: number;
  readonly #token: string | undefined;
  readonly #timeout: number;
  #conn: Deno.TcpConn | undefined;
  #pending = "";
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

  close(): void {
    const conn = this.#conn;
    this.#conn = undefined;
    this.#pending = "";
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
    this.#pending = "";
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
      let newline: number;
      while ((newline = this.#pending.indexOf("\n")) === -1) {
        const n = await conn.read(this.#buffer);
        if (n === null) throw new Error("connection closed by the primary");
        this.#pending += decoder.decode(this.#buffer.subarray(0, n), { stream: true });
      }
      const reply = this.#pending.slice(0, newline);
      this.#pending = this.#pending.slice(newline + 1);
      return reply.endsWith("\r") ? reply.slice(0, -1) : reply;
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
