/**
 * Network fuzz test against a live primary on loopback: random bytes, partial
 * lines, CR/LF mixes, NUL, invalid UTF-8, 1 MB lines and thousands of connects
 * and disconnects. The test keeps its own account of what the protocol says is
 * valid and checks the primary's replies, total and log against it. Bounded in
 * count; the seed is printed so that a failure can be replayed with FUZZ_SEED.
 */
import assert from "node:assert/strict";
import { escapeBytes } from "../../lib/common/escape.ts";
import { parsePrimaryLine } from "../../lib/formats/primary_log.ts";
import { startPrimary } from "../support/primary.ts";
import { exchange, readAll, readReplies } from "../support/client.ts";
import { fromLatin1, oracle } from "../support/protocol_oracle.ts";
import { closeQuietly, concatBytes } from "../../lib/common/io.ts";
import { createRandom } from "../../lib/common/random.ts";

const MAX_LINE = 1024;
const MAX_LIKES = 42;
const MAX_SEQ = 2 ** 53 - 1;
const TALK_SESSIONS = 500;
const CHURN_SESSIONS = 2000;
const MEGABYTE_SESSIONS = 3;
const CONCURRENCY = 50;

const NL = 0x0a;
const CR = 0x0d;

const key = (bytes: Uint8Array) => {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return text;
};

// ---- The oracle: what the protocol (lib/protocol/message.ts's header) says, written apart from the primary.

interface Account {
  total: number;
  accepted: number;
  duplicates: number;
  /** Every rejected line as the log must show it (an overlong line by its first MAX_LINE bytes). */
  invalid: Map<string, number>;
  lastSeq: Map<string, number>;
  /** The likes counted under each producer's highest seq. */
  lastLikes: Map<string, number>;
}

/**
 * Judges the bytes one connection sent in full: the replies the primary owes,
 * in order ("1" stands for any rejection), and what they add to the account.
 * Framing: lines end with LF; a line over MAX_LINE bytes (a CR before the LF
 * not counted) is rejected and ends the connection; an unfinished last line is
 * logged as incomplete unless it is already too long to ever fit. Every
 * stream starts with a newline-terminated line and no line starts with a NUL,
 * so the connection is line-framed throughout (seed-era framing, which depends
 * on timing and read boundaries, has its own tests in seed_era_test.ts).
 */
function judge(stream: Uint8Array, account: Account): { replies: string[]; cut: boolean } {
  const replies: string[] = [];
  const reject = (line: Uint8Array, reply: string) => {
    const k = key(line);
    account.invalid.set(k, (account.invalid.get(k) ?? 0) + 1);
    replies.push(reply);
  };
  let start = 0;
  while (true) {
    const nl = stream.indexOf(NL, start);
    const line = stream.subarray(start, nl === -1 ? stream.length : nl);
    const cr = line.length > 0 && line[line.length - 1] === CR;
    if (line.length > (nl === -1 || cr ? MAX_LINE + 1 : MAX_LINE)) {
      reject(line.subarray(0, MAX_LINE), "1 line too long");
      return { replies, cut: true };
    }
    if (nl === -1) {
      // Logged as incomplete when the connection ends; nothing is left to answer.
      if (line.length > 0) account.invalid.set(key(line), (account.invalid.get(key(line)) ?? 0) + 1);
      return { replies, cut: false };
    }
    const verdict = oracle(line, MAX_LIKES);
    if (verdict === undefined) {
      reject(line, "1");
    } else if (verdict.kind === "auth") {
      replies.push("0 authenticated");
    } else if (
      verdict.producer !== undefined && verdict.seq === account.lastSeq.get(verdict.producer) &&
      verdict.likes !== account.lastLikes.get(verdict.producer)
    ) {
      // Logged in its canonical form: the committer sees the parsed like, not its bytes.
      const canonical = `LikesServer${verdict.server} ${verdict.likes} ${verdict.producer} ${verdict.seq}`;
      reject(new TextEncoder().encode(canonical), "1 seq reused with other likes");
    } else if (verdict.producer !== undefined && verdict.seq! <= (account.lastSeq.get(verdict.producer) ?? 0)) {
      account.duplicates++;
      replies.push("0 duplicate");
    } else {
      if (verdict.producer !== undefined) {
        account.lastSeq.set(verdict.producer, verdict.seq!);
        account.lastLikes.set(verdict.producer, verdict.likes);
      }
      account.total += verdict.likes;
      account.accepted++;
      replies.push("0");
    }
    start = nl + 1;
  }
}

function matches(got: string, expected: string): boolean {
  return expected === "1" ? got.startsWith("1 ") && got !== "1 line too long" : got === expected;
}

// ---- Random traffic.

class Traffic {
  readonly #random: () => number;
  constructor(seed: number) {
    this.#random = createRandom(seed);
  }

  int(n: number): number {
    return Math.floor(this.#random() * n);
  }

  chance(p: number): boolean {
    return this.#random() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  bytes(length: number, newlines: boolean): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      let b = this.pick([0, 0x0d, 0xff, 0xc3, 0x80, 0x20, 0x41, this.int(256)]);
      if (!newlines && b === NL) b = 0x20;
      out[i] = b;
    }
    return out;
  }

  plain(): string {
    return `LikesServer${this.pick([1, 2, 3, 0, 9999, this.int(10_000)])} ${this.int(MAX_LIKES + 1)}`;
  }

  insert(text: string, what: string): Uint8Array {
    const at = this.int(text.length);
    return fromLatin1(text.slice(0, at) + what + text.slice(at));
  }

  /** One line without its terminator; `session` keeps idempotent producers apart. */
  line(session: { producer: string; seq: number }): Uint8Array {
    switch (this.int(15)) {
      case 0:
      case 1:
      case 2:
        return fromLatin1(this.plain());
      case 3: {
        // Sometimes the same seq again: a retry, counted once.
        if (session.seq === 0 || this.chance(0.7)) session.seq += 1 + this.int(3);
        return fromLatin1(`LikesServer${this.int(10)} ${this.int(MAX_LIKES + 1)} ${session.producer} ${session.seq}`);
      }
      case 4:
        return fromLatin1(this.pick(["AUTH x", "AUTH ", "AUTH", "AUTH \x00\xff"]));
      case 5:
        return fromLatin1(this.pick([
          "LikesServer1 43",
          "LikesServer1 -1",
          "LikesServer1 1.5",
          "LikesServer1 01",
          "LikesServer01 1",
          "LikesServer10000 1",
          "LikesServer1",
          "LikesServer1 1 2",
          "LikesServer1 1 p 1 2",
          "LikesServer1 1 p.q 1",
          "LikesServer1 1 p 0",
          `LikesServer1 1 p ${MAX_SEQ + 1}`,
          "likesserver1 1",
          "LikesServer1  1",
          "LikesServer1 1 ",
          "LikesServer\u00e91 1",
        ]));
      case 6:
        return this.insert(this.plain(), "\r");
      case 7:
        return this.insert(this.plain(), "\0");
      case 8:
        return this.chance(0.5)
          ? this.insert(this.plain(), this.pick(["\xc3\x28", "\xff", "\xe2\x82", "\xf0\x9f\x98"]))
          : this.bytes(1 + this.int(20), false).map((b) => b | 0x80);
      case 9:
        return this.bytes(this.int(100), true);
      case 10:
        return new Uint8Array();
      case 11: {
        const line = fromLatin1(this.plain());
        line[this.int(line.length)] = this.int(256);
        return line;
      }
      case 12:
        return fromLatin1(
          "x".repeat(this.pick([MAX_LINE - 1, MAX_LINE, MAX_LINE, MAX_LINE, MAX_LINE + 1])) +
            (this.chance(0.3) ? "\r" : ""),
        );
      case 13:
        return fromLatin1(this.plain().replace(" ", this.pick(["\t", "  ", "\r", "\v"])));
      default:
        return this.chance(0.03) ? this.bytes(MAX_LINE + 1 + this.int(3000), false) : fromLatin1(this.plain());
    }
  }

  /** A whole connection's bytes: lines with LF or CRLF, maybe an unfinished last line. */
  stream(session: { producer: string; seq: number }): Uint8Array {
    const parts: Uint8Array[] = [fromLatin1(`${this.plain()}\n`)];
    const lines = this.int(30);
    for (let i = 0; i < lines; i++) {
      parts.push(notPadding(this.line(session)), fromLatin1(this.chance(0.2) ? "\r\n" : "\n"));
    }
    if (this.chance(0.2)) {
      parts.push(notPadding(this.chance(0.5) ? fromLatin1(this.plain()) : this.bytes(this.int(200), false)));
    }
    return concatBytes(parts);
  }
}

/** A NUL where a line would start is padding to the end of its read (seed-era framing): keep it out. */
function notPadding(line: Uint8Array): Uint8Array {
  for (let i = 0; i < line.length; i++) if (line[i] === 0 && (i === 0 || line[i - 1] === NL)) line[i] = 0x41;
  return line;
}

// ---- Clients.

/** Writes `stream` in random chunks while reading replies; half-closes; returns the reply lines. */
async function talk(port: number, stream: Uint8Array, traffic: Traffic): Promise<string[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const writing = (async () => {
    let at = 0;
    while (at < stream.length) {
      const end = Math.min(stream.length, at + 1 + traffic.int(traffic.chance(0.5) ? 16 : 65536));
      at += await conn.write(stream.subarray(at, end));
    }
    await conn.closeWrite();
  })().catch(() => {/* the primary closed first: after a line too long */});
  const buffer = new Uint8Array(65536);
  const decoder = new TextDecoder();
  let text = "";
  const timer = setTimeout(() => conn.close(), 20_000);
  try {
    while (true) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
    await writing;
  } finally {
    clearTimeout(timer);
    closeQuietly(conn);
  }
  return text.split("\n").slice(0, -1);
}

/** Connects and goes away: at once, after an unfinished line, or after a like and then an unfinished line. */
async function churn(port: number, traffic: Traffic, account: Account): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const kind = traffic.int(4);
    if (kind === 1) {
      // A seed-era client: a whole message, no newline, then the close ends it.
      const message = traffic.plain();
      account.total += Number(message.split(" ")[1]);
      account.accepted++;
      await conn.write(fromLatin1(message));
      // Half-close and wait for the end, so that the like is surely counted before the totals are checked.
      await conn.closeWrite();
      assert.deepEqual(await readAll(conn), "0\0");
    } else if (kind === 2) {
      // Junk that never looks like a message (no NUL, no name): logged as incomplete when dropped.
      const junk = traffic.bytes(1 + traffic.int(MAX_LINE), false).map((b) => b === 0 ? 0x20 : b);
      if (junk[0] === 0x4c || junk[0] === 0x6c) junk[0] = 0x41;
      const k = key(junk);
      account.invalid.set(k, (account.invalid.get(k) ?? 0) + 1);
      await conn.write(junk);
      await conn.closeWrite();
      assert.equal(await readAll(conn), "");
    } else if (kind === 3) {
      const line = fromLatin1(`${traffic.plain()}\n`);
      const { replies } = judge(line, account);
      await conn.write(line);
      // Read before going away, so that the close is a clean FIN and the line surely counted.
      assert.deepEqual(await readReplies(conn, 1), replies);
      await conn.write(fromLatin1("LikesServer1 4"));
      account.invalid.set("LikesServer1 4", (account.invalid.get("LikesServer1 4") ?? 0) + 1);
    }
  } finally {
    conn.close();
  }
}

async function pool(tasks: (() => Promise<void>)[], concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

Deno.test("fuzzed traffic leaves the primary serving, with the exact total and every invalid line logged", async () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`FUZZ_SEED=${seed}`);
  const traffic = new Traffic(seed);
  const account: Account = {
    total: 0,
    accepted: 0,
    duplicates: 0,
    invalid: new Map(),
    lastSeq: new Map(),
    lastLikes: new Map(),
  };
  // Without the quiet period, framing depends only on the bytes, never on timing.
  // Every invalid line logged whole: no rate limit, room for a whole line escaped (six characters a byte at most).
  const primary = await startPrimary({
    flags: { maxLine: MAX_LINE, quietEnd: 0, invalidLogRate: 1_000_000, maxLoggedBytes: 6 * (MAX_LINE + 1) },
  });
  const started = performance.now();
  let sentBytes = 0;
  let cutOff = 0;
  let cutAnswered = 0;
  try {
    const tasks: (() => Promise<void>)[] = [];
    for (let i = 0; i < TALK_SESSIONS; i++) {
      const stream = traffic.stream({ producer: `fuzz-${seed}-${i}`, seq: 0 });
      sentBytes += stream.length;
      // Judged in task order, which is also the order of each producer's own lines.
      const { replies: expected, cut } = judge(stream, account);
      if (cut) cutOff++;
      // Each task draws from its own generator, so that the seed replays the run whatever the scheduling.
      const own = new Traffic(seed + tasks.length + 1);
      tasks.push(async () => {
        const got = await talk(primary.port, stream, own);
        // After a line too long the primary closes at once, so the client may lose the last replies.
        if (!cut) assert.equal(got.length, expected.length, `replies to ${escapeBytes(stream)}`);
        else if (got.length === expected.length) cutAnswered++;
        assert.ok(got.length <= expected.length);
        got.forEach((reply, j) =>
          assert.ok(matches(reply, expected[j]), `reply ${j}: ${reply}, expected ${expected[j]}`)
        );
      });
    }
    for (let i = 0; i < MEGABYTE_SESSIONS; i++) {
      const before = fromLatin1(`LikesServer1 1\nLikesServer2 2\r\n${traffic.plain()}\n`);
      const stream = concatBytes([
        before,
        notPadding(traffic.bytes(1 << 20, false)),
        fromLatin1(`\nLikesServer1 40\n`),
      ]);
      sentBytes += stream.length;
      const { replies: expected, cut } = judge(stream, account);
      assert.ok(cut);
      cutOff++;
      const own = new Traffic(seed + tasks.length + 1);
      tasks.push(async () => {
        const got = await talk(primary.port, stream, own);
        if (got.length === expected.length) cutAnswered++;
        got.forEach((reply, j) =>
          assert.ok(matches(reply, expected[j]), `reply ${j}: ${reply}, expected ${expected[j]}`)
        );
      });
    }
    for (let i = 0; i < CHURN_SESSIONS; i++) {
      const own = new Traffic(seed + tasks.length + 1);
      tasks.push(() => churn(primary.port, own, account));
    }
    // Shuffled, so that churn, megabyte lines and talk overlap.
    for (let i = tasks.length - 1; i > 0; i--) {
      const j = traffic.int(i + 1);
      [tasks[i], tasks[j]] = [tasks[j], tasks[i]];
    }
    await pool(tasks, CONCURRENCY);

    // Still serving afterwards.
    assert.deepEqual(await exchange(primary.port, "LikesServer1 1\n", 1), ["0"]);
    account.total++;
    account.accepted++;
    const stats = await (await fetch(`http://127.0.0.1:${primary.httpPort}/api/stats`)).json();
    assert.equal(stats.total, account.total);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const elapsed = performance.now() - started;
  const invalidCount = [...account.invalid.values()].reduce((a, b) => a + b, 0);
  console.log(
    `${TALK_SESSIONS + MEGABYTE_SESSIONS} fuzzed connections (${(sentBytes / 1e6).toFixed(1)} MB, ${cutOff} cut off ` +
      `for a line too long, ${cutAnswered} of them with every reply received) and ${CHURN_SESSIONS} connect/disconnects in ${
        elapsed.toFixed(0)
      } ms: ` +
      `${account.accepted} likes accepted, ${account.duplicates} duplicates, ${invalidCount} invalid lines, total ${account.total}`,
  );

  const log = await Deno.readTextFile(primary.log);
  assert.ok(log.endsWith(`Stopped by SIGTERM with total ${account.total}\n`), log.slice(-200));
  const logged = new Map<string, number>();
  let accepted = 0;
  let duplicates = 0;
  for (const line of log.slice(0, -1).split("\n")) {
    // Outside data never brings a control character or a non-ASCII byte into the log.
    assert.match(line, /^[\x20-\x7e]*$/);
    const entry = parsePrimaryLine(line)?.entry;
    assert.ok(entry, line);
    if (entry.kind === "like") entry.duplicate ? duplicates++ : accepted++;
    if (entry.kind !== "invalid") continue;
    assert.ok(entry.from.startsWith("127.0.0.1:"), line);
    // Data that starts like an AUTH line may hold a token: only its length is logged.
    const k = entry.data ? key(entry.data) : `withheld ${entry.length}`;
    logged.set(k, (logged.get(k) ?? 0) + 1);
  }
  assert.equal(accepted, account.accepted);
  assert.equal(duplicates, account.duplicates);
  const expected = new Map<string, number>();
  for (const [k, count] of account.invalid) {
    // deno-lint-ignore no-control-regex
    const shown = /^[\x00-\x20]*auth/i.test(k) ? `withheld ${k.length}` : k;
    expected.set(shown, (expected.get(shown) ?? 0) + count);
  }
  assert.deepEqual(logged, expected);
});
