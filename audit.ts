/**
 * Audit: did we lose or double-count any likes? Reconciles each LikesServer's
 * log with the primary logs and prints a table; exit code 1 on any mismatch.
 * With `--store redis://…` it also checks the shared total in Redis.
 */
import { parseProgramFlags, ProgramError, runProgram } from "./lib/common/cli.ts";
import { audit, formatAudit } from "./lib/tools/audit.ts";
import { readRedisTotal } from "./lib/primary/backend/redis/store.ts";
import { checkGrants } from "./lib/launch/grant_check.ts";
import { auditGrants, checkGrantablePath } from "./lib/launch/permissions.ts";
import { auditDefaults as defaults, auditSpecs as specs } from "./lib/tools/audit_options.ts";

const HELP = {
  usage: "deno task audit [flags]",
  description: "Reconciles the LikesServer logs with the primary's log.",
};

runProgram("audit", async () => {
  const options = parseProgramFlags(Deno.args, HELP, specs, defaults);
  if (!options) return 0;
  // Before the grants: a path no grant can name would get a grant command that can never work.
  checkGrantablePath("log-dir", options.logDir);
  if (!checkGrants("audit", "audit.ts", auditGrants(options), Deno.args)) return 2;
  let storeTotal: number | undefined;
  if (options.store !== undefined) {
    try {
      storeTotal = await readRedisTotal(options.store.url);
    } catch (error) {
      throw new ProgramError((error as Error).message, { cause: error });
    }
  }
  let report;
  try {
    report = await audit(options.logDir, options.servers, options.primaryLog, { storeTotal });
  } catch (error) {
    throw new ProgramError(`Cannot read the logs: ${(error as Error).message}`, { cause: error });
  }
  console.log(options.json ? JSON.stringify(report, null, 2) : formatAudit(report));
  return report.ok ? 0 : 1;
});
