/** Parses and formats the durations that flags accept: `250ms`, `2s`, `5m`, `1h`. */

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration such as `1s`, `250ms`, `1.5s` or `5m` into milliseconds.
 * A bare number is rejected: a unit is required so that `--duration 5` is never
 * silently read as five milliseconds.
 *
 * @throws {RangeError} When the text is not a non-negative number followed by a unit
 */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!match) {
    throw new RangeError(
      `Invalid duration: ${JSON.stringify(text)} (use a number with ms, s, m or h, e.g. 500ms, 2s, 5m)`,
    );
  }
  const ms = Number(match[1]) * UNITS[match[2]];
  if (!Number.isFinite(ms) || ms > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`Invalid duration: ${JSON.stringify(text)} is too long`);
  }
  return Math.round(ms);
}

/** Formats milliseconds the way people read them: `850ms`, `2.5s`, `5m`, `1m30s`. */
export function formatDuration(ms: number): string {
  // Round before choosing the unit, so that 59.99s reads 1m, never 60s or 1m60s.
  if (Math.round(ms) < 1000) return `${Math.round(ms)}ms`;
  const tenths = Math.round(ms / 100);
  if (tenths < 600) return `${tenths / 10}s`;
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  const seconds = Math.round(ms / 1000);
  return seconds % 60 === 0 ? `${seconds / 60}m` : `${Math.floor(seconds / 60)}m${seconds % 60}s`;
}
