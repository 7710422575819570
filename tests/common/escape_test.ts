import assert from "node:assert/strict";
import fc from "fast-check";
import { parsePrimaryLine } from "../../lib/formats/primary_log.ts";
import { escapeBytes, escapeBytesWithin, escapeText, unescapeBytes } from "../../lib/common/escape.ts";

const bytes = (...values: number[]) => Uint8Array.from(values);

// An Invalid log line as the committer writes it; the literal is matched as a JSON string token.

Deno.test("escapeBytes() leaves printable ASCII as it is, inside quotes", () => {
  assert.equal(escapeBytes(new TextEncoder().encode("LikesServer1 5")), '"LikesServer1 5"');
  assert.equal(escapeBytes(new Uint8Array()), '""');
});

Deno.test("escapeBytes() escapes quotes and backslashes", () => {
  assert.equal(escapeBytes(new TextEncoder().encode('a"b\\c')), '"a\\"b\\\\c"');
  assert.equal(escapeBytes(new TextEncoder().encode('\\"')), '"\\\\\\""');
});

Deno.test("escapeBytes() writes line breaks, controls and high bytes as escapes", () => {
  assert.equal(escapeBytes(bytes(0x0a, 0x0d, 0x09)), '"\\n\\r\\t"');
  assert.equal(escapeBytes(bytes(0x00, 0x1b, 0x7f)), '"\\u0000\\u001b\\u007f"');
  assert.equal(escapeBytes(bytes(0x80, 0xc3, 0xa9, 0xff)), '"\\u0080\\u00c3\\u00a9\\u00ff"');
  // A terminal escape sequence cannot reach a terminal that shows the log.
  assert.equal(escapeBytes(new TextEncoder().encode("\x1b[2J")), '"\\u001b[2J"');
});

Deno.test("escapeText() escapes the UTF-8 bytes of the text", () => {
  assert.equal(escapeText("é"), '"\\u00c3\\u00a9"');
  assert.deepEqual(unescapeBytes(escapeText("é\u2028")), new TextEncoder().encode("é\u2028"));
});

Deno.test("unescapeBytes() reverses escapeBytes() for invalid UTF-8", () => {
  const invalid = bytes(0xc3, 0x28, 0xa0, 0xa1, 0xf0, 0x28, 0x8c, 0xbc, 0xff, 0xfe, 0x00);
  assert.deepEqual(unescapeBytes(escapeBytes(invalid)), invalid);
});

Deno.test("unescapeBytes() rejects what escapeBytes() cannot have made", () => {
  assert.throws(() => unescapeBytes("abc"), SyntaxError);
  assert.throws(() => unescapeBytes('"abc'), SyntaxError);
  assert.throws(() => unescapeBytes("42"), SyntaxError);
  assert.throws(() => unescapeBytes('"\\u0100"'), RangeError);
  assert.throws(() => unescapeBytes('"é€"'), RangeError);
});

Deno.test("escapeBytes() round-trips any bytes through printable ASCII without line breaks", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
      const literal = escapeBytes(data);
      assert.match(literal, /^"[\x20-\x7e]*"$/);
      assert.deepEqual(unescapeBytes(literal), data);
      // One character per byte once parsed, so lengths and positions carry over.
      assert.equal((JSON.parse(literal) as string).length, data.length);
    }),
    { numRuns: 3000 },
  );
});

Deno.test("escapeText() round-trips any text to its UTF-8 bytes", () => {
  fc.assert(
    fc.property(fc.string({ unit: "grapheme", maxLength: 50 }), (text) => {
      const literal = escapeText(text);
      assert.match(literal, /^"[\x20-\x7e]*"$/);
      assert.equal(new TextDecoder().decode(unescapeBytes(literal)), text);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("an escaped Invalid log line is one line that parses back to the original bytes", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }),
      fc.constantFrom("unknown message", "line too long", "likes above maximum"),
      fc.tuple(fc.nat(255), fc.nat(65535)),
      (data, reason, [octet, port]) => {
        const from = `127.0.0.${octet}:${port}`;
        const line = `2026-01-01T00:00:00.000Z Invalid data ${escapeBytes(data)} (${reason}) from ${from}`;
        assert.equal(line.split("\n").length, 1);
        assert.equal(line.includes("\r"), false);
        assert.deepEqual(parsePrimaryLine(line)?.entry, { kind: "invalid", data, reason, from });
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("escapeBytesWithin() escapes the longest start of the bytes whose literal fits the limit", () => {
  assert.deepEqual(escapeBytesWithin(new TextEncoder().encode("abcdef"), 3), { literal: '"abc"', taken: 3 });
  // Never half an escape: \u00ff takes six characters, so two fit in 13 and not a third.
  assert.deepEqual(escapeBytesWithin(new Uint8Array([0xff, 0xff, 0xff]), 13), {
    literal: '"\\u00ff\\u00ff"',
    taken: 2,
  });
  assert.deepEqual(escapeBytesWithin(new Uint8Array([0xff]), 5), { literal: '""', taken: 0 });
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(400), (data, limit) => {
      const { literal, taken } = escapeBytesWithin(data, limit);
      assert.ok(literal.length - 2 <= limit, `${literal.length - 2} > ${limit}`);
      assert.deepEqual(unescapeBytes(literal), data.subarray(0, taken));
      if (taken < data.length) assert.ok(escapeBytes(data.subarray(0, taken + 1)).length - 2 > limit, "not maximal");
    }),
    { numRuns: 1000 },
  );
});
