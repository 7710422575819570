/** Creating files that hold the primary's data safely in a shared directory such as /tmp. */

/**
 * Makes sure `path` is a regular file, creating it owner-only (0600) if it is
 * missing. Refuses a symlink: in a world-writable directory another user could
 * plant one to make us write through it (the classic /tmp attack).
 *
 * @throws {Error} When the path is a symlink or not a regular file
 */
export function createPrivateFile(path: string): void {
  let info: Deno.FileInfo | undefined;
  try {
    info = Deno.lstatSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (info?.isSymlink) throw new Error(`refusing to follow a symlink at ${path}`);
  if (info && !info.isFile) throw new Error(`${path} is not a regular file`);
  if (!info) {
    // createNew fails rather than follow a symlink planted between the check and here.
    Deno.openSync(path, { write: true, createNew: true, mode: 0o600 }).close();
  }
}

/**
 * Opens a private file safely: creates it as createPrivateFile does, opens it,
 * then checks that what was opened is still the file at `path` (not a symlink
 * or another file swapped in between the check and the open) with no other
 * hard link, and takes an exclusive lock when asked. Truncation, when asked,
 * happens only after those checks.
 *
 * @throws {Error} When any check fails; nothing has been written then
 */
export function openPrivateFile(
  path: string,
  options: { append?: boolean; truncate?: boolean; lock?: boolean } = {},
): Deno.FsFile {
  const { append = true, truncate = false, lock = false } = options;
  createPrivateFile(path);
  const file = Deno.openSync(path, append ? { read: true, append: true } : { read: true, write: true });
  try {
    const opened = file.statSync();
    const named = Deno.lstatSync(path);
    if (named.isSymlink || named.ino !== opened.ino || named.dev !== opened.dev) {
      throw new Error(`${path} was replaced while it was being opened`);
    }
    // Another name for the same file could be a link an attacker made to a file of ours.
    if ((opened.nlink ?? 1) > 1) throw new Error(`refusing ${path}: it has ${opened.nlink} hard links`);
    // Locked before truncating: a second writer must not wipe the first one's file on its way to failing.
    if (lock && !file.tryLockSync(true)) throw new Error(`${path} is in use by another process`);
    if (truncate) file.truncateSync(0);
    return file;
  } catch (error) {
    file.close();
    throw error;
  }
}
