/**
 * The runtime's ceiling: a Deno line server that answers `0` to every line
 * and does nothing else (no parsing, no storage). The bench drives it with the
 * same client as the primary and Redis, so each of our cells can be read as a
 * fraction of what Deno itself allows on this machine. It reads and writes the
 * way the primary's connections do (one read, then one write of all the
 * replies that read completed) so that only the work per message differs.
 *
 * Prints `EmptyServer ready: likes on HOST:PORT` once listening, and
 * `EmptyServer cpu SECONDS` (its user + system CPU so far) on each SIGUSR2, so
 * that the bench reads its CPU per line as it reads the primary's and Redis's;
 * stops on SIGTERM.
 */
import process from "node:process";
import { type FlagSpecs, helpText, parse, parseFlags, runProgram } from "../common/cli.ts";
import { untilSignal } from "../common/signals.ts";
import { closeQuietly, writeAll } from "../common/io.ts";

interface EmptyFlags {
  /** @default {"127.0.0.1"} */
  host: string;
  /** @default {0} */
  port: number;
}

const defaults: EmptyFlags = { host: "127.0.0.1", port: 0 };
const specs: FlagSpecs<EmptyFlags> = {
  host: { help: "Address to listen on", arg: "HOST", parse: parse.host },
  port: { help: "Port to listen on (0: any free one)", arg: "PORT", parse: parse.port },
};

const NEWLINE = 0x0a;
/** The replies to a read of many lines are a view of this, as the primary's are. */
const ZEROS = new TextEncoder().encode("0\n".repeat(64 * 1024));

async function serve(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  const buffer = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      const chunk = buffer.subarray(0, n);
      let lines = 0;
      for (let at = chunk.indexOf(NEWLINE); at !== -1; at = chunk.indexOf(NEWLINE, at + 1)) lines++;
      if (lines === 0) continue;
      // A read holds at most 64 KiB, so at most 64 Ki lines: one view always covers them.
      await writeAll(conn, ZEROS.subarray(0, 2 * lines));
    }
  } catch { /* the client went away */ }
  closeQuietly(conn);
}

runProgram("empty_server", async () => {
  const flags = parseFlags(Deno.args, specs, defaults);
  if (!flags) {
    console.log(helpText("empty_server.ts [flags]", "Answers 0 to every line: the bench's ceiling.", specs, defaults));
    return 0;
  }
  const stopped = untilSignal();
  const listener = Deno.listen({ hostname: flags.host, port: flags.port });
  const { hostname, port } = listener.addr;
  Deno.addSignalListener("SIGUSR2", () => {
    const { user, system } = process.cpuUsage();
    console.log(`EmptyServer cpu ${(user + system) / 1e6}`);
  });
  console.log(`EmptyServer ready: likes on ${hostname}:${port}`);
  (async () => {
    try {
      for await (const conn of listener) serve(conn);
    } catch { /* closed at stop */ }
  })();
  await stopped;
  listener.close();
  return 0;
});
