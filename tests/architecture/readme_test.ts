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

/** A grant kind and its values as a task's `--allow-<kind>=<values>` gives them; `["*"]` for no list. */
type TaskGrants = Map<string, string[]>;

/** The grants of a `deno run` command line, in the order given. */
function taskGrants(command: string): TaskGrants {
  const grants: TaskGrants = new Map();
  for (const word of command.split(/\s+/)) {
    if (word === "-A" || word === "--allow-all") grants.set("all", ["*"]);
    const match = /^--allow-([a-z]+)(?:=(.*))?$/.exec(word);
    if (match) grants.set(match[1], match[2] === undefined ? ["*"] : match[2].split(","));
  }
  return grants;
}

/**
 * `/d/LikesServer0`, …, `/d/LikesServer9` (consecutive, from 0) as the one word
 * `/d/LikesServer0..9`; rotated logs `/d/Log.1`, …, `/d/Log.32` as `/d/Log.1..32`.
 */
function compactServerLogs(values: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < values.length; i++) {
    const first = /^(.*\/LikesServer)(0)$/.exec(values[i]) ?? /^(.*\.)(1)$/.exec(values[i]);
    const from = first ? Number(first[2]) : 0;
    let last = i;
    while (first && values[last + 1] === `${first[1]}${last + 1 - i + from}`) last++;
    out.push(first && last > i ? `${values[i]}..${last - i + from}` : values[i]);
    i = last;
  }
  return out;
}

/**
 * One README cell for `grants`: `kind: \`value\`, …` joined by `; `, in the
 * order given, read and write shown once as `read+write` when they are equal.
 */
function grantsCell(grants: TaskGrants): string {
  const parts: string[] = [];
  for (const [kind, values] of grants) {
    if (kind === "write" && grants.get("read")?.join() === values.join()) continue;
    const name = kind === "read" && grants.get("write")?.join() === values.join() ? "read+write" : kind;
    parts.push(`${name}: ${compactServerLogs(values).map((value) => `\`${value}\``).join(", ")}`);
  }
  return parts.join("; ");
}

/** The rows (first cell → second cell) of the first table after `heading` in `markdown`. */
function tableAfter(markdown: string, heading: string): Map<string, string> {
  const start = markdown.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README has no ${heading}`);
  const rows = new Map<string, string>();
  const lines = markdown.slice(start + heading.length + 2).split("\n");
  const first = lines.findIndex((line) => line.startsWith("|"));
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith("|")) break;
    const [name, grants] = line.split("|").slice(1, -1).map((cell) => cell.trim());
    rows.set(name, grants);
  }
  return rows;
}

/** The README's Permissions rows as the code makes them: each program task of deno.json, and a LikesServer. */
async function permissionRows(): Promise<Map<string, string>> {
  const { tasks } = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as {
    tasks: Record<string, string>;
  };
  const rows = new Map<string, string>();
  // The test task runs the suite with -A (the README says so apart); every other deno run task is a program's.
  for (const [name, command] of Object.entries(tasks)) {
    if (/^deno run\s/.test(command) && name !== "test") rows.set(`\`${name}\``, grantsCell(taskGrants(command)));
  }
  // The parent launches each LikesServer with the grants it computes, for its own flags: these are the defaults'.
  const { likesServerGrants, permissionFlags } = await import("../../lib/launch/permissions.ts");
  const { likesServerDefaults } = await import("../../lib/producer/options.ts");
  const likesServer = taskGrants(permissionFlags(likesServerGrants(0, likesServerDefaults)).join(" "));
  rows.set(
    "LikesServer&lt;N&gt;",
    grantsCell(likesServer).replaceAll("/LikesServer0`", "/LikesServer<N>`"),
  );
  return rows;
}

Deno.test("the README's Permissions table names exactly what deno.json's tasks and a LikesServer are granted", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const expected = await permissionRows();
  const shown = tableAfter(readme, "## Permissions");
  const table = [...expected].map(([name, grants]) => `| ${name} | ${grants} |`).join("\n");
  assert.deepEqual(Object.fromEntries(shown), Object.fromEntries(expected), `The table should read:\n${table}`);
});

Deno.test("grantsCell() shows each kind once with its values, read and write together when equal", () => {
  assert.equal(
    grantsCell(
      taskGrants("deno run -q --allow-net=a:1,b:2 --allow-read=/l,/s --allow-write=/l,/s --allow-run=deno x.ts"),
    ),
    "net: `a:1`, `b:2`; read+write: `/l`, `/s`; run: `deno`",
  );
  assert.equal(grantsCell(taskGrants("deno run --allow-read=/a --allow-write=/b x.ts")), "read: `/a`; write: `/b`");
  assert.equal(
    grantsCell(taskGrants("deno run --allow-read=/t/P,/t/LikesServer0,/t/LikesServer1,/t/LikesServer2 x.ts")),
    "read: `/t/P`, `/t/LikesServer0..2`",
  );
  assert.equal(
    grantsCell(taskGrants("deno run --allow-read=/t/P,/t/P.1,/t/P.2,/t/P.3,/t/Q x.ts")),
    "read: `/t/P`, `/t/P.1..3`, `/t/Q`",
  );
});

Deno.test("tableAfter() reads a table's rows whatever their padding", () => {
  const markdown = "# x\n\n## T\n\ntext\n\n| a   | b |\n| --- | - |\n| one | 1 |\n|two|2 2|\n\nafter\n";
  assert.deepEqual(Object.fromEntries(tableAfter(markdown, "## T")), { one: "1", two: "2 2" });
});
