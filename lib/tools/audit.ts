/**
 * Reconciles the logs after a run: for each LikesServer, the likes it logged
 * as acknowledged against the likes the primary logged for it, matched by
 * (producer, seq). Answers "did we lose or double-count any likes?".
 *
 * Several primary logs (primaries sharing one store, or a LikesServer that
 * failed over) are one record: a (producer, seq) accepted in two of them is a
 * double count, a `Duplicate` line anywhere is fine. One embedded-store log's
 * running total is checked line to line; with several logs each one's totals
 * jump where other primaries counted, so each must only never decrease, and
 * the shared total (when given, read from Redis) must equal the likes counted
 * across all logs.
 */
import { parsePrimaryLine } from "../formats/primary_log.ts";
import { parseLikesServerLine } from "../formats/likes_server_log.ts";
import { likesServerName } from "../protocol/names.ts";
import { textLines } from "../common/text_lines.ts";
import { likesServerLogPath, primaryLogPath } from "../formats/file_names.ts";

export interface ServerAudit {
  name: string;
  /** Messages the LikesServer sent (acknowledged or not). */
  sent: number;
  acked: number;
  ackedLikes: number;
  /** Messages of this run the primary counted (first arrival of each). */
  counted: number;
  countedLikes: number;
  /** Repeats the primary recognised and did not count. */
  duplicates: number;
  /** Acknowledged but not counted: lost likes. */
  lost: number;
  /** Counted more than once. */
  doubled: number;
  /**
   * Counted but not logged as acknowledged by the sender (its reply was lost,
   * or it died before logging it): not an error, the like was counted once.
   */
  unconfirmed: number;
  /** Problems found in the LikesServer's own log. */
  problems: string[];
}

export interface AuditReport {
  servers: ServerAudit[];
  /** Breaks in the primary logs' running totals (one log: a Total that is not the previous plus the likes; several: a Total below the previous). */
  totalBreaks: string[];
  /** Likes accepted across all primary logs, with or without a producer. */
  countedTotal: number;
  /** The shared store's total, when it was given. */
  storeTotal?: number;
  ok: boolean;
}

interface Sent {
  likes: number;
  acked: boolean;
  counted: number;
}

export interface AuditOptions {
  /** The shared store's total (Redis), to be checked against the likes counted across the logs. @default {undefined} */
  storeTotal?: number;
}

/** Reads a text file line by line without holding it all in memory. */
async function* lines(path: string): AsyncGenerator<string> {
  using file = await Deno.open(path);
  yield* textLines(file.readable);
}

/**
 * Audits `servers` LikesServer logs in `logDir` against the primary's log.
 * A missing LikesServer log is reported as a problem of that server.
 */
export async function audit(
  logDir: string,
  servers: number,
  primaryLog: string | readonly string[] = primaryLogPath(logDir),
  options: AuditOptions = {},
): Promise<AuditReport> {
  const primaryLogs = typeof primaryLog === "string" ? [primaryLog] : primaryLog;
  if (primaryLogs.length === 0) throw new RangeError("Cannot audit: no primary log given");
  const byProducer = new Map<string, { audit: ServerAudit; sent: Map<number, Sent> }>();
  const report: AuditReport = { servers: [], totalBreaks: [], countedTotal: 0, ok: true };
  for (let id = 0; id < servers; id++) {
    const name = likesServerName(id);
    const entry: ServerAudit = {
      name,
      sent: 0,
      acked: 0,
      ackedLikes: 0,
      counted: 0,
      countedLikes: 0,
      duplicates: 0,
      lost: 0,
      doubled: 0,
      unconfirmed: 0,
      problems: [],
    };
    report.servers.push(entry);
    const sent = new Map<number, Sent>();
    try {
      for await (const line of lines(likesServerLogPath(logDir, id))) {
        const logged = parseLikesServerLine(line)?.entry;
        if (logged?.kind === "started") byProducer.set(logged.producer, { audit: entry, sent });
        if (logged?.kind !== "acked" && logged?.kind !== "unacknowledged") continue;
        const message = { likes: logged.likes, acked: logged.kind === "acked", counted: 0 };
        sent.set(logged.seq, message);
        entry.sent++;
        if (message.acked) {
          entry.acked++;
          entry.ackedLikes += message.likes;
        }
      }
    } catch (error) {
      entry.problems.push(`cannot read its log: ${(error as Error).message}`);
    }
  }

  const lineToLine = primaryLogs.length === 1;
  for (const path of primaryLogs) {
    let previousTotal: number | undefined;
    let lineNumber = 0;
    for await (const line of lines(path)) {
      lineNumber++;
      const entry = parsePrimaryLine(line)?.entry;
      // A restart carries the total over (or resets it): the chain starts again, but in one log
      // only from the total the log already holds: a restart that recovered another (a checkpoint
      // edited by hand, say) is a break, and the log's own total stays the one to check against.
      if (entry?.kind === "recovered") {
        if (lineToLine && previousTotal !== undefined && entry.total !== previousTotal) {
          report.totalBreaks.push(
            `line ${lineNumber}: Recovered total ${entry.total}, but the running total before it is ${previousTotal}`,
          );
        } else {
          previousTotal = entry.total;
        }
      }
      if (entry?.kind === "reset" || entry?.kind === "new") previousTotal = 0;
      if (entry?.kind !== "like") continue;
      const where = lineToLine ? `line ${lineNumber}` : `${path} line ${lineNumber}`;
      if (lineToLine) {
        const expected = !entry.duplicate && previousTotal !== undefined ? previousTotal + entry.likes : previousTotal;
        if (expected !== undefined && entry.total !== expected) {
          report.totalBreaks.push(`${where}: Total ${entry.total}, expected ${expected}`);
        }
      } else if (previousTotal !== undefined && entry.total < previousTotal) {
        report.totalBreaks.push(`${where}: Total ${entry.total}, below the previous ${previousTotal}`);
      }
      previousTotal = entry.total;
      if (!entry.duplicate) report.countedTotal += entry.likes;
      if (entry.producer === undefined) continue;
      const producer = byProducer.get(entry.producer);
      if (!producer) continue;
      if (entry.duplicate) {
        producer.audit.duplicates++;
        continue;
      }
      const message = producer.sent.get(entry.seq!);
      if (!message) {
        // Sent, counted, then the LikesServer died before it could log the reply.
        producer.sent.set(entry.seq!, { likes: entry.likes, acked: false, counted: 1 });
        continue;
      }
      message.counted++;
      if (message.likes !== entry.likes) {
        producer.audit.problems.push(`seq=${entry.seq}: sent ${message.likes} likes, primary counted ${entry.likes}`);
      }
    }
  }

  for (const { audit, sent } of new Set(byProducer.values())) {
    for (const message of sent.values()) {
      if (message.counted > 0) {
        audit.counted++;
        audit.countedLikes += message.likes;
      }
      if (message.counted > 1) audit.doubled++;
      if (message.acked && message.counted === 0) audit.lost++;
      if (!message.acked && message.counted > 0) audit.unconfirmed++;
    }
  }
  if (options.storeTotal !== undefined) {
    report.storeTotal = options.storeTotal;
    if (options.storeTotal !== report.countedTotal) {
      report.totalBreaks.push(
        `the store's total ${options.storeTotal} is not the ${report.countedTotal} likes counted across the logs`,
      );
    }
  }
  report.ok = report.totalBreaks.length === 0 &&
    report.servers.every((s) => s.lost === 0 && s.doubled === 0 && s.problems.length === 0);
  return report;
}

/** The report as a table for people. */
export function formatAudit(report: AuditReport): string {
  const header = ["server", "sent", "acked", "acked likes", "counted", "counted likes", "duplicates", "mismatch"];
  const rows = report.servers.map((s) =>
    [
      s.name,
      s.sent,
      s.acked,
      s.ackedLikes,
      s.counted,
      s.countedLikes,
      s.duplicates,
      mismatch(s),
    ].map(String)
  );
  const sum = (key: keyof ServerAudit) => report.servers.reduce((n, s) => n + (s[key] as number), 0);
  rows.push([
    "total",
    sum("sent"),
    sum("acked"),
    sum("ackedLikes"),
    sum("counted"),
    sum("countedLikes"),
    sum("duplicates"),
    report.ok ? "none" : "YES",
  ].map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const format = (row: string[]) =>
    row.map((cell, i) => i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])).join("  ");
  const out = [format(header), ...rows.map(format)];
  for (const s of report.servers) for (const problem of s.problems) out.push(`${s.name}: ${problem}`);
  for (const line of report.totalBreaks) {
    out.push(
      line.startsWith("the store") ? `Total mismatch: ${line}` : `PrimaryLikesLog running total broken at ${line}`,
    );
  }
  if (report.storeTotal !== undefined) {
    out.push(`Shared total ${report.storeTotal}; likes counted across the primary logs ${report.countedTotal}`);
  }
  out.push(
    report.ok ? "OK: every acknowledged like was counted exactly once." : "MISMATCH: see the rows above.",
  );
  return out.join("\n");
}

function mismatch(s: ServerAudit): string {
  const parts: string[] = [];
  if (s.lost > 0) parts.push(`${s.lost} lost`);
  if (s.doubled > 0) parts.push(`${s.doubled} double-counted`);
  if (s.problems.length > 0) parts.push(`${s.problems.length} problems`);
  if (s.unconfirmed > 0) parts.push(`(${s.unconfirmed} counted, reply lost)`);
  return parts.length === 0 ? "none" : parts.join(", ");
}
