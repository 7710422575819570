/** Sizes in bytes as flags give them: `512`, `64k`, `1M`, `2G` (powers of 1024), or `off` for 0. */

const UNITS: Record<string, number> = { "": 1, k: 1024, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/**
 * Parses `<digits>[k|M|G]`, or `off` (0).
 *
 * @throws {RangeError} When the text is no size, or the size is 0 (say `off`)
 */
export function parseByteSize(text: string): number {
  if (text === "off") return 0;
  const m = /^(\d{1,15})([kKMG]?)$/.exec(text);
  const bytes = m ? Number(m[1]) * UNITS[m[2]] : NaN;
  if (!(bytes > 0) || !Number.isSafeInteger(bytes)) {
    throw new RangeError(`Expected a size such as 512, 64k, 1M or 2G, or off, got ${JSON.stringify(text)}`);
  }
  return bytes;
}

/** The shortest text parseByteSize() reads back as `bytes`. */
export function formatByteSize(bytes: number): string {
  if (bytes === 0) return "off";
  for (const unit of ["G", "M", "k"]) {
    if (bytes % UNITS[unit] === 0) return `${bytes / UNITS[unit]}${unit}`;
  }
  return String(bytes);
}
