/**
 * A LikesServer's sign of life to its parent: one short line on stderr every
 * --heartbeat, on the pipe the parent already reads for its errors. It comes
 * from a timer, so it stops when the process is stopped (SIGSTOP), its event
 * loop is blocked, or it is stuck in the kernel: the parent then notices
 * within --hang-grace instead of at the run's final deadline.
 */

import { HEARTBEAT_LINE } from "../formats/status_log.ts";

const encoder = new TextEncoder();

/**
 * Writes a beat now and every `every` ms until the returned function is
 * called. The timer never keeps the process alive on its own.
 *
 * @throws {RangeError} When `every` is not positive
 */
export function startHeartbeat(every: number, out: { writeSync(bytes: Uint8Array): number } = Deno.stderr): () => void {
  if (!(every > 0)) throw new RangeError(`Cannot beat: every must be positive, got ${every}`);
  const line = encoder.encode(`${HEARTBEAT_LINE}\n`);
  const beat = () => {
    try {
      out.writeSync(line);
    } catch { /* the parent is gone: stdin's end stops this LikesServer */ }
  };
  beat();
  const timer = setInterval(beat, every);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
