/**
 * The import rules that keep lib/'s folders telling the architecture: shared
 * folders depend on no program, the producer never reaches into the primary,
 * and only the launch, tools and bench folders import across programs.
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { tempDir } from "../support/temp.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * For each folder under lib/, the folders (or single files, as `folder/file.ts`)
 * it may import from. A folder may always import from itself.
 */
const IMPORT_RULES: Record<string, readonly string[]> = {
  // Shared by every program: they know nothing of any program.
  common: [],
  protocol: ["common"],
  formats: ["common", "protocol"],
  // The programs. The dashboard is the primary's own view of its counters.
  primary: ["common", "protocol", "formats"],
  dashboard: ["common", "protocol", "formats", "primary"],
  producer: ["common", "protocol", "formats"],
  // The parent launches LikesServers, so it knows how programs are started
  // and the LikesServer flags it passes on; never a LikesServer's internals.
  supervisor: ["common", "protocol", "formats", "launch", "producer/options.ts"],
  // The cross-program side.
  launch: ["common", "protocol", "formats", "primary/options.ts", "producer/options.ts", "supervisor/options.ts"],
  tools: ["common", "protocol", "formats", "launch", "primary", "producer", "supervisor"],
  bench: ["common", "protocol", "formats", "launch", "primary", "dashboard", "producer", "supervisor"],
};

const IMPORT =
  /(?:^|[;\s])(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']|(?:^|[;\s])import\s*\(?\s*["']([^"']+)["']/g;

/** The relative module specifiers that `source` imports or re-exports. */
function importsOf(source: string): string[] {
  const found: string[] = [];
  // Comments may mention paths; they import nothing.
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  for (const match of code.matchAll(IMPORT)) {
    const spec = match[1] ?? match[2];
    if (spec.startsWith(".")) found.push(spec);
  }
  return found;
}

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* sourceFiles(path);
    else if (entry.isFile && /\.(ts|js|html|css)$/.test(entry.name)) yield path;
  }
}

/** Every import under `lib` (relative to `root`) that breaks `rules`, one line each. */
async function importViolations(
  root: string,
  rules: Record<string, readonly string[]> = IMPORT_RULES,
): Promise<string[]> {
  const lib = join(root, "lib");
  const violations: string[] = [];
  for await (const file of sourceFiles(lib)) {
    if (!file.endsWith(".ts")) continue;
    const from = relative(lib, file);
    const [folder] = from.split("/");
    const allowed = rules[folder];
    if (!from.includes("/") || allowed === undefined) {
      violations.push(`lib/${from}: not in a folder with import rules (${Object.keys(rules).join(", ")})`);
      continue;
    }
    for (const spec of importsOf(await Deno.readTextFile(file))) {
      const target = relative(lib, resolve(dirname(file), spec));
      const [targetFolder] = target.split("/");
      if (target.startsWith("..")) {
        violations.push(`lib/${from} imports ${spec}: lib/ imports nothing outside lib/`);
      } else if (targetFolder !== folder && !allowed.includes(targetFolder) && !allowed.includes(target)) {
        violations.push(
          `lib/${from} imports lib/${target}: ${folder}/ may import only from ${[folder, ...allowed].join(", ")}`,
        );
      }
    }
  }
  return violations.sort();
}

Deno.test("lib/ keeps its import rules: shared folders import no program, only launch, tools and bench cross programs", async () => {
  assert.deepEqual(await importViolations(ROOT), []);
});

Deno.test("every folder under lib/ has import rules", async () => {
  const folders: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, "lib"))) if (entry.isDirectory) folders.push(entry.name);
  assert.deepEqual(folders.filter((folder) => !(folder in IMPORT_RULES)), []);
});

Deno.test("importViolations() names the offending import of a shared folder and of the producer", async () => {
  const root = await tempDir();
  await Deno.mkdir(join(root, "lib/common"), { recursive: true });
  await Deno.mkdir(join(root, "lib/primary"), { recursive: true });
  await Deno.mkdir(join(root, "lib/producer"), { recursive: true });
  await Deno.writeTextFile(join(root, "lib/primary/store.ts"), "export const store = 1;\n");
  await Deno.writeTextFile(
    join(root, "lib/common/escape.ts"),
    '// import { x } from "../primary/comment.ts";\nimport { store } from "../primary/store.ts";\nexport const y = store;\n',
  );
  await Deno.writeTextFile(
    join(root, "lib/producer/run.ts"),
    'export { store } from "../primary/store.ts";\nconst lazy = await import("../common/escape.ts");\n',
  );
  assert.deepEqual(await importViolations(root), [
    "lib/common/escape.ts imports lib/primary/store.ts: common/ may import only from common",
    "lib/producer/run.ts imports lib/primary/store.ts: producer/ may import only from producer, common, protocol, formats",
  ]);
});

Deno.test("importViolations() allows a single named file of another program and nothing else of it", async () => {
  const root = await tempDir();
  for (const folder of ["supervisor", "producer"]) await Deno.mkdir(join(root, "lib", folder), { recursive: true });
  await Deno.writeTextFile(
    join(root, "lib/supervisor/options.ts"),
    'import { a } from "../producer/options.ts";\nimport { b } from "../producer/run.ts";\n',
  );
  const violations = await importViolations(root);
  assert.equal(violations.length, 1);
  assert.match(violations[0], /^lib\/supervisor\/options\.ts imports lib\/producer\/run\.ts: /);
});

Deno.test("importViolations() refuses a module at the top of lib/ and an import of a root program", async () => {
  const root = await tempDir();
  await Deno.mkdir(join(root, "lib/tools"), { recursive: true });
  await Deno.writeTextFile(join(root, "lib/loose.ts"), "export const loose = 1;\n");
  await Deno.writeTextFile(join(root, "lib/tools/audit.ts"), 'import "../../primary.ts";\n');
  assert.deepEqual(await importViolations(root), [
    "lib/loose.ts: not in a folder with import rules (" + Object.keys(IMPORT_RULES).join(", ") + ")",
    "lib/tools/audit.ts imports ../../primary.ts: lib/ imports nothing outside lib/",
  ]);
});
