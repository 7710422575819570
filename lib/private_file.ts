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
