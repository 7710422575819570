/**
 * The parent's work: launch LikesServer0..N-1 one every `stagger`, each with
 * exactly the permissions it needs, record when each started and ended and
 * every error it reported, and stop them all on request.
 */
import type { LineLog } from "../common/line_log.ts";
import { childFlags, hangDeadline, type ParentOptions, silenceLimit } from "./options.ts";
import { denoCommand, launchArgs, likesServerGrants } from "../launch/permissions.ts";
import { deriveSeed } from "../common/random.ts";
import { sleep } from "../common/sleep.ts";
import { textLines } from "../common/text_lines.ts";
import { formatStatusEntry, HEARTBEAT_LINE } from "../formats/status_log.ts";

export interface ChildResult {
  id: number;
  /** Exit code, or undefined when a signal ended it. */
  code: number | undefined;
  signal: Deno.Signal | null;
  ms: number;
  /** Still running at its deadline (see hangDeadline), and killed. */
  hung: boolean;
  /** It ran to the end, or a stop signal ended it while it was starting; never when it gave up a like. */
  success: boolean;
}

/** Runs the LikesServers to completion (or until `stop` aborts); returns how each ended. */
export async function supervise(options: ParentOptions, status: LineLog, stop: AbortSignal): Promise<ChildResult[]> {
  const running = new Map<number, Deno.ChildProcess>();
  const finished: Promise<ChildResult>[] = [];
  // Children must be told to stop too, even those launched after the signal raced us.
  const stopAll = () => {
    for (const child of running.values()) {
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
    }
  };
  stop.addEventListener("abort", stopAll, { once: true });

  for (let id = 0; id < options.servers && !stop.aborted; id++) {
    if (id > 0 && !await sleep(options.stagger, stop)) break;
    finished.push(launch(id, options, status, running));
  }
  const results = await Promise.all(finished);
  stop.removeEventListener("abort", stopAll);
  return results;
}

async function launch(
  id: number,
  options: ParentOptions,
  status: LineLog,
  running: Map<number, Deno.ChildProcess>,
): Promise<ChildResult> {
  const seed = options.seed === undefined ? undefined : deriveSeed(options.seed, id);
  const started = performance.now();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(denoCommand(), {
      args: launchArgs("likes_server.ts", likesServerGrants(id, options), childFlags(id, options, seed)),
      // Never written: the child sees EOF on it when this process is gone, even after kill -9.
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    status.line(formatStatusEntry({ kind: "child not started", server: id, error: (error as Error).message }));
    return { id, code: 1, signal: null, ms: 0, hung: false, success: false };
  }
  running.set(id, child);
  status.line(formatStatusEntry({ kind: "child started", server: id, pid: child.pid }));
  // A child stopped (SIGSTOP), blocked or stuck would keep us waiting: silent
  // past the limit, or still running past its deadline, it is recorded as hung
  // and killed, which makes it a failure.
  let hung = false;
  const killHung = (entry: { ms: number; silent?: true }) => {
    if (hung) return;
    hung = true;
    status.line(formatStatusEntry({ kind: "child hung", server: id, ...entry }));
    try {
      child.kill("SIGKILL");
    } catch { /* exited meanwhile */ }
  };
  const deadline = hangDeadline(options);
  const timer = setTimeout(() => killHung({ ms: deadline }), deadline);
  // One timer for the silence, moved on when it fires rather than at every beat.
  const limit = silenceLimit(options);
  let lastSign = performance.now();
  let silence: ReturnType<typeof setTimeout> | undefined;
  const watchSilence = (wait: number) => {
    silence = setTimeout(() => {
      const quiet = performance.now() - lastSign;
      if (quiet >= limit) killHung({ ms: limit, silent: true });
      else watchSilence(limit - quiet);
    }, wait);
  };
  watchSilence(limit);
  // Every line the child writes on stderr is a sign of life; every one but a heartbeat is an error it met.
  const forwarding = (async () => {
    for await (const text of textLines(child.stderr)) {
      lastSign = performance.now();
      if (text === HEARTBEAT_LINE) continue;
      status.line(formatStatusEntry({ kind: "child error", server: id, text }));
    }
  })();
  const { code, signal } = await child.status;
  clearTimeout(timer);
  clearTimeout(silence);
  await forwarding;
  await child.stdin.close().catch(() => {});
  running.delete(id);
  const ms = performance.now() - started;
  const how = signal ? { signal } : { code };
  // A LikesServer catches stop signals before it sends anything, so one that a
  // stop signal killed was still starting (a Ctrl-C reaches the whole process
  // group at once, often before it reaches us): it gave up no like, which is
  // a clean stop, as for one that caught the signal with every like answered.
  const stoppedStarting = signal === "SIGINT" || signal === "SIGTERM";
  const success = !hung && (code === 0 || stoppedStarting);
  status.line(formatStatusEntry({ kind: "child ended", server: id, ...how, success, hung, ms }));
  return { id, code: signal ? undefined : code, signal, ms, hung, success };
}
