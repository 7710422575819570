/**
 * What every log line shares: `<time> <text>`, the time in ISO 8601 UTC with
 * milliseconds (Date.toISOString()). LineLog (lib/common/line_log.ts) writes
 * the same prefix; the format modules read it back here.
 */

/** `<ISO time> <text>`, without the newline. */
export function timedLine(text: string, time: Date): string {
  return `${time.toISOString()} ${text}`;
}

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** The time and the text of `<ISO time> <text>`, or undefined when the line has no such time. */
export function splitTimedLine(line: string): { time: Date; text: string } | undefined {
  const space = line.indexOf(" ");
  if (space < 0) return undefined;
  const stamp = line.slice(0, space);
  if (!TIME.test(stamp)) return undefined;
  const time = new Date(stamp);
  if (Number.isNaN(time.getTime())) return undefined;
  return { time, text: line.slice(space + 1) };
}
