/**
 * The primary's stats in the Prometheus text exposition format (version
 * 0.0.4), for `/metrics`. A pure function of the stats, the total and a
 * snapshot of the process, so it is tested without a server.
 */
import process from "node:process";
import { COMMIT_BUCKETS_MS, type Stats } from "../primary/stats.ts";
import { likesServerName } from "../protocol/names.ts";

/** The Content-Type of the text exposition format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Record<string, string>;

/** A sample value as Prometheus parses it (Go's ParseFloat plus +Inf, -Inf, NaN). */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

// Label values may hold any text; these three are the format's escapes.
function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

function sample(name: string, value: number, labels?: Labels): string {
  const pairs = labels ? Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`) : [];
  return `${name}${pairs.length ? `{${pairs.join(",")}}` : ""} ${formatValue(value)}\n`;
}

function family(name: string, type: "counter" | "gauge" | "histogram", help: string): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
}

/** What the process uses, for the standard `process_*` families. */
export interface ProcessSnapshot {
  /** User + system CPU time since start, all threads, seconds. */
  cpuSeconds: number;
  /** Resident set size now, bytes. */
  residentBytes: number;
  /** Peak resident set size since start, bytes. */
  maxResidentBytes: number;
}

/**
 * This process's CPU time and memory. Needs no permission (reading them from
 * /proc would), so the benchmark gets them over HTTP from a least-privilege primary.
 */
export function readProcess(): ProcessSnapshot {
  const { user, system } = process.cpuUsage();
  const residentBytes = Deno.memoryUsage().rss;
  // getrusage's ru_maxrss is in KiB on Linux, and counts a few pages fewer
  // than Deno's rss: a peak below the current size would read as a bug.
  const maxResidentBytes = Math.max(process.resourceUsage().maxRSS * 1024, residentBytes);
  return { cpuSeconds: (user + system) / 1e6, residentBytes, maxResidentBytes };
}

/**
 * Formats `stats`, the committed `total` and the process's use as a
 * Prometheus text exposition; with `share` (a store shared by several
 * primaries) also the likes this primary accepted into the shared total.
 */
export function formatMetrics(
  stats: Stats,
  total: number,
  self: ProcessSnapshot = readProcess(),
  share?: number,
): string {
  let out = "";
  out += family("likes_total", "counter", "Likes in the durable total (shared by all primaries on one store).");
  out += sample("likes_total", total);
  if (share !== undefined) {
    out += family("likes_primary_share_total", "counter", "Likes this primary accepted since start.");
    out += sample("likes_primary_share_total", share);
  }

  out += family("likes_messages_total", "counter", "Messages answered since start, by result.");
  out += sample("likes_messages_total", stats.accepted, { result: "accepted" });
  out += sample("likes_messages_total", stats.duplicates, { result: "duplicate" });
  out += sample("likes_messages_total", stats.invalid, { result: "invalid" });
  out += sample("likes_messages_total", stats.failed, { result: "failed" });

  out += family("likes_incomplete_messages_total", "counter", "Unfinished messages dropped as their connection ended.");
  out += sample("likes_incomplete_messages_total", stats.incomplete);
  out += family("likes_padding_bytes_total", "counter", "Bytes dropped as seed-era buffer padding.");
  out += sample("likes_padding_bytes_total", stats.paddingBytes);

  out += family("likes_connections_open", "gauge", "LikesServer connections open now.");
  out += sample("likes_connections_open", stats.connectionsOpen);
  out += family("likes_connections_total", "counter", "LikesServer connections accepted since start.");
  out += sample("likes_connections_total", stats.connectionsTotal);
  out += family("likes_connections_refused_total", "counter", "Connections refused for the connection limit.");
  out += sample("likes_connections_refused_total", stats.connectionsRefused);
  out += family(
    "likes_producers_refused_total",
    "counter",
    "New producers refused: the dedupe table was full of live ones (--max-producers).",
  );
  out += sample("likes_producers_refused_total", stats.producersRefused);
  out += family(
    "likes_new_producers_limited_total",
    "counter",
    "New producers refused over their address's --new-producer-rate.",
  );
  out += sample("likes_new_producers_limited_total", stats.newProducersLimited);
  out += family("likes_seq_reused_total", "counter", "Likes refused: a producer's highest seq again with other likes.");
  out += sample("likes_seq_reused_total", stats.seqReused);

  out += family(
    "likes_batches_written_behind_sync_total",
    "counter",
    "Batches written to the log while a sync of it ran (fsync mode, --sync-on thread).",
  );
  out += sample("likes_batches_written_behind_sync_total", stats.writtenBehindSync);

  // Stats keeps per-bucket counts in ms; Prometheus wants cumulative counts in seconds.
  const histogram = "likes_commit_duration_seconds";
  // The log write is the commit; SQLite is only a checkpoint, off this path.
  out += family(
    histogram,
    "histogram",
    "Time from a batch's start to its commit: its lines written to the log (and synced, embedded with fsync).",
  );
  let cumulative = 0;
  for (let i = 0; i < COMMIT_BUCKETS_MS.length; i++) {
    cumulative += stats.commitBuckets[i];
    out += sample(`${histogram}_bucket`, cumulative, { le: formatValue(COMMIT_BUCKETS_MS[i] / 1000) });
  }
  out += sample(`${histogram}_bucket`, stats.commitCount, { le: "+Inf" });
  out += sample(`${histogram}_sum`, stats.commitSumMs / 1000);
  out += sample(`${histogram}_count`, stats.commitCount);

  const servers = [...stats.servers].sort((a, b) => a[0] - b[0]);
  out += family("likes_server_likes_total", "counter", "Likes accepted since start, per LikesServer.");
  for (const [id, s] of servers) out += sample("likes_server_likes_total", s.likes, { server: likesServerName(id) });
  out += family("likes_server_messages_total", "counter", "Messages since start, per LikesServer.");
  for (const [id, s] of servers) {
    out += sample("likes_server_messages_total", s.messages, { server: likesServerName(id) });
  }
  out += family("likes_server_connected", "gauge", "1 while a connection sending as this LikesServer is open.");
  for (const [id, s] of servers) {
    out += sample("likes_server_connected", s.connections > 0 ? 1 : 0, { server: likesServerName(id) });
  }

  out += family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
  out += sample("process_cpu_seconds_total", self.cpuSeconds);
  out += family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  out += sample("process_resident_memory_bytes", self.residentBytes);
  out += family("process_max_resident_memory_bytes", "gauge", "Peak resident memory size in bytes.");
  out += sample("process_max_resident_memory_bytes", self.maxResidentBytes);
  out += family("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch.");
  out += sample("process_start_time_seconds", stats.startedAt / 1000);
  return out;
}
