/**
 * Small I/O helpers every program needs: writing a whole buffer, closing
 * without caring whether it is closed already, giving up on work when a
 * signal aborts, and writing a decimal number straight into a byte buffer.
 */

/** Something with an asynchronous `write`, such as a `Deno.Conn` or `Deno.FsFile`. */
export interface Writer {
  write(bytes: Uint8Array): Promise<number>;
}

/** Something with a synchronous `writeSync`, such as a `Deno.FsFile`. */
export interface WriterSync {
  writeSync(bytes: Uint8Array): number;
}

/** Writes all of `bytes`: one `write` may take only part of them. */
export async function writeAll(writer: Writer, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await writer.write(bytes.subarray(written));
}

/** Writes all of `bytes` synchronously: one `writeSync` may take only part of them. */
export function writeAllSync(writer: WriterSync, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) written += writer.writeSync(bytes.subarray(written));
}

/** Something with a synchronous `readSync` and `seekSync`, such as a `Deno.FsFile`. */
export interface ReaderAtSync {
  seekSync(offset: number, whence: Deno.SeekMode): number;
  readSync(buffer: Uint8Array): number | null;
}

/**
 * Fills `buffer` from `file` at `offset`, as far as the file goes: one
 * `readSync` may return only part. Returns how many bytes were read.
 */
export function readAtSync(file: ReaderAtSync, offset: number, buffer: Uint8Array): number {
  file.seekSync(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < buffer.length) {
    const n = file.readSync(buffer.subarray(got));
    if (n === null || n === 0) break;
    got += n;
  }
  return got;
}

/**
 * Closes `resource`, ignoring the error for one closed already (by the peer,
 * a timer or another path): at that point closed is all the caller wants.
 */
export function closeQuietly(resource: { close(): void } | undefined): void {
  try {
    resource?.close();
  } catch { /* closed already */ }
}

/**
 * Settles as `work` does, or rejects with `signal.reason` as soon as `signal`
 * aborts, whichever comes first. `work` is not cancelled: the caller cleans
 * up what it leaves behind. Pair with `AbortSignal.timeout()` for a deadline
 * and `AbortSignal.any()` to add other reasons to give up.
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {/* given up on: its outcome no longer matters */});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** True for the reason `AbortSignal.timeout()` aborts with. */
export function isTimeout(reason: unknown): boolean {
  return reason instanceof DOMException && reason.name === "TimeoutError";
}

/** How many decimal digits a non-negative safe integer has. */
export function decimalDigits(value: number): number {
  // Comparisons, not divisions: this runs for every number of every log line.
  if (value < 1e8) {
    if (value < 1e4) return value < 10 ? 1 : value < 100 ? 2 : value < 1e3 ? 3 : 4;
    return value < 1e5 ? 5 : value < 1e6 ? 6 : value < 1e7 ? 7 : 8;
  }
  let digits = 9;
  for (let bound = 1e9; value >= bound; bound *= 10) digits++;
  return digits;
}

/**
 * Writes a non-negative safe integer in decimal ASCII at `at`, as `${value}`
 * would, without building a string; returns the position after it. The
 * caller makes room for `decimalDigits(value)` bytes.
 */
export function writeDecimal(out: Uint8Array, at: number, value: number, digits = decimalDigits(value)): number {
  const end = at + digits;
  let i = end;
  // 32-bit arithmetic, much faster, once the value fits.
  while (value > 0x7fffffff) {
    out[--i] = 0x30 + value % 10;
    value = Math.floor(value / 10);
  }
  // Two digits per step, from a table: half the divisions.
  while (value >= 10) {
    const next = (value / 100) | 0;
    const pair = (value - next * 100) * 2;
    out[--i] = DIGIT_PAIRS[pair + 1];
    out[--i] = DIGIT_PAIRS[pair];
    value = next;
  }
  if (i > at) out[--i] = 0x30 + value;
  return end;
}

/** "00" to "99" as ASCII, for writeDecimal(). */
const DIGIT_PAIRS = new TextEncoder().encode(
  Array.from({ length: 100 }, (_, n) => String(n).padStart(2, "0")).join(""),
);

/** The bytes of `parts`, one after another, in a new array. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
