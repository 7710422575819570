/**
 * The dashboard's live streams (Server-Sent Events). They share one timer and
 * one JSON per tick, however many dashboards are open; the timer runs only
 * while a stream is open.
 */

const encoder = new TextEncoder();

export class EventStreams {
  readonly #clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  readonly #event: () => string;
  readonly #interval: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** `event` is one whole event (`data: …\n\n`), sent on opening and every `interval` ms. */
  constructor(event: () => string, interval: number) {
    this.#event = event;
    this.#interval = interval;
  }

  /** Streams open now. */
  get size(): number {
    return this.#clients.size;
  }

  /** A new stream's body: the current event at once, then one each interval until the client goes. */
  open(): ReadableStream<Uint8Array> {
    let self: ReadableStreamDefaultController<Uint8Array>;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        self = controller;
        this.#clients.add(controller);
        // The browser reconnects after 1 s when the primary restarts.
        controller.enqueue(encoder.encode(`retry: 1000\n${this.#event()}`));
        this.#timer ??= setInterval(() => this.#tick(), this.#interval);
      },
      // Called when the client goes away.
      cancel: () => this.#remove(self),
    });
  }

  /** Ends every stream: a served response that never ends would keep a shutdown waiting. */
  closeAll(): void {
    for (const controller of [...this.#clients]) {
      this.#remove(controller);
      try {
        controller.close();
      } catch { /* already cancelled */ }
    }
  }

  #tick(): void {
    const chunk = encoder.encode(this.#event());
    for (const controller of this.#clients) {
      // A client that does not read gets no more queued: memory stays bounded,
      // and it catches up with the newest stats when it reads again.
      if ((controller.desiredSize ?? 0) > 0) controller.enqueue(chunk);
    }
  }

  #remove(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.#clients.delete(controller);
    if (this.#clients.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
