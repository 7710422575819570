/**
 * The primary's allocation-free paths (parsing in place, reused producer ids,
 * replies and log lines as bytes) must behave exactly
 * like the plain ones the other tests pin down.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { Committer } from "../../../../lib/primary/backend/embedded/committer.ts";
import type { Entry } from "../../../../lib/primary/backend/backend.ts";
import { Ledger } from "../../../../lib/primary/ledger.ts";
import { LikesLog } from "../../../../lib/primary/likes_log.ts";
import {
  formatLike,
  type Message,
  parseMessage,
  parseMessageAt,
  ProducerIds,
} from "../../../../lib/protocol/message.ts";
import { Stats } from "../../../../lib/primary/stats.ts";
import { fromLatin1, oracle } from "../../../support/protocol_oracle.ts";
import { tempDir } from "../../../support/temp.ts";
import { primaryEntries } from "../../../support/logs.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Comparable form of a message: an AUTH token is a view, so copy it. */
function plain(message: Message): unknown {
  return message.kind === "auth" ? { ...message, token: message.token.slice() } : message;
}

// Ids that share prefixes and lengths, so that a remembered id is often almost the next one.
const producer = fc.constantFrom(
  "p",
  "q",
  "pq",
  "p-q",
  "p_",
  "P",
  "p".repeat(63),
  "p".repeat(64),
  "p".repeat(65),
  "p.",
);
const line = fc.oneof(
  fc.record({
    server: fc.nat(10),
    likes: fc.nat(50),
    producer,
    seq: fc.nat(3),
    cr: fc.boolean(),
    tail: fc.constantFrom("", " ", " 1", "x"),
  }).map(({ cr, tail, ...like }) => fromLatin1(formatLike(like) + tail + (cr ? "\r" : ""))),
  fc.uint8Array({ maxLength: 40 }),
  fc.constantFrom("AUTH x", "AUTH ", "LikesServer1 1 p", "LikesServer1 1 p ", "").map(fromLatin1),
);

Deno.test("parseMessageAt() reads a line inside a larger buffer as parseMessage() reads it alone", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 8 }), line, fc.uint8Array({ maxLength: 8 }), (before, text, after) => {
      const buffer = new Uint8Array([...before, ...text, ...after]);
      const start = before.length;
      assert.deepEqual(
        plain(parseMessageAt(buffer, start, start + text.length)),
        plain(parseMessage(text.slice())),
      );
    }),
    { numRuns: 3000 },
  );
});

Deno.test("parseMessage() with ProducerIds gives, line after line, what the protocol says", () => {
  fc.assert(
    fc.property(fc.array(line, { maxLength: 20 }), (lines) => {
      const producerIds = new ProducerIds();
      for (const text of lines) {
        const message = parseMessage(text, { producerIds });
        const expected = oracle(text, 42);
        if (expected === undefined) assert.equal(message.kind, "invalid");
        else assert.deepEqual(plain(message), expected);
        assert.deepEqual(plain(message), plain(parseMessage(text)));
      }
    }),
    { numRuns: 3000 },
  );
});

function committerIn(dir: string): { committer: Committer; close: () => void; log: string } {
  const log = LikesLog.open(`${dir}/log`);
  const committer = new Committer(new Ledger(), log, new Stats());
  return {
    committer,
    log: `${dir}/log`,
    close: () => log.close(),
  };
}

Deno.test("Committer.submit() answers each chunk with the exact reply bytes and writes the log lines byte for byte", async () => {
  const chunks: [Entry[], string][] = [
    [[{ kind: "like", server: 1, likes: 3 }, { kind: "like", server: 2, likes: 4, producer: "p", seq: 1 }], "0\n0\n"],
    [
      [
        { kind: "like", server: 2, likes: 4, producer: "p", seq: 1 },
        { kind: "invalid", reason: "unknown message", data: '"h\\u00e9"', from: "127.0.0.1:1" },
        { kind: "reply", text: "0 authenticated" },
        { kind: "invalid", reason: "bad token", data: undefined, from: "127.0.0.1:2" },
        { kind: "like", server: 9999, likes: 0, producer: "é-not-ascii", seq: Number.MAX_SAFE_INTEGER },
      ],
      "0 duplicate\n1 unknown message\n0 authenticated\n1 bad token\n0\n",
    ],
    [[], ""],
    [
      Array.from(
        { length: 5000 },
        (_, i) => ({ kind: "like" as const, server: 3, likes: 1, producer: "q", seq: i + 1 }),
      ),
      "0\n".repeat(5000),
    ],
  ];
  const bytes = committerIn(await tempDir());
  try {
    for (const [entries, replies] of chunks) {
      assert.equal(decoder.decode(await bytes.committer.submit(entries)), replies);
    }
  } finally {
    bytes.close();
  }
  // The lines the log format prescribes (likes_log.ts), but for their times.
  const untimed = (path: string) => Deno.readTextFileSync(path).replace(/^\S+ /gm, "");
  const expected = [
    "LikesServer1 3 Total 3",
    "LikesServer2 4 Total 7 producer=p seq=1",
    "LikesServer2 4 Duplicate Total 7 producer=p seq=1",
    'Invalid data "h\\u00e9" (unknown message) from 127.0.0.1:1',
    "Invalid data (bad token) from 127.0.0.1:2",
    "LikesServer9999 0 Total 7 producer=é-not-ascii seq=9007199254740991",
    ...Array.from({ length: 5000 }, (_, i) => `LikesServer3 1 Total ${8 + i} producer=q seq=${i + 1}`),
  ].map((l) => `${l}\n`).join("");
  assert.equal(untimed(bytes.log), expected);
  // Every line starts with its time: the parser refuses a line without one.
  assert.deepEqual(primaryEntries(bytes.log)[0], { kind: "like", server: 1, likes: 3, duplicate: false, total: 3 });
});

Deno.test("LikesLog.append() writes bytes exactly as it writes the same text", async () => {
  const dir = await tempDir();
  const a = LikesLog.open(`${dir}/a`);
  const b = LikesLog.open(`${dir}/b`);
  try {
    for (const text of ["one\n", "", "é ü\n"]) {
      a.append(text);
      b.append(encoder.encode(text));
    }
    assert.equal(b.size, a.size);
  } finally {
    a.close();
    b.close();
  }
  assert.deepEqual(Deno.readFileSync(`${dir}/b`), Deno.readFileSync(`${dir}/a`));
});
