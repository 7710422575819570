/** Start-up check that a lost state file is never mistaken for a first run. */
import { StoreError } from "./store.ts";

/** Size of a regular file there; undefined for anything else, left for the open to report. */
function sizeOf(path: string): number | undefined {
  try {
    const info = Deno.lstatSync(path);
    return info.isFile ? info.size : undefined;
  } catch {
    return undefined;
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (error) {
    // Anything but "not there" (a file as parent, no permission) is the open's to report.
    return !(error instanceof Deno.errors.NotFound);
  }
}

/**
 * Refuses to start from zero when the state file is missing but the log
 * already records likes: the state was deleted or moved, and starting over
 * would silently restart the total. `--reset` says it is on purpose.
 *
 * @throws {StoreError} When the state is missing, the log is not empty and `reset` is false
 */
export function refuseSilentReset(statePath: string, logPath: string, reset: boolean): void {
  if (reset || exists(statePath)) return;
  const logSize = sizeOf(logPath) ?? 0;
  if (logSize === 0) return;
  throw new StoreError(
    `Cannot find state file ${statePath}, but the log ${logPath} already holds ${logSize} bytes of history: ` +
      `restore the state, or pass --reset to start from zero on purpose`,
  );
}
