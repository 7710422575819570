/**
 * Test support: the real audit program (audit.ts) in a subprocess with its
 * least-privilege grants, as `deno task audit` runs it, over the logs of a run.
 */
import { auditGrants, launchArgs } from "../../lib/launch/permissions.ts";
import { parseRedisUrl } from "../../lib/primary/backend/redis/url.ts";
import type { AuditReport } from "../../lib/tools/audit.ts";

export interface AuditRun {
  code: number;
  /** stdout then stderr. */
  out: string;
  /** The report, when asked for as JSON and printed. */
  report?: AuditReport;
}

export interface AuditRunOptions {
  logDir: string;
  servers: number;
  primaryLogs: string[];
  /** `redis://HOST:PORT[/DB]`, for `--store`. */
  store?: string;
  /** Ask for the report as JSON (`--json`) and parse it. @default {false} */
  json?: boolean;
}

/** Runs audit.ts with `--primary-log A,B,…` (and `--store`) and returns how it ended. */
export async function runAudit(options: AuditRunOptions): Promise<AuditRun> {
  const { logDir, servers, primaryLogs, store, json = false } = options;
  const args = ["--log-dir", logDir, "--servers", String(servers), "--primary-log", primaryLogs.join(",")];
  if (store !== undefined) args.push("--store", store);
  if (json) args.push("--json");
  const grants = auditGrants({
    logDir,
    servers,
    primaryLog: primaryLogs,
    store: store === undefined ? undefined : parseRedisUrl(store),
  });
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: launchArgs("audit.ts", grants, args),
    stdin: "null",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  const out = decode(stdout) + decode(stderr);
  let report: AuditReport | undefined;
  if (json) {
    try {
      report = JSON.parse(decode(stdout));
    } catch { /* not a report: the output says why */ }
  }
  return { code, out, report };
}
