/**
 * The primary's TCP side: accepts producers, frames their bytes into lines,
 * parses them, hands each chunk's messages to the committer and writes the
 * replies back in one write. Every byte is treated as hostile: lines, open
 * connections, idle time and unread replies are all bounded.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Committer, Entry } from "./committer.ts";
import { escapeBytes } from "../common/escape.ts";
import { LineSplitter } from "../protocol/line_splitter.ts";
import { parseMessageAt, ProducerIds } from "../protocol/message.ts";
import { sleep } from "../common/sleep.ts";
import { abortable, closeQuietly, writeAll } from "../common/io.ts";
import type { Stats } from "./stats.ts";
import { primaryDefaults } from "./options.ts";

export interface ListenOptions {
  /** @default {"127.0.0.1"} */
  host?: string;
  /** 0 picks a free port. @default {4242} */
  port?: number;
  /** Highest accepted like count. @default {42} */
  maxLikes?: number;
  /** Longest line in bytes; a longer one is rejected and its connection closed. @default {1024} */
  maxLine?: number;
  /** Connections served at once; more are answered `1 too many connections` and closed. @default {10000} */
  maxConnections?: number;
  /** A connection that sends no complete line for this long is closed (ms). @default {60000} */
  idleTimeout?: number;
  /** A connection that leaves its replies unread for this long is closed (ms). @default {10000} */
  writeTimeout?: number;
  /** Lines taken from one connection before their replies must be written. @default {1024} */
  maxUnanswered?: number;
  /** When set, each connection must first send `AUTH <token>`. @default {undefined} */
  token?: string;
}

/**
 * Each connection's read buffer starts small, because 10,000 idle producers
 * each hold one (1 KiB instead of 4 KiB keeps them ~30 MB smaller), doubles
 * whenever a read fills it, as a producer with many lines in flight does (at
 * 50 connections × 32 in flight a fixed 1 KiB cost twice the CPU per message),
 * and drops back once reads are small again.
 */
const MIN_READ = 1024;
const MAX_READ = 16 * 1024;
const encoder = new TextEncoder();
/** How long stop() lets reads that already completed be processed before closing idle connections (ms). */
const READ_GRACE = 10;
/** How long stop() waits for replies to reach clients that are slow to read them (ms). */
const STOP_GRACE = 2000;
/** How long, and for how many bytes, a refused connection is drained before it is closed. */
const LINGER_MS = 1000;
const LINGER_BYTES = 64 * 1024;

interface Client {
  conn: Deno.TcpConn;
  from: string;
  /** Last complete line or reply (ms since epoch): the idle clock. */
  lastActive: number;
  /** When the pending reply write began, 0 when none is pending. */
  writingSince: number;
  /** Waiting for bytes: safe to close at shutdown, nothing received is unanswered. */
  reading: boolean;
  closed: boolean;
  servers: Set<number>;
}

function sha256(bytes: Uint8Array): Uint8Array {
  return createHash("sha256").update(bytes).digest();
}

export class PrimaryServer {
  readonly #committer: Committer;
  readonly #stats: Stats;
  readonly #options: Required<Omit<ListenOptions, "token">>;
  // Only the token's hash is kept, and compared in constant time.
  readonly #tokenHash: Uint8Array | undefined;
  #listener: Deno.TcpListener | undefined;
  readonly #clients = new Set<Client>();
  readonly #handlers = new Set<Promise<void>>();
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #stopping = false;
  #lastAcceptError = 0;

  constructor(committer: Committer, stats: Stats, options: ListenOptions = {}) {
    const {
      host = primaryDefaults.host,
      port = primaryDefaults.port,
      maxLikes = primaryDefaults.maxLikes,
      maxLine = primaryDefaults.maxLine,
      maxConnections = primaryDefaults.maxConnections,
      idleTimeout = primaryDefaults.idleTimeout,
      writeTimeout = primaryDefaults.writeTimeout,
      maxUnanswered = primaryDefaults.maxUnanswered,
      token,
    } = options;
    for (const [name, value] of Object.entries({ maxLine, maxConnections, idleTimeout, writeTimeout, maxUnanswered })) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(`Cannot start the server: ${name} must be a positive integer, got ${value}`);
      }
    }
    this.#committer = committer;
    this.#stats = stats;
    this.#options = { host, port, maxLikes, maxLine, maxConnections, idleTimeout, writeTimeout, maxUnanswered };
    this.#tokenHash = token === undefined ? undefined : sha256(encoder.encode(token));
  }

  /** Starts listening and returns the bound address. */
  listen(): Deno.NetAddr {
    const { host, port } = this.#options;
    this.#listener = Deno.listen({ hostname: host, port, transport: "tcp" });
    this.#acceptLoop(this.#listener);
    this.#sweeper = setInterval(() => this.#sweep(), Math.min(1000, this.#options.idleTimeout));
    return this.#listener.addr;
  }

  get accepting(): boolean {
    return this.#listener !== undefined && !this.#stopping;
  }

  /**
   * Stops accepting, answers every line already taken in, closes connections
   * that are waiting for input, and resolves when all handlers are done.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#listener?.close();
    // A read that completed just before the stop has its data in hand but its
    // continuation not yet run: let it run, so that data is answered too.
    await sleep(READ_GRACE);
    for (const client of this.#clients) if (client.reading) this.#close(client);
    // A client that does not read its replies must not hold up the stop for the
    // whole write timeout: after a short grace it is cut off like a crash would.
    const grace = Math.min(this.#options.writeTimeout, STOP_GRACE);
    await abortable(Promise.allSettled([...this.#handlers]), AbortSignal.timeout(grace)).catch(
      () => {/* grace over */},
    );
    for (const client of this.#clients) this.#close(client);
    await Promise.allSettled([...this.#handlers]);
    await this.#committer.drained();
    clearInterval(this.#sweeper);
  }

  async #acceptLoop(listener: Deno.TcpListener): Promise<void> {
    while (!this.#stopping) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (this.#stopping || error instanceof Deno.errors.BadResource) return;
        // Out of file descriptors and the like: keep serving the clients we have,
        // and say so once per burst rather than ten times a second.
        const now = Date.now();
        if (now - this.#lastAcceptError > 10_000) {
          console.error(`Accept failed, retrying every 100ms: ${(error as Error).message}`);
          this.#lastAcceptError = now;
        }
        await sleep(100);
        continue;
      }
      if (this.#clients.size >= this.#options.maxConnections) {
        this.#stats.connectionsRefused++;
        this.#refuse(conn);
        continue;
      }
      const handler = this.#serve(conn);
      this.#handlers.add(handler);
      handler.finally(() => this.#handlers.delete(handler));
    }
  }

  #refuse(conn: Deno.TcpConn): void {
    conn.write(encoder.encode("1 too many connections\n")).then(() => lingeringClose(conn), () => closeQuietly(conn));
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    const addr = conn.remoteAddr;
    const client: Client = {
      conn,
      from: `${addr.hostname}:${addr.port}`,
      lastActive: Date.now(),
      writingSince: 0,
      reading: false,
      closed: false,
      servers: new Set(),
    };
    this.#clients.add(client);
    this.#stats.connectionsOpen++;
    this.#stats.connectionsTotal++;
    try {
      conn.setNoDelay(true);
      if (await this.#readLoop(client) === "close" && !client.closed) {
        client.closed = true;
        await lingeringClose(conn);
      }
    } catch (error) {
      if (!client.closed && !isDisconnect(error)) {
        console.error(`Connection from ${client.from} failed: ${(error as Error).message}`);
      }
    } finally {
      this.#close(client);
      this.#clients.delete(client);
      this.#stats.connectionsOpen--;
      for (const server of client.servers) this.#stats.server(server).connections--;
    }
  }

  /** Serves lines until the client leaves or we stop; "close" when we end the connection after a last reply. */
  async #readLoop(client: Client): Promise<"close" | "done"> {
    const { maxLine, maxLikes, maxUnanswered } = this.#options;
    let buffer = new Uint8Array(MIN_READ);
    const splitter = new LineSplitter(maxLine);
    const parseOptions = { maxLikes, producerIds: new ProducerIds() };
    let authenticated = this.#tokenHash === undefined;
    let closeAfter = false;
    while (!this.#stopping && !closeAfter) {
      client.reading = true;
      const n = await client.conn.read(buffer);
      client.reading = false;
      // Data that arrives as stop() closes the connection can no longer be answered: not taken in.
      if (n === null || client.closed) return "done";
      // Lines are parsed in place in the read buffer (see LineSplitter.next).
      splitter.feed(buffer.subarray(0, n));
      // The next read gets a new buffer; this chunk keeps the old one alive until it is parsed.
      if (n === buffer.length && n < MAX_READ) buffer = new Uint8Array(n * 2);
      else if (n <= MIN_READ / 4 && buffer.length > MIN_READ) buffer = new Uint8Array(MIN_READ);
      let entries: Entry[] = [];
      let next;
      while ((next = splitter.next()) !== undefined) {
        if (next === "overlong") {
          entries.push({
            kind: "invalid",
            reason: "line too long",
            data: escapeBytes(splitter.overlong!.head),
            from: client.from,
          });
          closeAfter = true;
          break;
        }
        const { bytes, start, end } = splitter;
        const message = parseMessageAt(bytes, start, end, parseOptions);
        if (message.kind === "auth") {
          // Without a configured token any AUTH line is welcome, so clients need not know.
          authenticated = this.#tokenHash === undefined || timingSafeEqual(sha256(message.token), this.#tokenHash);
          if (authenticated) {
            entries.push({ kind: "reply", text: "0 authenticated" });
          } else {
            // Never log the token a client tried.
            entries.push({ kind: "invalid", reason: "bad token", data: undefined, from: client.from });
            closeAfter = true;
            break;
          }
        } else if (!authenticated) {
          entries.push({ kind: "invalid", reason: "authentication required", data: undefined, from: client.from });
          closeAfter = true;
          break;
        } else if (message.kind === "like") {
          if (!client.servers.has(message.server)) {
            client.servers.add(message.server);
            this.#stats.server(message.server).connections++;
          }
          entries.push(message);
        } else {
          entries.push({
            kind: "invalid",
            reason: message.reason,
            data: escapeBytes(bytes.subarray(start, end)),
            from: client.from,
          });
        }
        if (entries.length >= maxUnanswered) {
          client.lastActive = Date.now();
          await this.#answer(client, entries);
          entries = [];
        }
      }
      if (entries.length > 0) {
        client.lastActive = Date.now();
        await this.#answer(client, entries);
      }
    }
    return closeAfter ? "close" : "done";
  }

  async #answer(client: Client, entries: Entry[]): Promise<void> {
    const replies = await this.#committer.submit(entries);
    client.writingSince = Date.now();
    await writeAll(client.conn, replies);
    client.writingSince = 0;
    client.lastActive = Date.now();
  }

  // One timer for all connections instead of one per read.
  #sweep(): void {
    const now = Date.now();
    const { idleTimeout, writeTimeout } = this.#options;
    for (const client of this.#clients) {
      if (
        client.writingSince !== 0 ? now - client.writingSince > writeTimeout : now - client.lastActive > idleTimeout
      ) {
        this.#close(client);
      }
    }
  }

  #close(client: Client): void {
    if (client.closed) return;
    client.closed = true;
    closeQuietly(client.conn);
  }
}

/**
 * Ends a connection we refuse, after its last reply: send FIN, then read and
 * discard what the client still sends, briefly and boundedly, before closing.
 * Closing at once with unread input would send a reset, and over a real
 * network a reset can destroy the reply before the client reads it.
 */
async function lingeringClose(conn: Deno.TcpConn): Promise<void> {
  const timer = setTimeout(() => closeQuietly(conn), LINGER_MS);
  try {
    await conn.closeWrite();
    const sink = new Uint8Array(4096);
    for (let drained = 0; drained < LINGER_BYTES;) {
      const n = await conn.read(sink);
      if (n === null) break;
      drained += n;
    }
  } catch {
    /* closed by the timer or the peer: done either way */
  } finally {
    clearTimeout(timer);
    closeQuietly(conn);
  }
}

function isDisconnect(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.ConnectionAborted || error instanceof Deno.errors.NotConnected;
}
