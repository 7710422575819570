/**
 * Where each log lives: the file names of the primary's log and state, the
 * parent's status log and each LikesServer's log, built in this one place so
 * that the programs, their permission grants, the demo, the audit and the
 * bench all name the same files.
 */
import { likesServerName } from "../protocol/names.ts";

/** The directory every log is in unless a flag says otherwise. */
export const DEFAULT_LOG_DIR = "/tmp";

/**
 * `<dir>/PrimaryLikesLog`; with `instance`, the log of one of several
 * primaries in the same directory: `<dir>/PrimaryLikesLog<instance>`.
 */
export function primaryLogPath(dir: string, instance?: number): string {
  return `${dir}/PrimaryLikesLog${instanceSuffix(instance)}`;
}

/** `<dir>/PrimaryLikes.db`, the primary's SQLite checkpoint; `<dir>/PrimaryLikes<instance>.db` for one of several. */
export function primaryStatePath(dir: string, instance?: number): string {
  return `${dir}/PrimaryLikes${instanceSuffix(instance)}.db`;
}

/** `<dir>/ParentProcessStatus`. */
export function statusLogPath(dir: string): string {
  return `${dir}/ParentProcessStatus`;
}

/**
 * `<dir>/LikesServer<n>`.
 *
 * @throws {RangeError} When `n` is not a LikesServer id
 */
export function likesServerLogPath(dir: string, n: number): string {
  return `${dir}/${likesServerName(n)}`;
}

/** The primary's log by default. */
export const DEFAULT_PRIMARY_LOG: string = primaryLogPath(DEFAULT_LOG_DIR);

/** The primary's state file by default. */
export const DEFAULT_PRIMARY_STATE: string = primaryStatePath(DEFAULT_LOG_DIR);

/**
 * @throws {RangeError} When `instance` is not a non-negative integer
 */
function instanceSuffix(instance: number | undefined): string {
  if (instance === undefined) return "";
  if (!Number.isInteger(instance) || instance < 0) {
    throw new RangeError(`Not a primary instance number (a non-negative integer): ${instance}`);
  }
  return String(instance);
}

/**
 * `<log>.<n>`: the log's n-th rotated file, newest first, as logrotate names
 * them (the primary's own rotation uses the same names).
 *
 * @throws {RangeError} When `n` is not a positive integer
 */
export function rotatedLogPath(log: string, n: number): string {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`Not a rotated file number (a positive integer): ${n}`);
  return `${log}.${n}`;
}

/**
 * Rotated names granted when every rotated file is kept (`--log-keep all`):
 * grants name paths, and a directory grant on a shared /tmp would let the
 * program touch every file there. Past it, rotation stops with a line saying so.
 */
export const GRANTED_ROTATED_NAMES = 32;
