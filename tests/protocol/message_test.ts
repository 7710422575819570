import assert from "node:assert/strict";
import fc from "fast-check";
import { formatLike, MAX_PRODUCER_LENGTH, MAX_SEQ, parseMessage } from "../../lib/protocol/message.ts";
import { likesServerName, MAX_SERVER_ID } from "../../lib/protocol/names.ts";
import { fromLatin1, oracle } from "../support/protocol_oracle.ts";

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);

const REASONS = new Set([
  "empty line",
  "empty token",
  "unknown message",
  "bad server number",
  "missing likes",
  "negative likes",
  "likes not an integer",
  "likes above maximum",
  "bad producer id",
  "missing sequence number",
  "bad sequence number",
  "too many fields",
]);

function reasonOf(line: string, maxLikes = 42): string {
  const message = parseMessage(bytes(line), { maxLikes });
  assert.equal(message.kind, "invalid", `expected ${JSON.stringify(line)} to be rejected`);
  return (message as { reason: string }).reason;
}

Deno.test("parseMessage() accepts the plain form", () => {
  assert.deepEqual(parseMessage(bytes("LikesServer3 23")), { kind: "like", server: 3, likes: 23 });
  assert.deepEqual(parseMessage(bytes("LikesServer0 0")), { kind: "like", server: 0, likes: 0 });
  assert.deepEqual(parseMessage(bytes("LikesServer9999 42")), { kind: "like", server: 9999, likes: 42 });
});

Deno.test("parseMessage() accepts the idempotent form", () => {
  assert.deepEqual(parseMessage(bytes("LikesServer1 5 run-A_9 17")), {
    kind: "like",
    server: 1,
    likes: 5,
    producer: "run-A_9",
    seq: 17,
  });
  const longest = "p".repeat(MAX_PRODUCER_LENGTH);
  assert.deepEqual(parseMessage(bytes(`LikesServer1 5 ${longest} ${MAX_SEQ}`)), {
    kind: "like",
    server: 1,
    likes: 5,
    producer: longest,
    seq: MAX_SEQ,
  });
});

Deno.test("parseMessage() accepts trailing CR, space and tab padding", () => {
  assert.deepEqual(parseMessage(bytes("LikesServer2 7\r")), { kind: "like", server: 2, likes: 7 });
  assert.deepEqual(parseMessage(bytes("LikesServer2 7 p 1\r")), {
    kind: "like",
    server: 2,
    likes: 7,
    producer: "p",
    seq: 1,
  });
  assert.deepEqual(parseMessage(bytes("LikesServer2 7 \t\r\r")), { kind: "like", server: 2, likes: 7 });
  assert.equal(reasonOf("LikesServer2\r 7"), "bad server number");
  assert.equal(reasonOf("\r"), "empty line");
});

Deno.test("parseMessage() accepts runs of spaces or tabs between fields", () => {
  assert.deepEqual(parseMessage(bytes("LikesServer1  \t 5")), { kind: "like", server: 1, likes: 5 });
  assert.deepEqual(parseMessage(bytes("LikesServer1\t5\tp  9")), {
    kind: "like",
    server: 1,
    likes: 5,
    producer: "p",
    seq: 9,
  });
  assert.equal(reasonOf("LikesServer1 1 p"), "missing sequence number");
});

Deno.test("parseMessage() accepts LikeServer<N> in any letter case, as the same server", () => {
  for (const name of ["LikeServer", "likeServer", "LIKESERVER", "likesserver", "LiKeSsErVeR"]) {
    assert.deepEqual(parseMessage(bytes(`${name}4 2`)), { kind: "like", server: 4, likes: 2 }, name);
  }
  assert.equal(reasonOf("LikesServe4 2"), "unknown message");
  assert.equal(reasonOf("LikeSServerr4 2"), "bad server number");
});

Deno.test("parseMessage() honours the maxLikes option", () => {
  assert.deepEqual(parseMessage(bytes("LikesServer1 100"), { maxLikes: 100 }), { kind: "like", server: 1, likes: 100 });
  assert.equal(reasonOf("LikesServer1 101", 100), "likes above maximum");
  assert.equal(reasonOf("LikesServer1 1", 0), "likes above maximum");
});

Deno.test("parseMessage() rejects an empty line", () => {
  assert.equal(reasonOf(""), "empty line");
});

Deno.test("parseMessage() rejects garbage as an unknown message", () => {
  for (const line of ["hello", " LikesServer1 1", "LikesServe1 1", "LikServer1 1", "AUTH", "auth x", "\0", "\xff"]) {
    assert.equal(reasonOf(line), "unknown message", JSON.stringify(line));
  }
});

Deno.test("parseMessage() rejects a bad server number", () => {
  for (
    const line of [
      "LikesServer",
      "LikesServer 1",
      "LikesServer-1 1",
      "LikesServerX 1",
      "LikesServer01 1",
      "LikesServer00 1",
      `LikesServer${MAX_SERVER_ID + 1} 1`,
      "LikesServer1.5 1",
    ]
  ) {
    assert.equal(reasonOf(line), "bad server number", JSON.stringify(line));
  }
});

Deno.test("parseMessage() rejects a missing likes field", () => {
  assert.equal(reasonOf("LikesServer1"), "missing likes");
  assert.equal(reasonOf("LikesServer1\r"), "missing likes");
  assert.equal(reasonOf("LikesServer1 "), "missing likes");
});

Deno.test("parseMessage() rejects negative likes", () => {
  assert.equal(reasonOf("LikesServer1 -1"), "negative likes");
  assert.equal(reasonOf("LikesServer1 -0"), "negative likes");
});

Deno.test("parseMessage() rejects likes that are not integers", () => {
  for (
    const line of [
      "LikesServer1 1.5",
      "LikesServer1 1.0",
      "LikesServer1 .5",
      "LikesServer1 1e1",
      "LikesServer1 +1",
      "LikesServer1 0x1",
      "LikesServer1 one",
      "LikesServer1 01",
      "LikesServer1 00",
      "LikesServer1 1\0",
    ]
  ) {
    assert.equal(reasonOf(line), "likes not an integer", JSON.stringify(line));
  }
});

Deno.test("parseMessage() with leadingZeros reads a like count as sscanf's %d did, and nothing else more loosely", () => {
  const seed = (line: string) => parseMessage(bytes(line), { leadingZeros: true });
  assert.deepEqual(seed("LikeServer9 06"), { kind: "like", server: 9, likes: 6 });
  assert.deepEqual(seed("LikesServer9 00"), { kind: "like", server: 9, likes: 0 });
  assert.deepEqual(seed(`LikesServer9 ${"0".repeat(30)}42 \t`), { kind: "like", server: 9, likes: 42 });
  assert.deepEqual(seed("LikesServer9 007 p 3"), { kind: "like", server: 9, likes: 7, producer: "p", seq: 3 });
  assert.equal(seed("LikesServer9 043").kind, "invalid", "still at most max-likes");
  for (const line of ["LikesServer09 6", "LikesServer9 0x6", "LikesServer9 0-6", "LikesServer9 6 p 03"]) {
    assert.equal(seed(line).kind, "invalid", line);
  }
  assert.equal(reasonOf("LikeServer9 06"), "likes not an integer", "strict without the option");
});

Deno.test("parseMessage() rejects likes above the maximum, however many digits", () => {
  assert.equal(reasonOf("LikesServer1 43"), "likes above maximum");
  assert.equal(reasonOf("LikesServer1 9999999999999999"), "likes above maximum");
  assert.equal(parseMessage(bytes(`LikesServer1 ${"9".repeat(400)}`)).kind, "invalid");
});

Deno.test("parseMessage() rejects a bad producer id", () => {
  for (
    const line of [
      "LikesServer1 1 a.b 1",
      "LikesServer1 1 a/b 1",
      "LikesServer1 1 \xe9 1",
      `LikesServer1 1 ${"p".repeat(MAX_PRODUCER_LENGTH + 1)} 1`,
    ]
  ) {
    assert.equal(reasonOf(line), "bad producer id", JSON.stringify(line));
  }
});

Deno.test("parseMessage() rejects a producer without a sequence number", () => {
  assert.equal(reasonOf("LikesServer1 1 p"), "missing sequence number");
  assert.equal(reasonOf("LikesServer1 1 p\r"), "missing sequence number");
});

Deno.test("parseMessage() rejects a bad sequence number", () => {
  for (
    const line of [
      "LikesServer1 1 p 0",
      "LikesServer1 1 p 01",
      "LikesServer1 1 p -1",
      "LikesServer1 1 p 1.5",
      "LikesServer1 1 p x",
      `LikesServer1 1 p ${MAX_SEQ + 1}`,
      "LikesServer1 1 p 9999999999999999",
      "LikesServer1 1 p 99999999999999999",
    ]
  ) {
    assert.equal(reasonOf(line), "bad sequence number", JSON.stringify(line));
  }
});

Deno.test("parseMessage() rejects extra fields", () => {
  assert.equal(reasonOf("LikesServer1 1 p 1 2"), "too many fields");
  assert.equal(reasonOf("LikesServer1 1 p 1 x"), "too many fields");
});

Deno.test("parseMessage() reads AUTH lines and keeps the token's bytes", () => {
  const message = parseMessage(bytes("AUTH s3cret with spaces\r"));
  assert.equal(message.kind, "auth");
  assert.deepEqual((message as { token: Uint8Array }).token, bytes("s3cret with spaces"));
  assert.equal(reasonOf("AUTH "), "empty token");
  assert.equal(reasonOf("AUTH \r"), "empty token");
});

Deno.test("formatLike() writes lines that parseMessage() reads back", () => {
  for (
    const like of [
      { server: 1, likes: 0 },
      { server: 9999, likes: 42, producer: "a-b_C", seq: 1 },
      { server: 0, likes: 7, producer: "x", seq: MAX_SEQ },
    ]
  ) {
    assert.deepEqual(parseMessage(bytes(formatLike(like))), { kind: "like", ...like });
  }
});

// Pieces that make near-valid lines likely, so that random search reaches the boundaries.
const piece = fc.constantFrom(
  "LikesServer",
  "AUTH ",
  " ",
  " ",
  "0",
  "1",
  "7",
  "42",
  "43",
  "9999",
  "10000",
  "-",
  ".",
  "+",
  "\r",
  "\n",
  "\t",
  "\0",
  "\xff",
  "\xc3\xa9",
  "p",
  "run_1-A",
  "p".repeat(64),
  "p".repeat(65),
  "00",
  String(MAX_SEQ),
  String(MAX_SEQ + 1),
  "99999999999999999",
);
const anyLine = fc.oneof(
  fc.uint8Array({ maxLength: 80 }),
  fc.array(piece, { maxLength: 12 }).map((parts) => fromLatin1(parts.join(""))),
  fc.record({
    server: fc.nat(10_050),
    likes: fc.nat(60),
    producer: fc.option(fc.stringMatching(/^[A-Za-z0-9_-]{1,66}$/), { nil: undefined }),
    seq: fc.oneof(fc.nat(5), fc.constantFrom(MAX_SEQ, MAX_SEQ + 1)),
    cr: fc.boolean(),
  }).map(({ cr, ...like }) => bytes(formatLike(like) + (cr ? "\r" : ""))),
);

Deno.test("parseMessage() agrees with the protocol on any byte string and never throws", () => {
  fc.assert(
    fc.property(anyLine, fc.constantFrom(0, 42, 1000), (line, maxLikes) => {
      const message = parseMessage(line, { maxLikes });
      const expected = oracle(line, maxLikes);
      if (expected === undefined) {
        assert.equal(message.kind, "invalid");
        assert.ok(
          REASONS.has((message as { reason: string }).reason),
          `unexpected reason in ${JSON.stringify(message)}`,
        );
      } else {
        assert.deepEqual(message.kind === "auth" ? { ...message, token: message.token.slice() } : message, expected);
      }
    }),
    { numRuns: 5000 },
  );
});

Deno.test("parseMessage() never reads outside the line it is given", () => {
  fc.assert(
    fc.property(anyLine, fc.uint8Array({ minLength: 1, maxLength: 8 }), (line, after) => {
      // The line as a view into a larger buffer, as the server hands it over.
      const buffer = new Uint8Array(line.length + after.length);
      buffer.set(line);
      buffer.set(after, line.length);
      const view = buffer.subarray(0, line.length);
      const message = parseMessage(view);
      assert.deepEqual(
        message.kind === "auth" ? { ...message, token: message.token.slice() } : message,
        (() => {
          const copy = parseMessage(line.slice());
          return copy.kind === "auth" ? { ...copy, token: copy.token.slice() } : copy;
        })(),
      );
    }),
    { numRuns: 2000 },
  );
});

Deno.test("parseMessage() takes its server id range from MAX_SERVER_ID, no more and no less", () => {
  for (const id of [0, 1, MAX_SERVER_ID - 1, MAX_SERVER_ID]) {
    assert.deepEqual(parseMessage(bytes(`${likesServerName(id)} 1`)), { kind: "like", server: id, likes: 1 });
  }
  for (const id of [MAX_SERVER_ID + 1, MAX_SERVER_ID * 10 + 9]) {
    assert.equal(reasonOf(`LikesServer${id} 1`), "bad server number", String(id));
  }
});
