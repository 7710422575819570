/**
 * Keeps a listener accepting. In Deno 2.9, node:http's listener stops
 * accepting for good, silently (no error event), once accept fails: out of
 * descriptors, say, while a flood of producers holds them. So the watchdog
 * connects to the listener now and then; a probe that connects but is never
 * accepted means the listener is dead, and it is made to listen anew on the
 * same address. Connections already open are kept.
 */
import { abortable, closeQuietly } from "../common/io.ts";
import { sleep } from "../common/sleep.ts";

/** What the watchdog revives. */
export interface Relistenable {
  /** Stops the dead listener. */
  close(): void;
  /** Listens again on the same address; rejects when it cannot (yet). */
  listen(): Promise<void>;
}

export interface WatchdogOptions {
  /** Time between two probes (ms). @default {1000} */
  interval?: number;
  /** Time an accepting listener has to take a probe (ms): generous, the machine may be busy. @default {3000} */
  probeDeadline?: number;
  /** Pause before listening again after a failure (ms). @default {1000} */
  restartDelay?: number;
}

/** Peers remembered so that a probe accepted before it was registered still counts. */
const RECENT_PEERS = 64;

/**
 * Probes a listener's address every `interval` once started. The listener's
 * owner passes every accepted connection's peer port to
 * {@linkcode ListenerWatchdog.claim}, which tells the probes apart from clients.
 */
export class ListenerWatchdog {
  #addr: { hostname: string; port: number } = { hostname: "", port: 0 };
  readonly #target: Relistenable;
  readonly #interval: number;
  readonly #probeDeadline: number;
  readonly #restartDelay: number;
  readonly #probes = new Map<number, () => void>();
  readonly #recentPeers: number[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = true;

  /** @throws {RangeError} When an option is not a positive integer */
  constructor(target: Relistenable, options: WatchdogOptions = {}) {
    const { interval = 1000, probeDeadline = 3000, restartDelay = 1000 } = options;
    for (const [name, value] of Object.entries({ interval, probeDeadline, restartDelay })) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(`Cannot watch the listener: ${name} must be a positive integer, got ${value}`);
      }
    }
    this.#target = target;
    this.#interval = interval;
    this.#probeDeadline = probeDeadline;
    this.#restartDelay = restartDelay;
  }

  /**
   * True when the connection from `remotePort` is a probe, which the caller
   * then drops; false for a client's, which the caller serves.
   */
  claim(remotePort: number): boolean {
    const probe = this.#probes.get(remotePort);
    if (probe) {
      probe();
      return true;
    }
    // A probe may be accepted before its prober learns its own port: remember recent peers.
    this.#recentPeers.push(remotePort);
    if (this.#recentPeers.length > RECENT_PEERS) this.#recentPeers.shift();
    return false;
  }

  /** Probes the listener at `addr` from one interval from now on. */
  start(addr: { hostname: string; port: number }): void {
    this.stop();
    this.#addr = { hostname: addr.hostname, port: addr.port };
    this.#stopped = false;
    this.#schedule();
  }

  /** No more probes, and no more attempts to listen again. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (!this.#stopped) this.#timer = setTimeout(() => this.#watch(), this.#interval);
  }

  async #watch(): Promise<void> {
    this.#timer = undefined;
    const accepted = await this.#probe();
    if (this.#stopped) return;
    if (accepted === false) await this.#relisten();
    this.#schedule();
  }

  /** Whether a probe was accepted; undefined when none could be made (no descriptor either: tried again later). */
  async #probe(): Promise<boolean | undefined> {
    let probe: Deno.TcpConn;
    try {
      probe = await Deno.connect(this.#addr);
    } catch {
      return undefined;
    }
    const local = probe.localAddr.port;
    const taken = this.#recentPeers.includes(local)
      ? Promise.resolve(true)
      : new Promise<boolean>((resolve) => this.#probes.set(local, () => resolve(true)));
    const accepted = await abortable(taken, AbortSignal.timeout(this.#probeDeadline)).catch(() => false);
    this.#probes.delete(local);
    closeQuietly(probe);
    return accepted;
  }

  async #relisten(): Promise<void> {
    console.error("HTTP server stopped accepting, listening again on the same address");
    this.#target.close();
    while (!this.#stopped) {
      try {
        return await this.#target.listen();
      } catch (error) {
        console.error(
          `HTTP server cannot listen yet, trying again in ${this.#restartDelay}ms: ${(error as Error).message}`,
        );
        await sleep(this.#restartDelay);
      }
    }
  }
}
