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
import { likesServerLogPath, primaryLogPath, rotatedLogPath } from "../formats/file_names.ts";
import { firstLineId } from "../formats/log_chain.ts";

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
  /**
   * Acknowledged, not found counted, while a file of the primary's log is
   * missing (a gap in its chain, or history before the oldest file kept):
   * they may be counted there, so they are not called lost.
   */
  unverifiable: number;
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
  /** Files missing from a primary log's chain of rotated files, by name, and why they are missed. */
  chainGaps: string[];
  /** The primary log files read, oldest first per log. */
  files: string[];
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

/** One primary log: its files oldest first, each with the id of its first line. */
interface Chain {
  files: { path: string; id: string }[];
  /** Where a file is missing: before which file (index), and the sentence naming it. */
  gaps: Map<number, string>;
  /** Whether the oldest file continues one that is not kept. */
  truncatedHistory: boolean;
}

/** Consecutive missing numbers after which no more rotated files are looked for. */
const ROTATED_PROBE = 16;

async function headId(path: string): Promise<string> {
  using file = await Deno.open(path);
  const head = new Uint8Array(4096);
  let got = 0;
  while (got < head.length) {
    const n = await file.read(head.subarray(got));
    if (n === null) break;
    got += n;
  }
  return firstLineId(head.subarray(0, got));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotCapable) return false;
    throw error;
  }
}

/**
 * The primary logs as chains: each given path with the rotated files beside
 * it (`<log>.1`, `.2` …, or given by name), oldest first. A number missing
 * between two that exist is a gap, named.
 */
async function chainsOf(paths: readonly string[]): Promise<Chain[]> {
  const bases = new Map<string, Set<number>>();
  for (const path of paths) {
    const m = /^(.*)\.(\d+)$/.exec(path);
    const base = m && !(await exists(path) && !(await exists(m[1])) && !paths.includes(m[1])) ? m[1] : path;
    const numbers = bases.get(base) ?? new Set<number>();
    if (m && base === m[1]) numbers.add(Number(m[2]));
    bases.set(base, numbers);
  }
  const chains: Chain[] = [];
  for (const [base, numbers] of bases) {
    for (let n = 1, misses = 0; misses < ROTATED_PROBE; n++) {
      if (await exists(rotatedLogPath(base, n))) {
        numbers.add(n);
        misses = 0;
      } else misses++;
    }
    const sorted = [...numbers].sort((a, b) => b - a);
    const files: Chain["files"] = [];
    const gaps = new Map<number, string>();
    for (let i = 0; i < sorted.length; i++) {
      const path = rotatedLogPath(base, sorted[i]);
      if (i > 0 && sorted[i - 1] !== sorted[i] + 1) {
        for (let missing = sorted[i] + 1; missing < sorted[i - 1]; missing++) {
          gaps.set(files.length, `${rotatedLogPath(base, missing)} is missing: a gap in the chain of ${base}`);
        }
      }
      files.push({ path, id: await headId(path) });
    }
    if (sorted.length > 0 && sorted[sorted.length - 1] !== 1) {
      gaps.set(files.length, `${rotatedLogPath(base, 1)} is missing: a gap in the chain of ${base}`);
    }
    files.push({ path: base, id: await headId(base) });
    chains.push({ files, gaps, truncatedHistory: false });
  }
  return chains;
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
  const report: AuditReport = {
    servers: [],
    totalBreaks: [],
    countedTotal: 0,
    chainGaps: [],
    files: [],
    ok: true,
  };
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
      unverifiable: 0,
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

  const chains = await chainsOf(primaryLogs);
  const lineToLine = chains.length === 1;
  for (const chain of chains) {
    let previousTotal: number | undefined;
    for (const [index, file] of chain.files.entries()) {
      const gap = chain.gaps.get(index);
      if (gap !== undefined) report.chainGaps.push(gap);
      report.files.push(file.path);
      const previous = index === 0 || gap !== undefined ? undefined : chain.files[index - 1];
      previousTotal = await auditFile(file.path, chain.files.length > 1, previous, previousTotal, index === 0, chain);
    }
    if (chain.truncatedHistory) {
      report.chainGaps.push(
        `${chain.files[0].path} continues a file that is not kept: likes counted before it cannot be checked`,
      );
    }
  }

  /** Audits one file of a chain; returns the running total at its end. */
  async function auditFile(
    path: string,
    named: boolean,
    previous: { path: string; id: string } | undefined,
    startTotal: number | undefined,
    oldest: boolean,
    chain: Chain,
  ): Promise<number | undefined> {
    let previousTotal = startTotal;
    let lineNumber = 0;
    for await (const line of lines(path)) {
      lineNumber++;
      const entry = parsePrimaryLine(line)?.entry;
      if (entry?.kind === "continues") {
        const where = `${path} line ${lineNumber}`;
        if (previous === undefined) {
          // The first file kept, or the first after a gap: its own total starts the count.
          if (oldest && lineNumber === 1) chain.truncatedHistory = true;
        } else if (lineNumber === 1 && entry.id !== previous.id) {
          report.totalBreaks.push(`${where}: continues log ${entry.id.slice(0, 12)}…, not ${previous.path}`);
        } else if (previousTotal !== undefined && entry.total !== previousTotal) {
          report.totalBreaks.push(
            `${where}: continues from total ${entry.total}, but the running total before it is ${previousTotal}`,
          );
        }
        previousTotal = entry.total;
        continue;
      }
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
      const where = lineToLine && !named ? `line ${lineNumber}` : `${path} line ${lineNumber}`;
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
    return previousTotal;
  }
  const missingFiles = report.chainGaps.length > 0;

  for (const { audit, sent } of new Set(byProducer.values())) {
    for (const message of sent.values()) {
      if (message.counted > 0) {
        audit.counted++;
        audit.countedLikes += message.likes;
      }
      if (message.counted > 1) audit.doubled++;
      if (message.acked && message.counted === 0) {
        if (missingFiles) audit.unverifiable++;
        else audit.lost++;
      }
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
  report.ok = report.totalBreaks.length === 0 && report.chainGaps.every((gap) => !gap.includes("a gap in the chain")) &&
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
  for (const gap of report.chainGaps) out.push(`PrimaryLikesLog chain: ${gap}`);
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
  if (s.unverifiable > 0) parts.push(`(${s.unverifiable} not found: in a missing log file?)`);
  if (s.unconfirmed > 0) parts.push(`(${s.unconfirmed} counted, reply lost)`);
  return parts.length === 0 ? "none" : parts.join(", ");
}
