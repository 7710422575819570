/**
 * The import rules that keep lib/'s folders telling the architecture: shared
 * folders depend on no program, the producer never reaches into the primary,
 * the supervisor and launch reach other programs only through their options
 * files (and the primary's flags the dashboard's limits), the dashboard reads
 * the primary's counters, and only tools and bench import whole programs.
 *
 * The imports are read from the module graph Deno itself builds (`deno info
 * --json`), so that no comment, string or unusual syntax can hide one.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
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
  // The programs. The dashboard is the primary's own view of its counters;
  // the primary's flags default to the dashboard's limits.
  primary: ["common", "protocol", "formats", "dashboard/http_options.ts"],
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

/** A rule inside a folder: modules under `from` (a folder ending in `/`, or a file) never import under `never`. */
interface InnerRule {
  from: string;
  never: readonly string[];
  why: string;
}

/**
 * Rules inside lib/primary/, for the layout with one folder per storage
 * backend. A rule whose folders do not exist (yet) holds trivially.
 */
const INNER_RULES: readonly InnerRule[] = [
  {
    from: "primary/backend/embedded/",
    never: ["primary/backend/redis/"],
    why: "the two backends never import each other",
  },
  {
    from: "primary/backend/redis/",
    never: ["primary/backend/embedded/"],
    why: "the two backends never import each other",
  },
  {
    from: "primary/server.ts",
    never: ["primary/backend/embedded/", "primary/backend/redis/"],
    why: "the server reaches a backend only through the store interface",
  },
];

/** Every local module (absolute path) and the local modules it imports: static, dynamic and type-only. */
type ModuleGraph = Map<string, Set<string>>;

/**
 * The local part of the module graph of `entries` (absolute paths), as
 * `deno info --json` resolves it with `config` (none when undefined).
 */
async function moduleGraph(entries: readonly string[], config?: string): Promise<ModuleGraph> {
  const graph: ModuleGraph = new Map();
  for (const entry of entries) {
    if (graph.has(entry)) continue;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", ...(config === undefined ? ["--no-config"] : ["--config", config]), entry],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    assert.equal(out.code, 0, `deno info ${entry}: ${decoder.decode(out.stderr)}`);
    const info = JSON.parse(decoder.decode(out.stdout)) as DenoInfo;
    for (const module of info.modules) {
      if (!module.specifier.startsWith("file:")) continue;
      const imports = new Set<string>();
      for (const dependency of module.dependencies ?? []) {
        for (const resolved of [dependency.code?.specifier, dependency.type?.specifier]) {
          if (resolved?.startsWith("file:")) imports.add(fromFileUrl(resolved));
        }
      }
      graph.set(fromFileUrl(module.specifier), imports);
    }
  }
  return graph;
}

/** The part of `deno info --json` read here. */
interface DenoInfo {
  modules: {
    specifier: string;
    dependencies?: { code?: { specifier?: string }; type?: { specifier?: string } }[];
  }[];
}

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* sourceFiles(path);
    else if (entry.isFile && entry.name.endsWith(".ts")) yield path;
  }
}

/** True when `target` (relative to lib/) is `path` or under the folder `path` (ending in `/`). */
function isUnder(target: string, path: string): boolean {
  return path.endsWith("/") ? target.startsWith(path) : target === path;
}

/** What `from` importing `target` (both relative to lib/) breaks, if anything. */
function violation(
  from: string,
  target: string,
  rules: Record<string, readonly string[]>,
  inner: readonly InnerRule[],
): string | undefined {
  if (target.startsWith("..")) return `lib/${from} imports ${target}: lib/ imports nothing outside lib/`;
  const [folder] = from.split("/");
  const [targetFolder] = target.split("/");
  const allowed = rules[folder];
  if (targetFolder !== folder && !allowed.includes(targetFolder) && !allowed.includes(target)) {
    return `lib/${from} imports lib/${target}: ${folder}/ may import only from ${[folder, ...allowed].join(", ")}`;
  }
  for (const rule of inner) {
    if (isUnder(from, rule.from) && rule.never.some((never) => isUnder(target, never))) {
      return `lib/${from} imports lib/${target}: ${rule.why}`;
    }
  }
  return undefined;
}

/**
 * Every import under `root`/lib that breaks `rules` or `inner`, one line
 * each; the graph starts from the scripts at the top of `root` and every
 * module under lib/, resolved with `config`.
 */
async function importViolations(
  root: string,
  options: { rules?: Record<string, readonly string[]>; inner?: readonly InnerRule[]; config?: string } = {},
): Promise<string[]> {
  const { rules = IMPORT_RULES, inner = INNER_RULES, config } = options;
  const lib = join(root, "lib");
  const violations: string[] = [];
  const libFiles: string[] = [];
  for await (const file of sourceFiles(lib)) {
    const from = relative(lib, file);
    if (!from.includes("/") || rules[from.split("/")[0]] === undefined) {
      violations.push(`lib/${from}: not in a folder with import rules (${Object.keys(rules).join(", ")})`);
    } else {
      libFiles.push(file);
    }
  }
  const scripts: string[] = [];
  for await (const entry of Deno.readDir(root)) {
    if (entry.isFile && entry.name.endsWith(".ts")) scripts.push(join(root, entry.name));
  }
  const graph = await moduleGraph([...scripts.sort(), ...libFiles.sort()], config);
  for (const file of libFiles) {
    const from = relative(lib, file);
    for (const imported of graph.get(file) ?? []) {
      const found = violation(from, relative(lib, imported), rules, inner);
      if (found !== undefined) violations.push(found);
    }
  }
  return violations.sort();
}

/** Writes `files` (path relative to the tree → source) under a new temp directory; returns it. */
async function tree(files: Record<string, string>): Promise<string> {
  const root = await tempDir();
  for (const [path, source] of Object.entries(files)) {
    await Deno.mkdir(join(root, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(root, path), source);
  }
  return root;
}

Deno.test("lib/ keeps its import rules in the module graph Deno resolves", async () => {
  assert.deepEqual(await importViolations(ROOT, { config: join(ROOT, "tests/deno.json") }), []);
});

Deno.test("every folder under lib/ has import rules", async () => {
  const folders: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, "lib"))) if (entry.isDirectory) folders.push(entry.name);
  assert.deepEqual(folders.filter((folder) => !(folder in IMPORT_RULES)), []);
});

Deno.test("importViolations() names the offending import of a shared folder and of the producer", async () => {
  const root = await tree({
    "lib/primary/store.ts": "export const store = 1;\n",
    "lib/common/escape.ts":
      '// import { x } from "../primary/comment.ts";\nimport { store } from "../primary/store.ts";\nexport const y = store;\n',
    "lib/producer/run.ts":
      'export { store } from "../primary/store.ts";\nconst lazy = await import("../common/escape.ts");\n',
  });
  assert.deepEqual(await importViolations(root), [
    "lib/common/escape.ts imports lib/primary/store.ts: common/ may import only from common",
    "lib/producer/run.ts imports lib/primary/store.ts: producer/ may import only from producer, common, protocol, formats",
  ]);
});

Deno.test("importViolations() sees an import that follows a string holding /* (which once hid it)", async () => {
  const root = await tree({
    "lib/primary/store.ts": "export const store = 1;\n",
    "lib/common/glob.ts": 'export const pattern = "lib/*";\n' +
      'import { store } from "../primary/store.ts";\n' +
      "export type Store = typeof store;\n/** Ends here. */\nexport const end = 1;\n",
  });
  assert.deepEqual(await importViolations(root), [
    "lib/common/glob.ts imports lib/primary/store.ts: common/ may import only from common",
  ]);
});

Deno.test("importViolations() sees a type-only import and a dynamic one", async () => {
  const root = await tree({
    "lib/primary/store.ts": "export type Store = number;\n",
    "lib/producer/types.ts": 'import type { Store } from "../primary/store.ts";\nexport type S = Store;\n',
    "lib/producer/lazy.ts": 'export const lazy = () => import("../primary/store.ts");\n',
  });
  assert.equal((await importViolations(root)).length, 2);
});

Deno.test("importViolations() allows a single named file of another program and nothing else of it", async () => {
  const root = await tree({
    "lib/producer/options.ts": "export const a = 1;\n",
    "lib/producer/run.ts": "export const b = 1;\n",
    "lib/supervisor/options.ts":
      'import { a } from "../producer/options.ts";\nimport { b } from "../producer/run.ts";\n',
  });
  const violations = await importViolations(root);
  assert.equal(violations.length, 1);
  assert.match(violations[0], /^lib\/supervisor\/options\.ts imports lib\/producer\/run\.ts: /);
});

Deno.test("importViolations() refuses a module at the top of lib/ and an import of a root program", async () => {
  const root = await tree({
    "primary.ts": "export const main = 1;\n",
    "lib/loose.ts": "export const loose = 1;\n",
    "lib/tools/audit.ts": 'import "../../primary.ts";\n',
  });
  assert.deepEqual(await importViolations(root), [
    "lib/loose.ts: not in a folder with import rules (" + Object.keys(IMPORT_RULES).join(", ") + ")",
    "lib/tools/audit.ts imports ../primary.ts: lib/ imports nothing outside lib/",
  ]);
});

Deno.test("importViolations() keeps the primary's backends apart and the server off both", async () => {
  const root = await tree({
    "lib/primary/store.ts": "export interface Store {}\n",
    "lib/primary/backend/embedded/store.ts": 'import "../redis/batch.ts";\nimport "../../store.ts";\n',
    "lib/primary/backend/redis/batch.ts": 'import "../../store.ts";\n',
    "lib/primary/backend/redis/store.ts": 'import "../embedded/store.ts";\n',
    "lib/primary/server.ts": 'import "./store.ts";\nimport "./backend/redis/store.ts";\n',
  });
  assert.deepEqual(await importViolations(root), [
    "lib/primary/backend/embedded/store.ts imports lib/primary/backend/redis/batch.ts: " +
    "the two backends never import each other",
    "lib/primary/backend/redis/store.ts imports lib/primary/backend/embedded/store.ts: " +
    "the two backends never import each other",
    "lib/primary/server.ts imports lib/primary/backend/redis/store.ts: " +
    "the server reaches a backend only through the store interface",
  ]);
});

Deno.test("importViolations() holds the primary's inner rules trivially while its backend folders do not exist", async () => {
  const root = await tree({
    "lib/primary/store.ts": "export interface Store {}\n",
    "lib/primary/server.ts": 'import "./store.ts";\n',
  });
  assert.deepEqual(await importViolations(root), []);
});
