/**
 * What the benchmark reads about a process from Linux's /proc: CPU time,
 * memory and its open-file limit. Reading another process's /proc entries
 * from Deno needs -A (--allow-read=/proc is not enough), which is why the
 * bench task runs with -A.
 */

/** Clock ticks per second in /proc/<pid>/stat (USER_HZ; 100 on every Linux we run on). */
const USER_HZ = 100;

/** User + system CPU seconds the process has used so far, all its threads included. */
export function readCpuSeconds(pid: number | "self"): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The command name (field 2) may hold spaces, so split after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

/** Current and peak resident set size, MiB. */
export function readMemory(pid: number | "self"): { rssMb: number; peakRssMb: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status);
    if (!match) throw new Error(`Cannot read ${name} of process ${pid}: not in /proc/${pid}/status`);
    return Number(match[1]);
  };
  return { rssMb: kb("VmRSS") / 1024, peakRssMb: kb("VmHWM") / 1024 };
}

/** The soft limit on open files (what `ulimit -n` shows), Infinity when unlimited. */
export function readOpenFileLimit(pid: number | "self"): number {
  const limits = Deno.readTextFileSync(`/proc/${pid}/limits`);
  const match = /^Max open files\s+(\S+)/m.exec(limits);
  if (!match) throw new Error(`Cannot read the open-file limit of process ${pid}`);
  return match[1] === "unlimited" ? Infinity : Number(match[1]);
}
