/** Waiting for the signals that ask a program to stop. */

export type StopSignal = "SIGINT" | "SIGTERM";

/**
 * Resolves with the first SIGINT or SIGTERM. Later ones are absorbed: Ctrl-C
 * reaches every process of the terminal and a supervisor then sends SIGTERM
 * too, and neither may cut a clean stop short with the default action.
 * (SIGKILL still ends a program at once.)
 */
export function untilSignal(): Promise<StopSignal> {
  return new Promise((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, () => resolve(signal));
  });
}
