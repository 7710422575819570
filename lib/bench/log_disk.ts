/**
 * The disk a primary's log takes: the live log and its rotated files beside
 * it (`<log>.1`, `.2` …), read from the bench's side (readDir and stat, a few
 * syscalls), and its maximum sampled while a run is under load.
 */
import { basename, dirname } from "node:path";

/** How often the log's size is sampled under load (ms). */
export const LOG_SAMPLE_MS = 100;

/**
 * Bytes in the log at `log` and the rotated files beside it, now. A file
 * is counted once however a rotation renames it between the listing and
 * its stat (by inode), and not at all when deleted meanwhile. Listed and
 * stat'ed synchronously, tens of microseconds: a primary rotating every few
 * milliseconds could otherwise make new files between the awaits, and a
 * slow listing add up files that never were on disk at once.
 */
export function logDiskBytes(log: string): number {
  const name = basename(log);
  const ours = (entry: string) =>
    entry === name || (entry.startsWith(`${name}.`) && /^[1-9]\d*$/.test(entry.slice(name.length + 1)));
  const seen = new Set<number>();
  let bytes = 0;
  for (const entry of Deno.readDirSync(dirname(log))) {
    if (!ours(entry.name)) continue;
    try {
      const info = Deno.lstatSync(`${dirname(log)}/${entry.name}`);
      if (!info.isFile || seen.has(info.ino ?? -1)) continue;
      if (info.ino !== null) seen.add(info.ino);
      bytes += info.size;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return bytes;
}

/** A running sampler: stop() takes a last sample and gives the largest seen (once, however often it is called). */
export interface MaxSampler {
  stop(): Promise<number>;
}

/**
 * Calls `sample` every `everyMs` (skipping a tick while the last call is
 * still running) and keeps the largest value; a failing call is skipped.
 */
export function sampleMax(sample: () => number | Promise<number>, everyMs: number = LOG_SAMPLE_MS): MaxSampler {
  let max = 0;
  let running: Promise<void> | undefined;
  let stopped: Promise<number> | undefined;
  const tick = () => {
    running ??= Promise.resolve().then(sample).then((value) => {
      max = Math.max(max, value);
    }, () => {/* a file vanished mid-listing: the next tick counts again */}).finally(() => running = undefined);
    return running;
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return {
    stop() {
      return stopped ??= (async () => {
        clearInterval(timer);
        await running;
        await tick();
        return max;
      })();
    },
  };
}
