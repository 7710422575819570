/**
 * The demo: a primary and a parent with the mission's defaults (or the flags
 * given), the live total while they run, and the audit when the parent is done.
 */
import { parentFlags, type ParentOptions } from "../supervisor/options.ts";
import { auditGrants, denoCommand, launchArgs, parentGrants, primaryGrants } from "../launch/permissions.ts";
import { primaryDefaults, primarySpecs } from "../primary/options.ts";
import { ProgramError, toFlags } from "../common/cli.ts";
import { auditSpecs } from "./audit_options.ts";
import { type LaunchedPrimary, launchPrimary } from "../launch/primary_process.ts";
import { sleep } from "../common/sleep.ts";

export interface DemoOptions extends ParentOptions {
  /** Dashboard address. @default {"127.0.0.1:4243"} */
  http: string;
}

export async function runDemo(options: DemoOptions, stop: AbortSignal): Promise<number> {
  const deno = denoCommand();
  // The primary's settings the demo chooses; the rest are the primary's defaults.
  const chosen = {
    maxLikes: options.maxLikes,
    host: options.host,
    port: options.port,
    http: options.http,
    log: `${options.logDir}/PrimaryLikesLog`,
    state: `${options.logDir}/PrimaryLikes.db`,
  };
  const primaryOptions = { ...primaryDefaults, ...chosen };
  let primary: LaunchedPrimary;
  try {
    primary = await launchPrimary({
      args: toFlags(primarySpecs, chosen),
      grants: primaryGrants(primaryOptions),
      deno,
      deadlineMs: 30_000,
      // The primary's errors reach the terminal as it prints them.
      stderr: "inherit",
    });
  } catch (error) {
    throw new ProgramError(`The primary did not start: ${(error as Error).message}`, { cause: error });
  }
  console.log(`Primary ready: likes on ${options.host}:${primary.port}, total ${primary.total}`);
  console.log(`Dashboard:  http://${options.http}/`);
  console.log(
    `Logs:       ${primaryOptions.log}, ${options.logDir}/LikesServer0..${
      options.servers - 1
    }, ${options.logDir}/ParentProcessStatus`,
  );
  console.log(`Watch:      tail -f ${primaryOptions.log}`);

  const parent = new Deno.Command(deno, {
    args: launchArgs("parent.ts", parentGrants(options), parentFlags(options)),
    stdin: "null",
    stdout: "null",
  }).spawn();
  const onStop = () => parent.kill("SIGTERM");
  stop.addEventListener("abort", onStop, { once: true });

  // The live total, read from the primary's own stats.
  let running = true;
  const live = (async () => {
    while (running) {
      try {
        const stats = await (await fetch(`http://${options.http}/api/stats`)).json();
        const line = `Total ${stats.total}  (${stats.accepted} messages, ${stats.connectionsOpen} connected)`;
        Deno.stdout.isTerminal() ? Deno.stdout.writeSync(new TextEncoder().encode(`\r${line}   `)) : console.log(line);
      } catch { /* the dashboard is optional for the demo */ }
      await sleep(Deno.stdout.isTerminal() ? 1000 : 5000);
    }
  })();
  const parentStatus = await parent.status;
  stop.removeEventListener("abort", onStop);
  running = false;
  await live;
  console.log(`\nParentProcess exited with status ${parentStatus.code}; stopping the primary`);
  await primary.stop("SIGTERM");
  const final = /stopped by \w+: total (\d+)/.exec(primary.output());
  if (final) console.log(`Final total: ${final[1]}`);

  const audit = await new Deno.Command(deno, {
    args: launchArgs("audit.ts", auditGrants(options), toFlags(auditSpecs, options)),
    stdin: "null",
  }).spawn().status;
  return parentStatus.code === 0 && audit.code === 0 ? 0 : 1;
}
