/**
 * A LikesServer's connection to the primary: sends one line, waits for its
 * reply, with a deadline. Connects lazily, drops the connection on any error,
 * and replaces one the peer closed between messages, so that the next send
 * starts from a fresh one.
 *
 * Where a reply ends is reply_framer.ts's concern: at a newline or a NUL, with
 * the rest discarded. Here the ends that need a clock or the socket: the peer's
 * close after some bytes (so `0`, a NUL and a close is an answer, not a lost
 * connection), and a quiet period after some bytes (a bare `1` on a kept
 * connection is an answer, not a missing one). A reader runs for as long as
 * the connection does, so that bytes arriving between messages are counted
 * and discarded, never taken as the answer to the next one.
 */
import { escapeText } from "../common/escape.ts";
import { closeQuietly, writeAll } from "../common/io.ts";
import { ReplyFramer } from "../protocol/reply_framer.ts";
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
  /** Once some bytes of a reply have arrived, this long without more ends it (ms). @default {50} */
  quiet?: number;
}

/** One open connection and what its reader has seen. */
interface Connection {
  conn: Deno.TcpConn;
  /** The reply being awaited; undefined between messages, when whatever arrives is discarded. */
  framer: ReplyFramer | undefined;
  /** The peer closed or reset it, or we closed it: no line may be sent on it any more. */
  ended: boolean;
  /** What ended the reading, when it was not a clean close. */
  error: Error | undefined;
  /** When the last bytes arrived (performance.now()). */
  lastBytes: number;
  /** Wakes the exchange waiting on this connection. */
  wake: (() => void) | undefined;
}

const encoder = new TextEncoder();

export class LikesClient {
  readonly #host: string;
  readonly #port: number;
  readonly #token: string | undefined;
  readonly #timeout: number;
  readonly #quiet: number;
  #connection: Connection | undefined;
  /** Bytes read and discarded since takeDiscarded() was last called. */
  #discarded = 0;

  constructor(options: LikesClientOptions = {}) {
    const {
      host = likesServerDefaults.host,
      port = likesServerDefaults.port,
      token,
      timeout = likesServerDefaults.replyTimeout,
      quiet = likesServerDefaults.replyQuiet,
    } = options;
    if (!Number.isInteger(timeout) || timeout < 1) {
      throw new RangeError(`Cannot create a client: timeout must be a positive integer, got ${timeout}`);
    }
    if (!Number.isInteger(quiet) || quiet < 1) {
      throw new RangeError(`Cannot create a client: quiet must be a positive integer, got ${quiet}`);
    }
    this.#host = host;
    this.#port = port;
    this.#token = token;
    this.#timeout = timeout;
    this.#quiet = quiet;
  }

  get address(): string {
    return `${this.#host}:${this.#port}`;
  }

  /**
   * Sends `line` on the kept connection (a new one if there is none, or the
   * peer closed it since the last reply) and returns the primary's reply.
   *
   * @throws {SendError} When connecting, sending or receiving fails or times out
   */
  async send(line: string): Promise<string> {
    if (this.#connection) {
      // A close or reset that has already reached the socket is seen before the line goes out on a dead connection.
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (this.#connection?.ended) this.close();
    }
    const connection = this.#connection ?? await this.#connect();
    return await this.#exchange(connection, line);
  }

  /**
   * Sends `line` on a connection of its own and returns the reply, for a
   * primary that serves one message per connection.
   *
   * @throws {SendError} As send(); only a "connect" error means the line surely was not delivered
   */
  async sendAlone(line: string): Promise<string> {
    this.close();
    const connection = await this.#connect();
    try {
      return await this.#exchange(connection, line);
    } finally {
      this.close();
    }
  }

  /** How many bytes were read and discarded (after replies, or between them) since the last call. */
  takeDiscarded(): number {
    const discarded = this.#discarded;
    this.#discarded = 0;
    return discarded;
  }

  close(): void {
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection) this.#end(connection);
  }

  #end(connection: Connection): void {
    connection.ended = true;
    closeQuietly(connection.conn);
    connection.wake?.();
  }

  async #connect(): Promise<Connection> {
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
    const connection: Connection = {
      conn,
      framer: undefined,
      ended: false,
      error: undefined,
      lastBytes: 0,
      wake: undefined,
    };
    this.#connection = connection;
    this.#read(connection);
    if (this.#token !== undefined) {
      const reply = await this.#exchange(connection, `AUTH ${this.#token}`);
      if (!reply.startsWith("0")) {
        this.close();
        // The reply is outside data: escaped, it cannot forge a line in the logs it reaches.
        throw new SendError("connect", `The primary at ${this.address} refused the token: ${escapeText(reply)}`, {
          retryable: false,
        });
      }
    }
    return connection;
  }

  /** Reads until the connection ends, handing bytes to the reply awaited or discarding them. */
  async #read(connection: Connection): Promise<void> {
    const buffer = new Uint8Array(1024);
    try {
      while (true) {
        const n = await connection.conn.read(buffer);
        if (n === null) break;
        connection.lastBytes = performance.now();
        if (connection.framer) connection.framer.feed(buffer.subarray(0, n));
        else this.#discarded += n;
        connection.wake?.();
      }
    } catch (error) {
      if (!connection.ended) connection.error = error as Error;
    } finally {
      connection.ended = true;
      closeQuietly(connection.conn);
      if (this.#connection === connection) this.#connection = undefined;
      connection.wake?.();
    }
  }

  async #exchange(connection: Connection, line: string): Promise<string> {
    const framer = new ReplyFramer();
    // Set before the line goes out: a fast reply is this line's answer, not leftovers.
    connection.framer = framer;
    try {
      try {
        await writeAll(connection.conn, encoder.encode(`${line}\n`));
      } catch (error) {
        this.#drop(connection);
        throw new SendError("send", `Cannot send to ${this.address}: ${(error as Error).message}`, { cause: error });
      }
      return await this.#awaitReply(connection, framer);
    } finally {
      connection.framer = undefined;
      this.#discarded += framer.discarded;
    }
  }

  async #awaitReply(connection: Connection, framer: ReplyFramer): Promise<string> {
    const deadline = performance.now() + this.#timeout;
    while (framer.reply === undefined) {
      const now = performance.now();
      // The peer's close, the deadline or a quiet period ends a reply that has begun.
      if (connection.ended || now >= deadline || (framer.started && now - connection.lastBytes >= this.#quiet)) {
        const reply = framer.end();
        if (reply !== undefined) return reply;
        const reason = !connection.ended || now >= deadline
          ? `no reply within ${this.#timeout}ms`
          : connection.error?.message ?? "connection closed by the primary";
        this.#drop(connection);
        throw new SendError("receive", `No reply from ${this.address}: ${reason}`, { cause: connection.error });
      }
      const wait = framer.started ? Math.min(deadline, connection.lastBytes + this.#quiet) - now : deadline - now;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, Math.ceil(wait)));
        connection.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      connection.wake = undefined;
    }
    return framer.reply;
  }

  #drop(connection: Connection): void {
    if (this.#connection === connection) this.#connection = undefined;
    this.#end(connection);
  }
}
