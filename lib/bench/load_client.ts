/**
 * The C load client (load_client.c), built once per bench run with the
 * system's C compiler into the work dir. It is the bench's default client:
 * the runtime's ceiling and Redis's numbers were measured with a C client,
 * and on 2 cores a client that costs less per message leaves the servers the
 * CPU they are compared on. `--client deno` uses load_worker.ts instead.
 */
import { ProgramError } from "../common/cli.ts";
import { C_COMPILER, LOAD_CLIENT_BINARY } from "../launch/permissions.ts";

/** The load generators the bench can drive every side with. */
export type LoadClient = "c" | "deno";

/**
 * Compiles load_client.c into `workDir` and returns the program's path.
 *
 * @throws {ProgramError} When there is no C compiler or it fails, with its first error line
 */
export async function buildLoadClient(workDir: string): Promise<string> {
  const source = new URL("./load_client.c", import.meta.url).pathname;
  const output = `${workDir}/${LOAD_CLIENT_BINARY}`;
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command(C_COMPILER, {
      args: ["-O2", "-Wall", "-o", output, source],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new ProgramError(
      `Cannot build the C load client: ${C_COMPILER} could not be run (${(error as Error).message}); ` +
        `install gcc, or pass --client deno`,
      { cause: error },
    );
  }
  if (!result.success) {
    const first = new TextDecoder().decode(result.stderr).split("\n").find((line) => line.includes("error")) ?? "";
    throw new ProgramError(`Cannot build the C load client: ${C_COMPILER} exited with ${result.code}: ${first.trim()}`);
  }
  return output;
}
