/**
 * Escaping of outside data for log lines. The result is a JSON string literal
 * holding one character per input byte (bytes 0x80..0xff become \u0080..\u00ff),
 * written in printable ASCII only. So a logged value can never contain a line
 * break or a terminal escape, and `unescapeBytes` gives back the exact bytes,
 * even for invalid UTF-8.
 */

const HEX = "0123456789abcdef";
// Runs between escapes are printable ASCII, where windows-1252 and ASCII agree.
const ascii = new TextDecoder("windows-1252");

/** Escapes bytes as an ASCII-only JSON string literal, quotes included. */
export function escapeBytes(bytes: Uint8Array): string {
  let out = '"';
  let runStart = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) continue;
    if (i > runStart) out += ascii.decode(bytes.subarray(runStart, i));
    runStart = i + 1;
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else out += "\\u00" + HEX[c >> 4] + HEX[c & 15];
  }
  if (bytes.length > runStart) out += ascii.decode(bytes.subarray(runStart));
  return out + '"';
}

/** Characters escapeBytes() writes for the byte `c`. */
function escapedLength(c: number): number {
  if (c >= 0x20 && c < 0x7f) return c === 0x22 || c === 0x5c ? 2 : 1;
  return c === 0x0a || c === 0x0d || c === 0x09 ? 2 : 6;
}

/**
 * escapeBytes() of the longest start of `bytes` whose escaped text (without
 * its quotes) is at most `limit` characters, never cutting an escape in two;
 * `taken` is how many bytes it holds. Bounds a log line whatever the bytes:
 * escaping can make one byte six characters.
 */
export function escapeBytesWithin(bytes: Uint8Array, limit: number): { literal: string; taken: number } {
  if (!Number.isInteger(limit) || limit < 0) {
    throw new RangeError(`Cannot escape within a limit: limit must be a non-negative integer, got ${limit}`);
  }
  let taken = 0;
  for (let used = 0; taken < bytes.length; taken++) {
    used += escapedLength(bytes[taken]);
    if (used > limit) break;
  }
  return { literal: escapeBytes(bytes.subarray(0, taken)), taken };
}

/** Escapes text (its UTF-8 bytes) the same way. */
export function escapeText(text: string): string {
  return escapeBytes(new TextEncoder().encode(text));
}

/**
 * Inverse of `escapeBytes`.
 *
 * @throws {SyntaxError} When `literal` is not a JSON string
 * @throws {RangeError} When it holds a character above U+00FF (it was not made by escapeBytes)
 */
export function unescapeBytes(literal: string): Uint8Array {
  const text: unknown = JSON.parse(literal);
  if (typeof text !== "string") throw new SyntaxError("Not a JSON string literal");
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) throw new RangeError(`Not an escaped byte string: character ${code} at ${i}`);
    bytes[i] = code;
  }
  return bytes;
}
