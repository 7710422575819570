/**
 * Audit: did we lose or double-count any likes? Reconciles each LikesServer's
 * log with the primary logs and prints a table; exit code 1 on any mismatch.
 * With `--store redis://…` it also checks the shared total in Redis.
 */
import { type FlagSpecs, helpText, parse, parseFlags, runProgram } from "./lib/common/cli.ts";
import { audit, formatAudit } from "./lib/tools/audit.ts";
import { parseRedisUrl, readRedisTotal } from "./lib/primary/redis_store.ts";

interface AuditOptions {
  /** @default {"/tmp"} */
  logDir: string;
  /** @default {10} */
  servers: number;
  /** The primaries' logs; default <log-dir>/PrimaryLikesLog. @default {undefined} */
  primaryLog: string[] | undefined;
  /** The shared store, `redis://HOST:PORT[/DB]`, whose total must match the logs. @default {undefined} */
  store: string | undefined;
  /** @default {false} */
  json: boolean;
}

const defaults = {
  logDir: "/tmp",
  servers: 10,
  primaryLog: undefined,
  store: undefined,
  json: false,
} satisfies AuditOptions;

const specs: FlagSpecs<AuditOptions> = {
  logDir: { help: "Directory of the LikesServer logs", arg: "DIR", parse: parse.path },
  servers: { help: "How many LikesServers ran", arg: "N", parse: parse.integer(1, 1000) },
  primaryLog: {
    help: "The primaries' logs, comma-separated (default: <log-dir>/PrimaryLikesLog)",
    arg: "FILE,…",
    parse: (text) => text.split(",").map(parse.path),
  },
  store: {
    help: "Check the shared total in this Redis against the logs",
    arg: "redis://HOST:PORT[/DB]",
    parse: (text) => (parseRedisUrl(text), text),
  },
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
  let storeTotal: number | undefined;
  if (options.store !== undefined) {
    try {
      storeTotal = await readRedisTotal(options.store);
    } catch (error) {
      console.error(`audit: ${(error as Error).message}`);
      return 1;
    }
  }
  let report;
  try {
    report = await audit(options.logDir, options.servers, options.primaryLog, { storeTotal });
  } catch (error) {
    console.error(`audit: Cannot read the logs: ${(error as Error).message}`);
    return 1;
  }
  console.log(options.json ? JSON.stringify(report, null, 2) : formatAudit(report));
  return report.ok ? 0 : 1;
});
