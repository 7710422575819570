/**
 * Test support: a real primary in a subprocess (granted -A: tests exercise the
 * program, tests/launch/permissions_test.ts its grants), on ephemeral ports, with its
 * log and state in a temp dir. Waits for the ready line, with a deadline.
 */
import { toFlags } from "../../lib/common/cli.ts";
import { launchPrimary } from "../../lib/launch/primary_process.ts";
import { type PrimaryOptions, primarySpecs } from "../../lib/primary/options.ts";
import { type Checkpoint, Store } from "../../lib/primary/backend/embedded/store.ts";
import { tempDir } from "./temp.ts";

export interface PrimaryProcess {
  dir: string;
  log: string;
  state: string;
  port: number;
  /** 0 when started with --http off. */
  httpPort: number;
  /** The total the primary started from (its ready line). */
  total: number;
  process: Deno.ChildProcess;
  /** Everything the primary printed on stdout and stderr so far. */
  output(): string;
  /** Sends a signal and waits for the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

export interface StartOptions {
  /** Reuse a directory (log and state) from an earlier primary. */
  dir?: string;
  /** Fixed port instead of an ephemeral one (to restart on the same port). */
  port?: number;
  /** Settings beyond the test's own port, dashboard, log and state. */
  flags?: Partial<PrimaryOptions>;
  /** Raw extra arguments, for command lines no options object can express (a flag given empty). */
  args?: string[];
  /** How long to wait for the ready line (ms). */
  deadline?: number;
  env?: Record<string, string>;
}

export async function startPrimary(options: StartOptions = {}): Promise<PrimaryProcess> {
  const { port = 0, flags = {}, args = [], deadline = 15_000, env } = options;
  const dir = options.dir ?? await tempDir();
  const log = `${dir}/PrimaryLikesLog`;
  const state = `${dir}/PrimaryLikes.db`;
  const primary = await launchPrimary({
    args: [...toFlags(primarySpecs, { port, http: "127.0.0.1:0", log, state, ...flags }), ...args],
    grants: "all",
    deno: Deno.execPath(),
    deadlineMs: deadline,
    env,
  });
  const { port: listening, httpPort, total, process, output, stop } = primary;
  return { dir, log, state, port: listening, httpPort, total, process, output, stop };
}

/** The total a stopped primary reported on its way out. */
export function finalTotal(primary: PrimaryProcess): number {
  const match = /stopped by \w+: total (\d+)/.exec(primary.output());
  if (!match) throw new Error(`No final total in: ${primary.output()}`);
  return Number(match[1]);
}

/** The checkpoint in a state file (of a primary that is not running). */
export function storedCheckpoint(path: string): Checkpoint {
  const store = Store.open(path);
  try {
    const loaded = store.load();
    if ("untrusted" in loaded) throw new Error(`No checkpoint in ${path}: ${loaded.untrusted}`);
    return loaded.checkpoint;
  } finally {
    store.close();
  }
}

/** The total in a checkpoint file (of a primary that is not running). */
export function storedTotal(path: string): number {
  return storedCheckpoint(path).total;
}

/**
 * Runs a primary that is expected to stop on its own (bad flags, state or log)
 * and returns how it ended: with these settings, or raw arguments for bad input.
 * One still running after `deadlineMs` (it started when it should not have)
 * is killed, and ends with signal SIGKILL's code.
 */
export async function runPrimaryToExit(
  flags: Partial<PrimaryOptions> | string[],
  deadlineMs = 30_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = Array.isArray(flags) ? ["--port", "0", "--http", "off", ...flags] : toFlags(primarySpecs, {
    port: 0,
    http: "off",
    ...flags,
  });
  // A primary that starts when it should have refused would run on: killed at the deadline, and said so.
  const signal = AbortSignal.timeout(deadlineMs);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../primary.ts", import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  if (signal.aborted) {
    throw new Error(`The primary did not exit within ${deadlineMs} ms: ${new TextDecoder().decode(stderr)}`);
  }
  return { code, stdout: new TextDecoder().decode(stdout), stderr: new TextDecoder().decode(stderr) };
}
