/**
 * The least privilege each program runs with, computed from its options.
 * The parent uses it to launch its children; the demo to launch the primary
 * and the parent; deno.json's tasks are these for the default options
 * (taskCommand() writes them, and a test holds deno.json to it); and each
 * program, when it lacks a grant its flags need, prints the command with them
 * (grant_check.ts).
 */
import { primaryDefaults, type PrimaryOptions, redisAddress } from "../primary/options.ts";
import { type LikesServerOptions, primaryAddresses } from "../producer/options.ts";
import { TOKEN_ENV } from "../protocol/token.ts";
import { UsageError } from "../common/cli.ts";
import {
  GRANTED_ROTATED_NAMES,
  likesServerLogPath,
  primaryLogPath,
  rotatedLogPath,
  statusLogPath,
} from "../formats/file_names.ts";

export interface Grants {
  net?: string[];
  read?: string[];
  write?: string[];
  env?: string[];
  sys?: string[];
  run?: string[];
}

/**
 * Refuses a path that no --allow-read/--allow-write flag can name: Deno splits
 * a grant's list at commas, so `/tmp/a,b` would grant `/tmp/a` and `b`, and
 * the program would then fail on its first write. Checked by each program on
 * its own path flags, so the mistake is one usage line up front (exit 2).
 *
 * @throws {UsageError} When `path` contains a comma
 */
export function checkGrantablePath(flag: string, path: string): void {
  if (path.includes(",")) {
    throw new UsageError(
      `Invalid value for --${flag}: ${JSON.stringify(path)} contains a comma, which a permission grant cannot hold`,
    );
  }
}

/** `host:port` as --allow-net wants it (IPv6 in brackets). */
export function netAddress(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The --allow-* flags for `grants`, in a stable order. */
export function permissionFlags(grants: Grants): string[] {
  const flags: string[] = [];
  for (const kind of ["net", "read", "write", "env", "sys", "run"] as const) {
    const values = grants[kind];
    if (values && values.length > 0) flags.push(`--allow-${kind}=${values.join(",")}`);
  }
  return flags;
}

/**
 * On Redis (`--store redis://…`) the primary also reaches that one address,
 * and has no SQLite state file to touch.
 */
export function primaryGrants(
  options:
    & Pick<PrimaryOptions, "host" | "port" | "http" | "log" | "state">
    & Partial<Pick<PrimaryOptions, "store" | "logKeep">>,
): Grants {
  const net = [netAddress(options.host, options.port)];
  // Both on 127.0.0.1:0 (ephemeral ports, as the bench runs it) is one grant.
  if (options.http !== "off" && options.http !== net[0]) net.push(options.http);
  const redis = redisAddress({ store: options.store ?? "embedded" });
  if (redis !== undefined) {
    const address = netAddress(redis.host, redis.port);
    if (!net.includes(address)) net.push(address);
  }
  // Read too: the log and state are checked with lstat (symlinks) and read back at start-up.
  const files = logFiles(options.log, options.logKeep ?? primaryDefaults.logKeep);
  if (redis === undefined) files.push(options.state);
  return { net, read: files, write: files, env: [TOKEN_ENV] };
}

/**
 * The log and the rotated files beside it that `keep` allows (one more: the
 * one a rotation makes before the oldest is deleted). With every one kept
 * their names have no bound: the first GRANTED_ROTATED_NAMES are granted
 * (a grant of the log's directory, /tmp by default, would be every file there).
 */
function logFiles(log: string, keep: number): string[] {
  const files = [log];
  for (let n = 1; n <= Math.min(keep + 1, GRANTED_ROTATED_NAMES); n++) files.push(rotatedLogPath(log, n));
  return files;
}

/** A LikesServer may connect to every primary it may fail over to, and nowhere else. */
export function likesServerGrants(
  id: number,
  options: Pick<LikesServerOptions, "host" | "port" | "logDir"> & { primaries?: LikesServerOptions["primaries"] },
): Grants {
  const log = likesServerLogPath(options.logDir, id);
  const net = primaryAddresses(options).map(({ host, port }) => netAddress(host, port));
  return { net, read: [log], write: [log], env: [TOKEN_ENV] };
}

export function parentGrants(options: { logDir: string }): Grants {
  const status = statusLogPath(options.logDir);
  return { read: [status], write: [status], env: [TOKEN_ENV], run: ["deno"] };
}

/** The audit reads the logs, and with `store` (the Redis of `--store redis://…`) reaches it for its total. */
export function auditGrants(
  options: { logDir: string; servers: number; primaryLog?: readonly string[]; store?: { host: string; port: number } },
): Grants {
  // A primary log's rotated files (`<log>.1` …) are read beside it.
  const files = (options.primaryLog ?? [primaryLogPath(options.logDir)]).flatMap((log) => logFiles(log, Infinity));
  for (let i = 0; i < options.servers; i++) files.push(likesServerLogPath(options.logDir, i));
  if (options.store === undefined) return { read: files };
  return { net: [netAddress(options.store.host, options.store.port)], read: files };
}

/**
 * The demo: its primary's dashboard and deno; with `--redis` also redis-server
 * with its directory under the log dir (made by the demo; the demo itself
 * never connects to that redis-server). Only that mode asks for redis-server,
 * so a machine without it never hears of it.
 */
export function demoGrants(options: { http: string; logDir: string; redis?: boolean }): Grants {
  if (!options.redis) return { net: [options.http], run: ["deno"] };
  // 127.0.0.1:0: finding a free port for redis-server (which cannot pick one itself).
  return {
    net: [options.http, "127.0.0.1:0"],
    write: [demoRedisDir(options.logDir)],
    run: ["deno", "redis-server"],
  };
}

/** Where the `--redis` demo's redis-server keeps its append-only file. */
export function demoRedisDir(logDir: string): string {
  return `${logDir}/likes-demo-redis`;
}

/** The C compiler the bench runs to build its load client (lib/bench/load_client.ts). */
export const C_COMPILER = "cc";

/** The bench's built C load client, in its work dir. */
export const LOAD_CLIENT_BINARY = "load_client";

/**
 * The benchmark: it talks only to processes it starts on 127.0.0.1 (their
 * ephemeral ports are not known in advance, hence the host-wide grant), writes
 * only under its work dir (the primaries' and Redis's temp state, the replay
 * log and the history's log files, the JSON) and reads there too (the sizes
 * of its primaries' log files under load, a start-up's "Replayed" line), asks for the CPU model and the kernel release for the report
 * (as system info: reading /proc/cpuinfo would need -A), and runs deno (the
 * primary, the load processes, the empty server, each with its own least
 * privilege), redis-server, the C compiler and the C load client it built.
 */
export function benchGrants(options: { workDir: string }): Grants {
  return {
    net: ["127.0.0.1"],
    read: [options.workDir],
    write: [options.workDir],
    sys: ["cpus", "osRelease"],
    // The C load client: the compiler builds it into the work dir, then it runs from there.
    run: ["deno", "redis-server", C_COMPILER, `${options.workDir}/${LOAD_CLIENT_BINARY}`],
  };
}

/**
 * The program that runs Deno: this very executable when we may run it (as in
 * tests granted -A), else `deno` from PATH, which is what `--allow-run=deno` grants.
 */
export function denoCommand(): string {
  const self = Deno.execPath();
  return Deno.permissions.querySync({ name: "run", command: self }).state === "granted" ? self : "deno";
}

/** The project root, for locating the scripts the programs launch. */
const ROOT = new URL("../../", import.meta.url);

/** The absolute path of a project script such as `primary.ts`. */
export function scriptPath(script: string): string {
  return new URL(script, ROOT).pathname;
}

/** `word` as a POSIX shell reads it back: bare when safe, else in single quotes. */
export function shellQuote(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * `deno run`'s own flags for every program: no prompts (a missing grant is an
 * error, never a question), and quiet, so that the program's output is its
 * own (Deno would otherwise say, say, that a granted program such as
 * redis-server is not on PATH, before the program's first line).
 */
export const RUN_FLAGS = ["--no-prompt", "--quiet"] as const;

/**
 * The shell command that runs `script` with `grants` and `args`: the deno.json
 * task for the default options, and what a program prints when it lacks a
 * grant (then with `deno` as the user can start it: see denoInvocation()).
 */
export function taskCommand(script: string, grants: Grants, args: string[] = [], deno = "deno"): string {
  return [...deno.split(" "), "run", ...RUN_FLAGS, ...permissionFlags(grants), script, ...args].map(shellQuote).join(
    " ",
  );
}

/**
 * How the user can start Deno again, judged by the running executable:
 * `npx -y deno@<version>` when it runs from npx's cache (where no `deno` is
 * on the user's PATH), else `deno`.
 */
export function denoInvocation(execPath: string, version: string): string {
  return /\/_npx\//.test(execPath) ? `npx -y deno@${version}` : "deno";
}

/**
 * Arguments to launch a project script from another program: the same as its
 * task, with absolute paths and the project's config (import map and lock),
 * so that it works whatever the current directory is. `"all"` grants -A, for
 * tests that exercise the program rather than its permissions.
 */
export function launchArgs(script: string, grants: Grants | "all", args: string[] = []): string[] {
  const config = new URL("deno.json", ROOT).pathname;
  return [
    "run",
    ...RUN_FLAGS,
    `--config=${config}`,
    ...(grants === "all" ? ["-A"] : permissionFlags(grants)),
    scriptPath(script),
    ...args,
  ];
}
