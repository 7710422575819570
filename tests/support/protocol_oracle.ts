/**
 * Test support: what the protocol says (lib/protocol/message.ts's header), written
 * apart from the parser, as a regex over the bytes plus the numeric limits.
 * The property and fuzz tests hold the primary to it.
 */
import { MAX_SEQ, type Message } from "../../lib/protocol/message.ts";
import { MAX_SERVER_ID } from "../../lib/protocol/names.ts";

/** One character per byte, so that a regex can judge arbitrary bytes. */
const latin1 = (line: Uint8Array): string => String.fromCharCode(...line);
export const fromLatin1 = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));

const LIKE =
  /^[Ll][Ii][Kk][Ee][Ss]?[Ss][Ee][Rr][Vv][Ee][Rr](0|[1-9][0-9]{0,3})[ \t]+(0|[1-9][0-9]*)(?:[ \t]+([A-Za-z0-9_-]{1,64})[ \t]+([1-9][0-9]*))?[ \t\r]*$/;

/** The message the parser must give for `line`, or undefined when the line must be rejected. */
export function oracle(line: Uint8Array, maxLikes: number): Exclude<Message, { kind: "invalid" }> | undefined {
  const text = latin1(line);
  if (text.startsWith("AUTH ")) {
    const body = text.endsWith("\r") ? text.slice(0, -1) : text;
    return body.length > 5 ? { kind: "auth", token: fromLatin1(body.slice(5)) } : undefined;
  }
  const m = LIKE.exec(text);
  if (!m) return undefined;
  const [, server, likes, producer, seq] = m;
  if (BigInt(server) > BigInt(MAX_SERVER_ID)) return undefined;
  if (BigInt(likes) > BigInt(maxLikes)) return undefined;
  if (producer === undefined) return { kind: "like", server: Number(server), likes: Number(likes) };
  if (BigInt(seq) > BigInt(MAX_SEQ)) return undefined;
  return { kind: "like", server: Number(server), likes: Number(likes), producer, seq: Number(seq) };
}
