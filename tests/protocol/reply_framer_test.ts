import assert from "node:assert/strict";
import { ReplyFramer } from "../../lib/protocol/reply_framer.ts";

const bytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

Deno.test("a reply ends at its NUL and the rest of the read is discarded, not kept for the next reply", () => {
  const framer = new ReplyFramer();
  framer.feed(bytes("0\0a\0%s %"));
  assert.equal(framer.reply, "0");
  assert.equal(framer.discarded, 6);
  framer.feed(bytes("late"));
  assert.equal(framer.reply, "0");
  assert.equal(framer.discarded, 10);
});

Deno.test("a reply ends at its newline, without the CR of a CRLF, and may span reads", () => {
  const framer = new ReplyFramer();
  framer.feed(bytes("0 dupl"));
  assert.equal(framer.reply, undefined);
  assert.ok(framer.started);
  framer.feed(bytes("icate\r\n1 x\n"));
  assert.equal(framer.reply, "0 duplicate");
  assert.equal(framer.discarded, 4);
});

Deno.test("NUL padding where a reply would start is discarded, not an empty reply", () => {
  const framer = new ReplyFramer();
  framer.feed(bytes("\0\0\0"));
  assert.equal(framer.started, false);
  framer.feed(bytes("\0ACK\n"));
  assert.equal(framer.reply, "ACK");
  assert.equal(framer.discarded, 4);
});

Deno.test("a reply without a terminator ends only when ended from outside, and only once it has begun", () => {
  const framer = new ReplyFramer();
  assert.equal(framer.end(), undefined);
  framer.feed(bytes("1"));
  assert.equal(framer.reply, undefined);
  assert.equal(framer.end(), "1");
  assert.equal(framer.reply, "1");
});

Deno.test("a reply longer than the limit is cut there and the rest discarded", () => {
  const framer = new ReplyFramer(4);
  framer.feed(bytes("abc"));
  framer.feed(bytes("defg"));
  assert.equal(framer.reply, "abcd");
  assert.equal(framer.discarded, 3);
  assert.throws(() => new ReplyFramer(0), RangeError);
});
