/**
 * What is wrong with the primary's storage right now, by cause (the log
 * write, the log file, the checkpoint), for /healthz and the dashboard. A
 * cause is cleared by the next success of the same kind; stderr hears of each
 * change once, not of every failed batch.
 */
export class Health {
  readonly #problems = new Map<string, string>();

  /** Records that `cause` is failing, with why; says so on stderr when it is news. */
  fail(cause: string, reason: string): void {
    if (this.#problems.get(cause) === reason) return;
    if (!this.#problems.has(cause)) console.error(`primary: Unhealthy: ${reason}`);
    this.#problems.set(cause, reason);
  }

  /** Records that `cause` works again. */
  ok(cause: string): void {
    const reason = this.#problems.get(cause);
    if (reason === undefined) return;
    this.#problems.delete(cause);
    console.error(`primary: Healthy again, after: ${reason}`);
  }

  /** Every current problem, joined; undefined when healthy. */
  get problem(): string | undefined {
    return this.#problems.size === 0 ? undefined : [...this.#problems.values()].join("; ");
  }
}
