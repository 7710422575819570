/** Waiting for the signals that ask a program to stop. */

export type StopSignal = "SIGINT" | "SIGTERM";

/** Resolves with the first SIGINT or SIGTERM, then stops listening for them. */
export function untilSignal(): Promise<StopSignal> {
  return new Promise((resolve) => {
    const handlers = new Map<StopSignal, () => void>();
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      const handler = () => {
        for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
        resolve(signal);
      };
      handlers.set(signal, handler);
      Deno.addSignalListener(signal, handler);
    }
  });
}
