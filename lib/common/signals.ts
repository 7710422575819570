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

/**
 * Resolves when `input` ends (EOF or an error): a child whose stdin is a pipe
 * held by its parent learns so that the parent is gone, however it died
 * (kill -9 included, which no signal handler of the parent can report).
 */
export async function untilEndOfInput(input: ReadableStream<Uint8Array>): Promise<void> {
  try {
    for await (const _chunk of input) { /* nothing is sent: only the end matters */ }
  } catch { /* a broken pipe is an end too */ }
}

/**
 * Runs `fn` on each `signal` (SIGHUP: logrotate's postrotate asks the
 * primary to look at its log now) until the returned function is called.
 */
export function onSignal(signal: Deno.Signal, fn: () => void): () => void {
  Deno.addSignalListener(signal, fn);
  return () => Deno.removeSignalListener(signal, fn);
}
