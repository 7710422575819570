/**
 * Audit: did we lose or double-count any likes? Reconciles each LikesServer's
 * log with the primary's log and prints a table; exit code 1 on any mismatch.
 */
import { type FlagSpecs, helpText, parse, parseFlags, runProgram } from "./lib/common/cli.ts";
import { audit, formatAudit } from "./lib/tools/audit.ts";
import { checkGrants } from "./lib/launch/grant_check.ts";
import { auditGrants } from "./lib/launch/permissions.ts";

interface AuditOptions {
  /** @default {"/tmp"} */
  logDir: string;
  /** @default {10} */
  servers: number;
  /** The primary's log; default <log-dir>/PrimaryLikesLog. @default {undefined} */
  primaryLog: string | undefined;
  /** @default {false} */
  json: boolean;
}

const defaults = { logDir: "/tmp", servers: 10, primaryLog: undefined, json: false } satisfies AuditOptions;

const specs: FlagSpecs<AuditOptions> = {
  logDir: { help: "Directory of the LikesServer logs", arg: "DIR", parse: parse.path },
  servers: { help: "How many LikesServers ran", arg: "N", parse: parse.integer(1, 1000) },
  primaryLog: { help: "The primary's log (default: <log-dir>/PrimaryLikesLog)", arg: "FILE", parse: parse.path },
  json: { help: "Print the report as JSON" },
};

runProgram("audit", async () => {
  const options = parseFlags(Deno.args, specs, defaults);
  if (!options) {
    console.log(
      helpText("deno task audit [flags]", "Reconciles the LikesServer logs with the primary's log.", specs, defaults),
    );
    return 0;
  }
  if (!checkGrants("audit", "audit.ts", auditGrants(options), Deno.args)) return 2;
  let report;
  try {
    report = await audit(options.logDir, options.servers, options.primaryLog);
  } catch (error) {
    console.error(`audit: Cannot read the logs: ${(error as Error).message}`);
    return 1;
  }
  console.log(options.json ? JSON.stringify(report, null, 2) : formatAudit(report));
  return report.ok ? 0 : 1;
});
