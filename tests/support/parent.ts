/** Test support: a real ParentProcess run in a subprocess. */
import { parseLikesServerLine } from "../../lib/formats/likes_server_log.ts";
import { likesServerName } from "../../lib/protocol/names.ts";
import { toFlags } from "../../lib/common/cli.ts";
import { type ParentOptions, parentSpecs } from "../../lib/supervisor/options.ts";

const ROOT = new URL("../../", import.meta.url);

export interface ParentRun {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
  /** The ParentProcessStatus file. */
  status: string;
}

/**
 * Starts a parent with its logs in `logDir`; `done` resolves when it exits.
 * `flags` are its settings, or raw arguments for command lines no options
 * object can express (bad input).
 */
export function spawnParent(logDir: string, flags: Partial<ParentOptions> | string[], env?: Record<string, string>): {
  process: Deno.ChildProcess;
  done: Promise<ParentRun>;
} {
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      ...["run", "-A", new URL("parent.ts", ROOT).pathname],
      ...toFlags(parentSpecs, { logDir }),
      ...(Array.isArray(flags) ? flags : toFlags(parentSpecs, flags)),
    ],
    stdout: "piped",
    stderr: "piped",
    env,
  }).spawn();
  const done = (async () => {
    const [out, status] = await Promise.all([process.output(), process.status]);
    return {
      code: status.code,
      signal: status.signal,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
      status: await Deno.readTextFile(`${logDir}/ParentProcessStatus`).catch(() => ""),
    };
  })();
  return { process, done };
}

export { freePort } from "../../lib/common/free_port.ts";

/** Shrunken timings for a full run in a couple of seconds. */
export const FAST: Partial<ParentOptions> = { stagger: 50, duration: 2000, minInterval: 20, maxInterval: 100 };

/** Waits (with a deadline) until LikesServer<id> has logged an acknowledged like in `logDir`. */
export async function untilAcked(logDir: string, id: number, deadline = 15_000): Promise<void> {
  const started = Date.now();
  const name = likesServerName(id);
  const acked = (text: string) => text.split("\n").some((line) => parseLikesServerLine(line)?.entry.kind === "acked");
  while (!acked(await Deno.readTextFile(`${logDir}/${name}`).catch(() => ""))) {
    if (Date.now() - started > deadline) {
      throw new Error(`${name} had no like acknowledged within ${deadline}ms`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
