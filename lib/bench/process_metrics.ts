/**
 * What the benchmark reads about a primary: its CPU time and memory, from the
 * standard `process_*` families of its /metrics. The primary measures itself,
 * so the bench needs no access to its /proc entries (which Deno grants only
 * with -A) and the primary runs with least privilege.
 */

/** A primary's use of the machine so far. */
export interface PrimaryUse {
  /** User + system CPU seconds since it started, all threads. */
  cpuSeconds: number;
  /** Resident set size now, MiB. */
  rssMb: number;
  /** Peak resident set size since it started, MiB. */
  peakRssMb: number;
}

const MIB = 1024 * 1024;

/**
 * Reads the unlabelled sample `name` of a text exposition.
 *
 * @throws {Error} When there is no such sample, or its value is not a number
 */
function sampleValue(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  const value = match ? Number(match[1]) : NaN;
  if (Number.isNaN(value)) throw new Error(`Cannot read ${name} from the primary's /metrics`);
  return value;
}

/**
 * The primary's use, from the text of its /metrics.
 *
 * @throws {Error} When one of the process_* samples is missing
 */
export function parsePrimaryUse(text: string): PrimaryUse {
  return {
    cpuSeconds: sampleValue(text, "process_cpu_seconds_total"),
    rssMb: sampleValue(text, "process_resident_memory_bytes") / MIB,
    peakRssMb: sampleValue(text, "process_max_resident_memory_bytes") / MIB,
  };
}

/**
 * Scrapes the primary's /metrics on 127.0.0.1:`httpPort`.
 *
 * @throws {Error} When it does not answer 200 within `deadlineMs`, or the answer lacks the process_* samples
 */
export async function scrapePrimaryUse(httpPort: number, deadlineMs = 10_000): Promise<PrimaryUse> {
  if (!Number.isInteger(httpPort) || httpPort < 1 || httpPort > 65535) {
    throw new RangeError(`Cannot scrape the primary: httpPort must be a port number, got ${httpPort}`);
  }
  let response: Response;
  let text: string;
  try {
    response = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(deadlineMs) });
    text = await response.text();
  } catch (error) {
    // fetch's own message ("fetch failed") hides the reason in its cause.
    const cause = (error as Error).cause;
    throw new Error(`Cannot scrape the primary's /metrics: ${(error as Error).message}${cause ? `: ${cause}` : ""}`);
  }
  if (response.status !== 200) throw new Error(`The primary's /metrics answered ${response.status}: ${text}`);
  return parsePrimaryUse(text);
}
