/**
 * The benchmark's load: C connections in this process, each keeping P
 * messages in flight. Each reply frees a slot and the freed slots of one read
 * are refilled in one write, so exactly P are in flight per connection at all
 * times, the way `redis-benchmark -P` keeps its pipeline full.
 *
 * The same client drives every side of the comparison, so that its cost is
 * the same for each: with `protocol: "likes"` a connection is a producer
 * sending idempotent likes (`LikesServer<N> <likes> <producer> <seq>`, its own
 * producer id, seq counting up from 1) and only `0` replies count as
 * acknowledged; with `protocol: "resp"` it sends Redis `INCRBY likes <likes>`
 * as RESP arrays and counts integer replies (`:<n>\r\n`) as acknowledged.
 * Both protocols answer one line per message, so one reply reader serves both.
 *
 * Latency is from the write that carried a message to the read that carried
 * its reply; replies come back in order, so a ring of send times per
 * connection pairs them up.
 */
import { closeQuietly, concatBytes, writeAll, writeDecimal } from "../common/io.ts";
import { LatencyHistogram } from "./report.ts";
import { likesServerName } from "../protocol/names.ts";

/** What the load speaks: the likes line protocol, or Redis RESP (`INCRBY`). */
export type LoadProtocol = "likes" | "resp";

export interface LoadOptions {
  /** @default {"likes"} */
  protocol?: LoadProtocol;
  /** @default {"127.0.0.1"} */
  hostname?: string;
  /** @default {1} */
  connections?: number;
  /** Messages in flight per connection. @default {1} */
  pipeline?: number;
  /** Measured window, after the warm-up (ms). @default {5000} */
  durationMs?: number;
  /** Load before the window that is not counted: lets JIT and caches settle (ms). @default {1000} */
  warmupMs?: number;
  /** N in `LikesServer<N>`. @default {1} */
  server?: number;
  /** Likes per message. @default {1} */
  likes?: number;
  /**
   * Producer ids are this plus the connection number. The default is as long
   * as a LikesServer's own ids (name and UUID), so that the primary hashes
   * and logs ids of a realistic size. @default {`bench-${crypto.randomUUID()}-`}
   */
  producerPrefix?: string;
  /** How long to wait for the replies still in flight after the window (ms). @default {10000} */
  drainMs?: number;
  /** Called when the measured window starts and ends, e.g. to sample the primary's CPU time. @default {undefined} */
  onWindow?: (edge: "start" | "end") => void;
}

export interface LoadResult {
  /** Length of the measured window, seconds. */
  seconds: number;
  /** Messages answered `0` within the window. */
  acknowledged: number;
  /** Messages answered otherwise within the window. */
  rejected: number;
  firstRejection?: string;
  /** Messages never answered (the connection closed or the drain timed out). */
  unanswered: number;
  /** Latency of the acknowledged messages in the window. */
  histogram: LatencyHistogram;
}

const NEWLINE = 0x0a;
const ZERO = 0x30;
const COLON = 0x3a;
/** Room for the digits of any safe integer. */
const MAX_SEQ_DIGITS = 16;
const READ_SIZE = 64 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A command as a RESP array of bulk strings, the form every Redis client
 * sends: `*<n>\r\n` then `$<length>\r\n<bytes>\r\n` per argument.
 */
export function respCommand(args: string[]): Uint8Array {
  const parts = args.map((arg) => encoder.encode(arg));
  const head = encoder.encode(`*${parts.length}\r\n`);
  const pieces = [head];
  for (const part of parts) pieces.push(encoder.encode(`$${part.length}\r\n`), part, encoder.encode("\r\n"));
  return concatBytes(pieces);
}

/** Counters shared by every connection of one run; the window is fixed before the first write. */
interface Run {
  windowStart: number;
  windowEnd: number;
  acknowledged: number;
  rejected: number;
  firstRejection?: string;
  unanswered: number;
  histogram: LatencyHistogram;
}

/** One connection with its pipeline: a likes producer, or a Redis client when `resp` is set. */
class Producer {
  readonly #conn: Deno.TcpConn;
  readonly #run: Run;
  /** The likes line up to its seq; or, for RESP, the whole command, the same for every message. */
  readonly #prefix: Uint8Array;
  readonly #resp: boolean;
  readonly #out: Uint8Array;
  /** Send time of each message in flight, oldest at #oldest. */
  readonly #sentAt: Float64Array;
  #oldest = 0;
  #inFlight = 0;
  #seq = 0;
  // A reply line can be split across reads: its length so far and first byte.
  #lineLength = 0;
  #firstByte = 0;

  constructor(conn: Deno.TcpConn, run: Run, prefix: Uint8Array, pipeline: number, resp: boolean) {
    this.#conn = conn;
    this.#run = run;
    this.#prefix = prefix;
    this.#resp = resp;
    this.#out = new Uint8Array(pipeline * (this.#prefix.length + MAX_SEQ_DIGITS + 1));
    this.#sentAt = new Float64Array(pipeline);
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  close(): void {
    closeQuietly(this.#conn);
  }

  /** Fills the pipeline, then refills it as replies arrive until the window ends and all are answered. */
  async run(): Promise<void> {
    const run = this.#run;
    const buffer = new Uint8Array(READ_SIZE);
    try {
      await this.#send(this.#sentAt.length);
      while (this.#inFlight > 0) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        const answered = this.#receive(buffer.subarray(0, n), performance.now());
        if (answered > 0 && performance.now() < run.windowEnd) await this.#send(answered);
      }
    } catch {
      // A connection the primary (or the drain timer) closed: its messages in flight stay unanswered.
    }
    run.unanswered += this.#inFlight;
  }

  /** Writes `count` new messages in one write. */
  async #send(count: number): Promise<void> {
    const out = this.#out;
    const prefix = this.#prefix;
    const ring = this.#sentAt;
    let at = 0;
    if (this.#resp) {
      for (let i = 0; i < count; i++, at += prefix.length) out.set(prefix, at);
    } else {
      for (let i = 0; i < count; i++) {
        out.set(prefix, at);
        at = writeDecimal(out, at + prefix.length, ++this.#seq);
        out[at++] = NEWLINE;
      }
    }
    const now = performance.now();
    for (let i = 0; i < count; i++) ring[(this.#oldest + this.#inFlight + i) % ring.length] = now;
    this.#inFlight += count;
    await writeAll(this.#conn, out.subarray(0, at));
  }

  /** Takes the complete reply lines in `chunk`; returns how many there were. */
  #receive(chunk: Uint8Array, now: number): number {
    const run = this.#run;
    const ring = this.#sentAt;
    const counted = now >= run.windowStart && now < run.windowEnd;
    let answered = 0;
    // Messages sent in one write and answered in one read share a latency:
    // record them as one run of samples instead of one by one.
    let runSentAt = -1;
    let runLength = 0;
    let at = 0;
    while (at < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, at);
      if (this.#lineLength === 0 && nl !== at) this.#firstByte = chunk[at];
      if (nl === -1) {
        this.#lineLength += chunk.length - at;
        break;
      }
      const length = this.#lineLength + nl - at;
      const acknowledged = this.#resp ? this.#firstByte === COLON : length === 1 && this.#firstByte === ZERO;
      const sentAt = ring[this.#oldest];
      this.#oldest = (this.#oldest + 1) % ring.length;
      this.#inFlight--;
      answered++;
      if (counted) {
        if (acknowledged) {
          run.acknowledged++;
          if (sentAt !== runSentAt) {
            if (runLength > 0) run.histogram.record(now - runSentAt, runLength);
            runSentAt = sentAt;
            runLength = 0;
          }
          runLength++;
        } else {
          run.rejected++;
          run.firstRejection ??= decoder.decode(chunk.subarray(at, nl)).trimEnd();
        }
      }
      this.#lineLength = 0;
      at = nl + 1;
    }
    if (runLength > 0) run.histogram.record(now - runSentAt, runLength);
    return answered;
  }
}

/**
 * Runs the load against a primary on `port`, or spread over several (several
 * primaries sharing one store: connection i goes to `ports[i % ports.length]`):
 * connects every connection first, then loads for warm-up plus duration, then
 * waits for the last replies.
 *
 * @throws {Error} When a connection cannot be opened
 */
export async function generateLoad(port: number | readonly number[], options: LoadOptions = {}): Promise<LoadResult> {
  const ports = typeof port === "number" ? [port] : port;
  if (ports.length === 0) throw new RangeError("Cannot generate load: no port to load");
  const {
    protocol = "likes",
    hostname = "127.0.0.1",
    connections = 1,
    pipeline = 1,
    durationMs = 5000,
    warmupMs = 1000,
    server = 1,
    likes = 1,
    producerPrefix = `bench-${crypto.randomUUID()}-`,
    drainMs = 10_000,
    onWindow,
  } = options;
  if (protocol !== "likes" && protocol !== "resp") {
    throw new RangeError(`Cannot generate load: protocol must be likes or resp, got ${protocol}`);
  }
  for (const [name, value] of Object.entries({ connections, pipeline, durationMs })) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`Cannot generate load: ${name} must be a positive integer, got ${value}`);
    }
  }
  if (!Number.isInteger(warmupMs) || warmupMs < 0) {
    throw new RangeError(`Cannot generate load: warmupMs must be a non-negative integer, got ${warmupMs}`);
  }
  const run: Run = {
    windowStart: 0,
    windowEnd: 0,
    acknowledged: 0,
    rejected: 0,
    unanswered: 0,
    histogram: new LatencyHistogram(),
  };
  const producers: Producer[] = [];
  try {
    for (let i = 0; i < connections; i++) {
      const conn = await Deno.connect({ hostname, port: ports[i % ports.length] });
      conn.setNoDelay(true);
      const resp = protocol === "resp";
      const prefix = resp
        ? respCommand(["INCRBY", "likes", String(likes)])
        : encoder.encode(`${likesServerName(server)} ${likes} ${producerPrefix}${i} `);
      producers.push(new Producer(conn, run, prefix, pipeline, resp));
    }
    const start = performance.now();
    run.windowStart = start + warmupMs;
    run.windowEnd = run.windowStart + durationMs;
    // Each edge fires once: from its timer, or at the end should the timer be late.
    const fired = new Set<"start" | "end">();
    const fire = (edge: "start" | "end") => {
      if (fired.has(edge)) return;
      fired.add(edge);
      onWindow?.(edge);
    };
    const timers = [
      setTimeout(() => fire("start"), warmupMs),
      setTimeout(() => fire("end"), warmupMs + durationMs),
      setTimeout(() => {
        for (const producer of producers) producer.close();
      }, warmupMs + durationMs + drainMs),
    ];
    try {
      await Promise.all(producers.map((producer) => producer.run()));
    } finally {
      for (const timer of timers) clearTimeout(timer);
      fire("start");
      fire("end");
    }
  } finally {
    for (const producer of producers) producer.close();
  }
  return {
    seconds: durationMs / 1000,
    acknowledged: run.acknowledged,
    rejected: run.rejected,
    firstRejection: run.firstRejection,
    unanswered: run.unanswered,
    histogram: run.histogram,
  };
}
