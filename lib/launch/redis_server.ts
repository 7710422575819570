/**
 * A private redis-server in a subprocess, as the tests, the demo and the
 * benchmark start one: its own directory and port, persistence as asked, its
 * "Ready to accept connections" line awaited with a deadline (so no client is
 * needed to know it is up), and stop, kill and restart on the same port and
 * directory, so that a restarted server loads the same append-only file.
 */

export type Appendfsync = "always" | "everysec" | "no";

export interface RedisServerOptions {
  /** Working directory: the append-only file and any RDB snapshot live here. */
  dir: string;
  /** TCP port on 127.0.0.1; redis-server cannot pick an ephemeral one itself. */
  port: number;
  /** Write the append-only file. @default {true} */
  appendonly?: boolean;
  /** @default {"everysec"} */
  appendfsync?: Appendfsync;
  /** RDB snapshot rule (`save` config), "" for none. @default {""} */
  save?: string;
  /** How long to wait for the ready line (ms). @default {10000} */
  deadlineMs?: number;
  /** The program to run. @default {"redis-server"} */
  program?: string;
}

/** Why redis-server cannot be run, or undefined when it can. */
export async function redisServerMissing(program = "redis-server"): Promise<string | undefined> {
  try {
    const { success } = await new Deno.Command(program, { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
    return success ? undefined : `${program} --version failed`;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return `${program} is not installed (apt-get install redis-server)`;
    }
    throw error;
  }
}

const READY = /Ready to accept connections/;

export class RedisServer {
  readonly options: Readonly<Required<RedisServerOptions>>;
  #process: Deno.ChildProcess | undefined;
  #output = "";
  #done: Promise<unknown> = Promise.resolve();

  private constructor(options: Required<RedisServerOptions>) {
    this.options = options;
  }

  /**
   * Starts redis-server and waits until it accepts connections.
   *
   * @throws {RangeError} On a bad port or deadline
   * @throws {Error} When it exits first or is not ready by the deadline (it is then killed); the message holds its output
   */
  static async start(options: RedisServerOptions): Promise<RedisServer> {
    const {
      dir,
      port,
      appendonly = true,
      appendfsync = "everysec",
      save = "",
      deadlineMs = 10_000,
      program = "redis-server",
    } = options;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`Cannot start redis-server: port must be an integer in 1-65535, got ${port}`);
    }
    if (!(deadlineMs > 0)) {
      throw new RangeError(`Cannot start redis-server: deadlineMs must be positive, got ${deadlineMs}`);
    }
    const server = new RedisServer({ dir, port, appendonly, appendfsync, save, deadlineMs, program });
    await server.#spawn();
    return server;
  }

  get port(): number {
    return this.options.port;
  }

  /** `redis://127.0.0.1:PORT`, the form `--store` takes. */
  get url(): string {
    return `redis://127.0.0.1:${this.options.port}`;
  }

  /** Whether the server process is running (started and not yet stopped). */
  get running(): boolean {
    return this.#process !== undefined;
  }

  /** Everything redis-server printed since it was first started. */
  output(): string {
    return this.#output;
  }

  async #spawn(): Promise<void> {
    const { dir, port, appendonly, appendfsync, save, deadlineMs, program } = this.options;
    const process = new Deno.Command(program, {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--appendonly",
        appendonly ? "yes" : "no",
        "--appendfsync",
        appendfsync,
        "--save",
        save,
        "--daemonize",
        "no",
        // Log to stdout, where the ready line is awaited.
        "--logfile",
        "",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#process = process;
    const start = this.#output.length;
    let wake = () => {};
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        this.#output += chunk;
        wake();
      }
    };
    this.#done = Promise.all([collect(process.stdout), collect(process.stderr)]);
    const exited = process.status.then(() => "exited" as const);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), deadlineMs));
    try {
      while (!READY.test(this.#output.slice(start))) {
        const output = new Promise<"output">((resolve) => wake = () => resolve("output"));
        const event = await Promise.race([output, exited, timeout]);
        if (event === "exited") {
          await this.#done;
          this.#process = undefined;
          throw new Error(
            `redis-server on port ${port} exited before it was ready: ${this.#output.slice(start).trim()}`,
          );
        }
        if (event === "timeout") {
          await this.stop("SIGKILL");
          throw new Error(
            `redis-server on port ${port} was not ready within ${deadlineMs}ms: ${this.#output.slice(start).trim()}`,
          );
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Sends `signal` and waits for the exit. SIGTERM makes redis-server flush
   * its append-only file first; SIGKILL is a crash.
   */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus | undefined> {
    const process = this.#process;
    if (!process) return undefined;
    try {
      process.kill(signal);
    } catch { /* already exited */ }
    const status = await process.status;
    await this.#done;
    this.#process = undefined;
    return status;
  }

  /** Starts the server again on the same port and directory, after stop(). */
  async restart(): Promise<void> {
    if (this.#process) throw new Error(`Cannot restart redis-server on port ${this.port}: it is still running`);
    await this.#spawn();
  }
}
