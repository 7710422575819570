/**
 * Before a program starts anything: does it hold every grant its flags need?
 * The grants are the ones the parent and the demo give it (permissions.ts),
 * so that `deno task primary --port 5000` ends in one line naming the missing
 * grant and the least-privilege command that has it, not in Deno's
 * permission error from deep inside the start-up.
 */
import { denoInvocation, type Grants, permissionFlags, scriptPath, shellQuote, taskCommand } from "./permissions.ts";

type Kind = keyof Grants;

function descriptor(kind: Kind, value: string): Deno.PermissionDescriptor {
  switch (kind) {
    case "net":
      return { name: "net", host: value };
    case "read":
      return { name: "read", path: value };
    case "write":
      return { name: "write", path: value };
    case "env":
      return { name: "env", variable: value };
    case "sys":
      return { name: "sys", kind: value as Deno.SysPermissionDescriptor["kind"] };
    case "run":
      return { name: "run", command: value };
  }
}

/** The part of `grants` this process does not hold (empty when it holds them all). */
export function missingGrants(grants: Grants): Grants {
  const missing: Grants = {};
  for (const kind of Object.keys(grants) as Kind[]) {
    // With --no-prompt, "prompt" is as good as denied.
    const lacking = (grants[kind] ?? []).filter((value) =>
      Deno.permissions.querySync(descriptor(kind, value)).state !== "granted"
    );
    if (lacking.length > 0) missing[kind] = lacking;
  }
  return missing;
}

/**
 * The one line a program prints when it lacks some of `grants`: which, and the
 * command that runs `script` with `args` and exactly `grants`; `undefined`
 * when nothing is missing.
 */
export function missingGrantMessage(script: string, grants: Grants, args: string[]): string | undefined {
  const missing = permissionFlags(missingGrants(grants));
  if (missing.length === 0) return undefined;
  return `Missing ${missing.length === 1 ? "grant" : "grants"} ${
    missing.map(shellQuote).join(" ")
  } for these flags; run: ${
    taskCommand(scriptPath(script), grants, args, denoInvocation(Deno.execPath(), Deno.version.deno))
  }`;
}

/**
 * Prints `<program>: <message>` on stderr when grants are missing.
 *
 * @returns Whether the program holds every grant it needs (else it should exit with code 2)
 */
export function checkGrants(program: string, script: string, grants: Grants, args: string[]): boolean {
  const message = missingGrantMessage(script, grants, args);
  if (message !== undefined) console.error(`${program}: ${message}`);
  return message === undefined;
}
