/**
 * The primary's TCP side: accepts producers, frames their bytes into lines,
 * parses them, hands each chunk's messages to the committer and writes the
 * replies back in one write. Every byte is treated as hostile: lines, open
 * connections, idle time and unread replies are all bounded.
 */
import { tokenCheck } from "../protocol/token.ts";
import type { CommitPath, Entry, Rejected, Source } from "./backend/backend.ts";
import { escapeBytesWithin } from "../common/escape.ts";
import { formatPrimaryEntry } from "../formats/primary_log.ts";
import { InvalidLogLimit } from "./invalid_log_limit.ts";
import { LineSplitter } from "../protocol/line_splitter.ts";
import { REASONS, rejection, REPLIES } from "../protocol/replies.ts";
import { parseMessageAt, type ParseOptions, ProducerIds } from "../protocol/message.ts";
import { sleep } from "../common/sleep.ts";
import { abortable, closeQuietly, writeAll } from "../common/io.ts";
import type { Stats } from "./stats.ts";
import { isLoopbackAddress, primaryDefaults } from "./options.ts";
import { NewProducerRates } from "./new_producer_rate.ts";

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
  /**
   * On a connection that has never sent a newline, held bytes that already
   * parse as a complete `LikesServer<N> <likes>` end their message after this
   * long without more bytes (ms); 0 turns it off. @default {200}
   */
  quietEnd?: number;
  /** When set, each connection must first send `AUTH <token>`. @default {undefined} */
  token?: string;
  /** New producer ids admitted per second per peer address; 0 for no limit. @default {100} */
  newProducerRate?: number;
  /** New producer ids a peer address may start at once. @default {1000} */
  newProducerBurst?: number;
  /** Most bytes of escaped data an Invalid data line holds; the line gives the whole length. @default {200} */
  maxLoggedBytes?: number;
  /** Invalid messages per address per second logged line by line; the rest are summarised. @default {10} */
  invalidLogRate?: number;
  /** With a token: a connection not authenticated within this long is closed (ms). @default {5000} */
  authTimeout?: number;
  /**
   * With a token: the percentage of maxConnections that unauthenticated
   * connections may hold; past it (or when all are taken) the oldest of them
   * makes room for a new connection. @default {50}
   */
  unauthenticatedShare?: number;
  /** Connections from one address off loopback; 0 is no cap. @default {1000} */
  maxConnectionsPerAddress?: number;
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
const decoder = new TextDecoder();
/** How long stop() lets reads that already completed be processed before closing idle connections (ms). */
const READ_GRACE = 10;
/** How long stop() waits for replies to reach clients that are slow to read them (ms). */
const STOP_GRACE = 2000;
/** How long, and for how many bytes, a refused connection is drained before it is closed. */
const LINGER_MS = 1000;
const LINGER_BYTES = 64 * 1024;
/** The period of --invalid-log-rate, which is per second. */
const SUMMARY_EVERY = 1000;
const TOO_MANY_CONNECTIONS = encoder.encode(`${REPLIES.tooManyConnections}\n`);
const AUTH_TIMEOUT = encoder.encode(`${rejection(REASONS.authenticationTimeout.text)}\n`);

interface Client {
  conn: Deno.TcpConn;
  /** `ip:port`, for the log. */
  from: string;
  /** Who sent its chunks, for the committer: the address and its rate of new producers. */
  source: Source;
  /**
   * Producers of this connection with a like answered `1 storage error`, and
   * its lowest such seq. Their higher seqs taken in afterwards (already in
   * flight in a pipeline) are answered `1 storage error` too, until that seq
   * comes again: counting them would leave the failed seqs below the highest,
   * where their retries could only be `out of order`.
   */
  failed: Map<string, number> | undefined;
  /** The IP address: what the per-address cap and the invalid-log rate count by. */
  address: string;
  /** Counted against --max-connections-per-address. */
  capped: boolean;
  /** When it was accepted (ms since epoch): the auth clock. */
  since: number;
  /** Last complete line or reply (ms since epoch): the idle clock. */
  lastActive: number;
  /** When the pending reply write began, 0 when none is pending. */
  writingSince: number;
  /** Waiting for bytes: safe to close at shutdown, nothing received is unanswered. */
  reading: boolean;
  closed: boolean;
  servers: Set<number>;
  splitter: LineSplitter;
  parseOptions: ParseOptions;
  /** parseOptions for while the connection has never sent a newline: leading zeros as the original's sscanf took them. */
  seedParseOptions: ParseOptions;
  authenticated: boolean;
}

export class PrimaryServer {
  readonly #committer: CommitPath;
  readonly #stats: Stats;
  readonly #options: Required<
    Omit<ListenOptions, "token" | "newProducerRate" | "newProducerBurst" | "invalidLogRate">
  >;
  readonly #newProducers: NewProducerRates;
  // Only the token's hash is kept, and compared in constant time (tokenCheck).
  readonly #tokenMatches: ((presented: Uint8Array) => boolean) | undefined;
  #listener: Deno.TcpListener | undefined;
  readonly #clients = new Set<Client>();
  /** With a token: connections not yet authenticated, oldest first (a Set keeps insertion order). */
  readonly #unauthenticated = new Set<Client>();
  /** How many of them there may be. */
  readonly #maxUnauthenticated: number;
  /** Open connections by address, for the addresses the per-address cap applies to. */
  readonly #perAddress = new Map<string, number>();
  readonly #logLimit: InvalidLogLimit;
  #summaries: ReturnType<typeof setInterval> | undefined;
  readonly #handlers = new Set<Promise<void>>();
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #stopping = false;
  #lastAcceptError = 0;

  constructor(committer: CommitPath, stats: Stats, options: ListenOptions = {}) {
    const {
      host = primaryDefaults.host,
      port = primaryDefaults.port,
      maxLikes = primaryDefaults.maxLikes,
      maxLine = primaryDefaults.maxLine,
      maxConnections = primaryDefaults.maxConnections,
      idleTimeout = primaryDefaults.idleTimeout,
      writeTimeout = primaryDefaults.writeTimeout,
      maxUnanswered = primaryDefaults.maxUnanswered,
      quietEnd = primaryDefaults.quietEnd,
      token,
      newProducerRate = primaryDefaults.newProducerRate,
      newProducerBurst = primaryDefaults.newProducerBurst,
      maxLoggedBytes = primaryDefaults.maxLoggedBytes,
      invalidLogRate = primaryDefaults.invalidLogRate,
      authTimeout = primaryDefaults.authTimeout,
      unauthenticatedShare = primaryDefaults.unauthenticatedShare,
      maxConnectionsPerAddress = primaryDefaults.maxConnectionsPerAddress,
    } = options;
    if (!Number.isInteger(quietEnd) || quietEnd < 0) {
      throw new RangeError(`Cannot start the server: quietEnd must be a non-negative integer, got ${quietEnd}`);
    }
    for (const [name, value] of Object.entries({ maxLoggedBytes, maxConnectionsPerAddress })) {
      if (!Number.isInteger(value) || value < 0) {
        throw new RangeError(`Cannot start the server: ${name} must be a non-negative integer, got ${value}`);
      }
    }
    if (!Number.isInteger(unauthenticatedShare) || unauthenticatedShare < 1 || unauthenticatedShare > 100) {
      throw new RangeError(
        `Cannot start the server: unauthenticatedShare must be an integer percentage from 1 to 100, got ${unauthenticatedShare}`,
      );
    }
    const limits = { maxLine, maxConnections, idleTimeout, writeTimeout, maxUnanswered, authTimeout };
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(`Cannot start the server: ${name} must be a positive integer, got ${value}`);
      }
    }
    this.#committer = committer;
    this.#stats = stats;
    this.#options = {
      host,
      port,
      maxLikes,
      maxLine,
      maxConnections,
      idleTimeout,
      writeTimeout,
      maxUnanswered,
      quietEnd,
      maxLoggedBytes,
      authTimeout,
      unauthenticatedShare,
      maxConnectionsPerAddress,
    };
    this.#maxUnauthenticated = Math.max(1, Math.floor(maxConnections * unauthenticatedShare / 100));
    this.#logLimit = new InvalidLogLimit(invalidLogRate);
    this.#tokenMatches = token === undefined ? undefined : tokenCheck(token);
    this.#newProducers = new NewProducerRates({ rate: newProducerRate, burst: newProducerBurst });
  }

  /** Starts listening and returns the bound address. */
  listen(): Deno.NetAddr {
    const { host, port } = this.#options;
    this.#listener = Deno.listen({ hostname: host, port, transport: "tcp" });
    this.#acceptLoop(this.#listener);
    const { idleTimeout, authTimeout } = this.#options;
    const sweepEvery = Math.min(1000, idleTimeout, this.#tokenMatches === undefined ? Infinity : authTimeout);
    this.#sweeper = setInterval(() => this.#sweep(), sweepEvery);
    this.#summaries = setInterval(() => this.#summarise(), SUMMARY_EVERY);
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
    clearInterval(this.#summaries);
    this.#summarise();
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
      if (!this.#admit(conn)) {
        this.#stats.connectionsRefused++;
        this.#refuse(conn);
        continue;
      }
      const handler = this.#serve(conn);
      this.#handlers.add(handler);
      handler.finally(() => this.#handlers.delete(handler));
    }
  }

  /**
   * Whether a new connection gets a slot: not past --max-connections-per-address,
   * and not past --max-connections unless, with a token, an unauthenticated
   * connection makes room. With a token, unauthenticated connections keep to
   * their share: the oldest makes room for the new one. So idle connections
   * that never authenticate cannot keep a producer with the token out.
   */
  #admit(conn: Deno.TcpConn): boolean {
    const { maxConnections, maxConnectionsPerAddress } = this.#options;
    const address = conn.remoteAddr.hostname;
    if (
      maxConnectionsPerAddress > 0 && (this.#perAddress.get(address) ?? 0) >= maxConnectionsPerAddress &&
      !isLoopbackAddress(address)
    ) return false;
    if (this.#tokenMatches === undefined) return this.#clients.size < maxConnections;
    if (this.#clients.size >= maxConnections || this.#unauthenticated.size >= this.#maxUnauthenticated) {
      const oldest = this.#unauthenticated.values().next();
      if (oldest.done) return false;
      this.#cutOff(oldest.value, TOO_MANY_CONNECTIONS);
      this.#stats.connectionsRefused++;
    }
    return true;
  }

  /**
   * Ends an unauthenticated connection with a last reply: it has no replies
   * pending (its first line would have authenticated or closed it).
   */
  #cutOff(client: Client, reply: Uint8Array): void {
    this.#unauthenticated.delete(client);
    if (client.closed) return;
    client.closed = true;
    const { conn } = client;
    conn.write(reply).catch(() => {}).finally(() => closeQuietly(conn));
  }

  #refuse(conn: Deno.TcpConn): void {
    conn.write(TOO_MANY_CONNECTIONS).then(
      () => lingeringClose(conn),
      () => closeQuietly(conn),
    );
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    const addr = conn.remoteAddr;
    const parseOptions = { maxLikes: this.#options.maxLikes, producerIds: new ProducerIds() };
    const from = `${addr.hostname}:${addr.port}`;
    const { maxConnectionsPerAddress } = this.#options;
    const capped = maxConnectionsPerAddress > 0 && !isLoopbackAddress(addr.hostname);
    const client: Client = {
      conn,
      from,
      address: addr.hostname,
      source: {
        from,
        gate: this.#newProducers.open(addr.hostname),
        logRefusal: (bytes) => this.#logLimit.admit(addr.hostname, bytes),
      },
      failed: undefined,
      capped,
      since: Date.now(),
      lastActive: Date.now(),
      writingSince: 0,
      reading: false,
      closed: false,
      servers: new Set(),
      splitter: new LineSplitter(this.#options.maxLine),
      parseOptions,
      seedParseOptions: { ...parseOptions, leadingZeros: true },
      authenticated: this.#tokenMatches === undefined,
    };
    this.#clients.add(client);
    if (!client.authenticated) this.#unauthenticated.add(client);
    if (capped) this.#perAddress.set(client.address, (this.#perAddress.get(client.address) ?? 0) + 1);
    this.#stats.connectionsOpen++;
    this.#stats.connectionsTotal++;
    try {
      conn.setNoDelay(true);
      if (await this.#readLoop(client) === "close" && !client.closed) {
        client.closed = true;
        this.#dropIncomplete(client);
        await lingeringClose(conn);
      }
    } catch (error) {
      if (!client.closed && !isDisconnect(error)) {
        console.error(`Connection from ${client.from} failed: ${(error as Error).message}`);
      }
    } finally {
      this.#dropIncomplete(client);
      this.#close(client);
      this.#clients.delete(client);
      this.#newProducers.release(client.address);
      this.#unauthenticated.delete(client);
      if (capped) {
        const open = this.#perAddress.get(client.address)! - 1;
        if (open === 0) this.#perAddress.delete(client.address);
        else this.#perAddress.set(client.address, open);
      }
      this.#stats.connectionsOpen--;
      for (const server of client.servers) this.#stats.server(server).connections--;
    }
  }

  /**
   * Serves messages until the client leaves or we stop; "close" when we end
   * the connection after a last reply. The stages: read (with the quiet
   * period of a seed-era message), buffer sizing, then per chunk framing,
   * auth and batching (#takeChunk, #take).
   */
  async #readLoop(client: Client): Promise<"close" | "done"> {
    let buffer = new Uint8Array(MIN_READ);
    // A read left in flight while a quiet-period message was answered.
    let read: Promise<number | null> | undefined;
    // One closure per connection, not one per chunk.
    const readAhead = () => {
      // The rest of a seed-era buffer is most likely queued already. Read it
      // before the reply goes out: after the reply, the client's next send
      // could join it in one read, inside the padding, and be dropped.
      if (buffer.length < MAX_READ) buffer = new Uint8Array(MAX_READ);
      read = client.conn.read(buffer);
      // Awaited once the reply is written; until then a reset must not be an unhandled rejection.
      read.catch(() => {});
    };
    while (!this.#stopping) {
      client.reading = true;
      read ??= client.conn.read(buffer);
      if (this.#quietCandidate(client) && await this.#quietFirst(read)) {
        client.reading = false;
        if (client.closed) return "done";
        if (await this.#answerHeld(client) === "close") return "close";
        continue;
      }
      const n = await read;
      read = undefined;
      client.reading = false;
      // Data that arrives as stop() closes the connection can no longer be answered: not taken in.
      if (client.closed) return "done";
      if (n === null) {
        // A clean half-close ends a seed-era message that is complete as it stands.
        if (this.#endsByEof(client)) return await this.#answerHeld(client) === "close" ? "close" : "done";
        return "done";
      }
      // Messages are parsed in place in the read buffer (see LineSplitter.next);
      // the next read gets a new buffer, and this chunk keeps the old one alive until it is parsed.
      const chunk = buffer.subarray(0, n);
      buffer = nextBuffer(buffer, n);
      if (await this.#takeChunk(client, chunk, readAhead) === "close") return "close";
    }
    return "done";
  }

  /**
   * Frames a chunk, takes its messages in and answers them, in batches of at
   * most --max-unanswered. Calls `readAhead` before the last reply when the
   * chunk ended in padding.
   */
  async #takeChunk(client: Client, chunk: Uint8Array, readAhead: () => void): Promise<"close" | "more"> {
    const { splitter } = client;
    const { maxUnanswered } = this.#options;
    const padding = splitter.paddingBytes;
    splitter.feed(chunk);
    let entries: Entry[] = [];
    let close = false;
    // A NUL-ended message is always the chunk's last (padding follows it): only the last reply is NUL-framed.
    let nulFramed = false;
    let next;
    while ((next = splitter.next()) !== undefined) {
      if (next === "overlong") {
        const { head, length } = splitter.overlong!;
        entries.push(this.#invalid(client, REASONS.lineTooLong.text, head, 0, head.length, length));
        close = true;
        break;
      }
      nulFramed = next === "nul";
      if (this.#take(client, splitter.bytes, splitter.start, splitter.end, entries)) {
        close = true;
        break;
      }
      if (entries.length >= maxUnanswered) {
        await this.#answer(client, entries, false);
        entries = [];
      }
    }
    this.#stats.paddingBytes += splitter.paddingBytes - padding;
    if (entries.length > 0) {
      if (splitter.padding && !close) readAhead();
      await this.#answer(client, entries, nulFramed && !close);
    }
    return close ? "close" : "more";
  }

  /**
   * Parses one message and adds its entry (the auth stage decides what an
   * unauthenticated client gets). Returns true when the connection must
   * close after the replies.
   */
  #take(client: Client, bytes: Uint8Array, start: number, end: number, entries: Entry[]): boolean {
    const options = client.splitter.seedEra ? client.seedParseOptions : client.parseOptions;
    const message = parseMessageAt(bytes, start, end, options);
    if (message.kind === "auth") {
      // Without a configured token any AUTH line is welcome, so clients need not know.
      client.authenticated = this.#tokenMatches === undefined || this.#tokenMatches(message.token);
      if (client.authenticated) {
        this.#unauthenticated.delete(client);
        entries.push({ kind: "reply", text: REPLIES.authenticated });
        return false;
      }
      // Never log the token a client tried, nor its length.
      entries.push(this.#invalid(client, REASONS.badToken.text));
      // Closing after this reply: no longer one of those the oldest of which makes room (#cutOff).
      this.#unauthenticated.delete(client);
      return true;
    }
    if (!client.authenticated) {
      this.#unauthenticated.delete(client);
      entries.push(this.#invalid(client, REASONS.authenticationRequired.text, bytes, start, end));
      return true;
    }
    if (message.kind === "like") {
      if (client.failed !== undefined && this.#holdBack(client, message.producer, message.seq)) {
        this.#stats.failed++;
        entries.push({ kind: "reply", text: REPLIES.storageError });
        return false;
      }
      if (!client.servers.has(message.server)) {
        client.servers.add(message.server);
        this.#stats.server(message.server).connections++;
      }
      entries.push(message);
    } else {
      entries.push(this.#invalid(client, message.reason, bytes, start, end));
    }
    return false;
  }

  /**
   * Whether a like must be answered `1 storage error` because a lower seq of
   * its producer failed on this connection (see Client.failed). The failed
   * seq itself, or any below it, comes first again and lifts the hold.
   */
  #holdBack(client: Client, producer: string | undefined, seq: number | undefined): boolean {
    const failed = client.failed!;
    if (producer === undefined) return false;
    const lowest = failed.get(producer);
    if (lowest === undefined) return false;
    if (seq! > lowest) return true;
    failed.delete(producer);
    if (failed.size === 0) client.failed = undefined;
    return false;
  }

  /** Notes, per producer, the lowest seq of a chunk answered `1 storage error` (see Client.failed). */
  #noteFailures(client: Client, entries: Entry[], replies: Uint8Array): void {
    const lines = decoder.decode(replies).split("\n");
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (entry.kind !== "like" || entry.producer === undefined || lines[i] !== REPLIES.storageError) continue;
      client.failed ??= new Map();
      const lowest = client.failed.get(entry.producer);
      if (lowest === undefined || entry.seq! < lowest) client.failed.set(entry.producer, entry.seq!);
    }
  }

  /**
   * The entry for invalid data `bytes[start, end)` of `length` bytes in all:
   * its data escaped and cut to --max-logged-bytes; withheld (only its
   * length logged) where it may hold a token, that is before the connection
   * authenticated to a token, or when it starts like an AUTH line; and past
   * --invalid-log-rate for its address, not logged at all but counted for
   * the second's summary. The reply is `1 <reason>` in every case.
   */
  #invalid(
    client: Client,
    reason: string,
    bytes?: Uint8Array,
    start = 0,
    end = bytes?.length ?? 0,
    length = end - start,
  ): Rejected {
    const from = client.from;
    if (!this.#logLimit.admit(client.address, length)) {
      return { kind: "invalid", reason, data: undefined, from, unlogged: true };
    }
    if (bytes === undefined) return { kind: "invalid", reason, data: undefined, from };
    if (!client.authenticated || startsLikeAuth(bytes, start, end)) {
      return { kind: "invalid", reason, data: undefined, from, length };
    }
    const { literal, taken } = escapeBytesWithin(bytes.subarray(start, end), this.#options.maxLoggedBytes);
    return taken < length
      ? { kind: "invalid", reason, data: literal, from, length }
      : { kind: "invalid", reason, data: literal, from };
  }

  /** Logs the summaries of the second's invalid data that went past --invalid-log-rate. */
  #summarise(): void {
    const summaries = this.#logLimit.flush();
    if (summaries.length === 0) return;
    this.#committer.betweenBatches(() => {
      try {
        for (const summary of summaries) this.#committer.event(formatPrimaryEntry(summary));
      } catch (error) {
        // The next batch meets the same log and refuses its likes; this only says what was lost.
        console.error(`Cannot log ${summaries.length} invalid data summaries: ${(error as Error).message}`);
      }
    });
  }

  /**
   * Whether held bytes are a seed-era message that only lacks its end: sent
   * in one burst, and a plain like or something no more bytes can make valid
   * (answered `1 <reason>`). A dribble (several reads) never is.
   */
  #quietCandidate(client: Client): boolean {
    const { splitter } = client;
    return this.#options.quietEnd > 0 && splitter.seedEra && splitter.pendingInOneRead &&
      seedVerdict(splitter.held, client.seedParseOptions) !== "partial";
  }

  /** Whether held bytes end at a clean EOF: a seed-era message, complete or surely invalid. */
  #endsByEof(client: Client): boolean {
    const { splitter } = client;
    return splitter.seedEra && seedVerdict(splitter.held, client.seedParseOptions) !== "partial";
  }

  /** True when --quiet-end passes before `read` brings anything: the held bytes are the message. */
  async #quietFirst(read: Promise<number | null>): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        read.then(() => false, () => false),
        new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(true), this.#options.quietEnd)),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Takes in and answers (NUL-framed) the held bytes as one message, ended by a quiet period or EOF. */
  async #answerHeld(client: Client): Promise<"close" | "more"> {
    const held = client.splitter.takePending()!;
    const entries: Entry[] = [];
    const close = this.#take(client, held, 0, held.length, entries);
    await this.#answer(client, entries, !close);
    return close ? "close" : "more";
  }

  /** Logs bytes a connection left unfinished when it ended, so that nothing is dropped silently. */
  #dropIncomplete(client: Client): void {
    const held = client.splitter.takePending();
    if (held === undefined || held.length === 0) return;
    this.#stats.incomplete++;
    // Logged through the committer like any invalid data; nobody is left to read the reply.
    this.#committer.submit([this.#invalid(client, REASONS.incomplete.text, held)]);
  }

  /**
   * Submits entries and writes their replies. `nulFramed`: the last reply
   * answers a seed-era message, so it ends with a NUL instead of a newline
   * (those clients read the reply as a C string).
   */
  async #answer(client: Client, entries: Entry[], nulFramed: boolean): Promise<void> {
    client.lastActive = Date.now();
    let replies = await this.#committer.submit(entries, client.source);
    // Every reply is at least two bytes and only `0\n` is exactly two: all
    // counted, nothing failed, the one check valid traffic pays.
    if (replies.length !== 2 * entries.length) this.#noteFailures(client, entries, replies);
    if (nulFramed) {
      // The committer's bytes may be shared: change a copy.
      replies = replies.slice();
      replies[replies.length - 1] = 0;
    }
    const now = Date.now();
    client.writingSince = now;
    // One write op nearly always takes the whole reply: writeAll's own promise only for the rest.
    const written = await client.conn.write(replies);
    if (written < replies.length) await writeAll(client.conn, replies.subarray(written));
    client.writingSince = 0;
    client.lastActive = written < replies.length ? Date.now() : now;
  }

  // One timer for all connections instead of one per read.
  #sweep(): void {
    const now = Date.now();
    this.#newProducers.sweep(now);
    const { idleTimeout, writeTimeout, authTimeout } = this.#options;
    // Oldest first: the first one still in time ends the look.
    for (const client of this.#unauthenticated) {
      if (now - client.since <= authTimeout) break;
      this.#committer.submit([this.#invalid(client, REASONS.authenticationTimeout.text)]);
      this.#cutOff(client, AUTH_TIMEOUT);
    }
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
 * The read buffer for the next read, given that the last read of `buffer`
 * brought `n` bytes: doubled after a full read, back to the minimum after a
 * small one (see MIN_READ).
 */
function nextBuffer(buffer: Uint8Array<ArrayBuffer>, n: number): Uint8Array<ArrayBuffer> {
  if (n === buffer.length && n < MAX_READ) return new Uint8Array(n * 2);
  if (n <= MIN_READ / 4 && buffer.length > MIN_READ) return new Uint8Array(MIN_READ);
  return buffer;
}

const NAMES = ["likesserver", "likeserver"].map((text) => new TextEncoder().encode(text));

/**
 * Whether `bytes[start, end)` begins, after blanks and NULs, with `auth` in
 * any letter case: a token may follow, mistyped or padded past --max-line,
 * so such data is never logged.
 */
function startsLikeAuth(bytes: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end && bytes[i] <= 0x20) i++;
  if (end - i < 4) return false;
  return (bytes[i] | 0x20) === 0x61 && (bytes[i + 1] | 0x20) === 0x75 && (bytes[i + 2] | 0x20) === 0x74 &&
    (bytes[i + 3] | 0x20) === 0x68;
}
const AUTH_START = new TextEncoder().encode("auth ");

/** Whether `held` is `name` or its start, in any letter case. */
function folds(held: Uint8Array, name: Uint8Array, whole: boolean): boolean {
  if (whole ? held.length < name.length : held.length > name.length) return false;
  const n = Math.min(held.length, name.length);
  for (let i = 0; i < n; i++) if ((held[i] | 0x20) !== name[i]) return false;
  return true;
}

/**
 * What held bytes without a terminator are, on a seed-era connection:
 * "complete" (a two-field like), "invalid" (a likes message that no bytes to
 * come can make valid, such as a count above the maximum), or "partial":
 * more bytes could still make a message; or a four-field like, which must end
 * with a newline since a torn one could parse with the wrong seq; or bytes
 * that do not even begin like a likes message (a slowloris's junk is never
 * answered early). Seed-era path only, so the parser's reasons are enough.
 */
function seedVerdict(held: Uint8Array | undefined, options: ParseOptions): "complete" | "invalid" | "partial" {
  if (held === undefined || held.length === 0) return "partial";
  const message = parseMessageAt(held, 0, held.length, options);
  if (message.kind === "like") return message.producer === undefined ? "complete" : "partial";
  if (message.kind === "auth" || folds(held, AUTH_START, false)) return "partial";
  const named = NAMES.some((name) => folds(held, name, true));
  switch (message.reason) {
    case "missing likes":
    case "missing sequence number":
      return "partial";
    case "bad server number":
      // Only the name so far: its number is still to come.
      return NAMES.some((name) => name.length === held.length && folds(held, name, true)) ? "partial" : "invalid";
    default:
      return named ? "invalid" : "partial";
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
