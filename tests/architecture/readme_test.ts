/** The README names only flags that exist: each one must be in some program's --help. */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
const PROGRAMS = ["primary.ts", "parent.ts", "likes_server.ts", "audit.ts", "demo.ts", "bench.ts", "tests/run.ts"];
/** Deno's own flags, which the README uses in commands. */
const DENO_FLAGS = /^--(allow-[a-z]+|no-prompt|quiet|config|frozen|parallel|check)$/;

async function helpText(script: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(script, ROOT).pathname, "--help"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, `${script} --help: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

/** The `--flag` words of `text` that are not Deno's own. */
function flagsIn(text: string): Set<string> {
  return new Set([...text.matchAll(/--[a-z][a-z-]*[a-z]/g)].map((m) => m[0]).filter((f) => !DENO_FLAGS.test(f)));
}

Deno.test("every flag the README names is in some program's --help", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const known = new Set<string>();
  for (const script of PROGRAMS) for (const flag of flagsIn(await helpText(script))) known.add(flag);
  const unknown = [...flagsIn(readme)].filter((flag) => !known.has(flag));
  assert.deepEqual(unknown, [], `README flags that no program has: ${unknown.join(", ")}`);
});

Deno.test("flagsIn() finds a program's flags and leaves Deno's own out", () => {
  assert.deepEqual(
    [...flagsIn("deno run --allow-net=x --no-prompt primary.ts --port 5000 --http-max-connections 9, --help")],
    ["--port", "--http-max-connections", "--help"],
  );
});
