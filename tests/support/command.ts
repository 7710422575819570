/**
 * Test support: runs a program to its end with stdin closed and returns its
 * exit code and both streams as text; and a PATH that holds deno alone, for
 * tests of a machine that lacks the optional programs.
 */
import { tempDir } from "./temp.ts";

export interface Finished {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `program` with `args` to its end. */
export async function runToEnd(
  program: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Finished> {
  const out = await new Deno.Command(program, { args, ...options, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** A new directory holding this deno as `deno` and nothing else, for PATH. */
export async function onlyDenoPath(): Promise<string> {
  const bin = await tempDir();
  await Deno.symlink(Deno.execPath(), `${bin}/deno`);
  return bin;
}
