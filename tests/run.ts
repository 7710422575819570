/**
 * The test command (`deno task test [deno test flags] [paths]`): brings in
 * from Debian the programs some tests need, when this machine can (root, with
 * apt-get), runs every test, and closes with what was skipped, how many tests
 * each, and the command that would bring them in. `.ci/run` calls it too, so
 * CI and a person on a fresh machine install the same way.
 *
 * `--no-install` leaves the machine as it is (tests whose programs are
 * missing are skipped and listed at the end).
 */
import {
  findProgram,
  installHint,
  type NeedName,
  NEEDS,
  type Program,
  PROGRAMS,
  type SkipRecord,
  SKIPS_ENV,
} from "./support/requirements.ts";

const CONFIG = new URL("deno.json", import.meta.url).pathname;
const TESTS = new URL(".", import.meta.url).pathname;
const ROOT_CONFIG = new URL("../deno.json", import.meta.url).pathname;

/**
 * Caches the npm packages of both lockfiles (the programs' and the tests')
 * before any test starts, so that no program a test launches downloads one
 * mid-run (printing a line it did not write), and parallel tests never race
 * to fetch the same package.
 */
async function cachePackages(): Promise<void> {
  for (const config of [ROOT_CONFIG, CONFIG]) {
    const { success, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["install", "--frozen", "--quiet", `--config=${config}`],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!success) {
      throw new Error(`Cannot cache the npm packages of ${config}: ${new TextDecoder().decode(stderr).trim()}`);
    }
  }
}

/** The programs missing here, each with why. */
async function missingPrograms(): Promise<Map<Program, string>> {
  const missing = new Map<Program, string>();
  for (const program of Object.keys(PROGRAMS) as Program[]) {
    const found = await findProgram(program);
    if ("missing" in found) missing.set(program, found.missing);
  }
  return missing;
}

/** Why packages cannot be installed here, or undefined when they can. */
async function cannotInstall(): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "not root";
  if ("missing" in await findProgram("apt-get")) return "no apt-get";
  return undefined;
}

async function aptGet(args: string[]): Promise<void> {
  const { success, code, stderr } = await new Deno.Command("apt-get", {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  }).output();
  if (!success) {
    const last = new TextDecoder().decode(stderr).trim().split("\n").at(-1) ?? "";
    throw new Error(`apt-get ${args.join(" ")} exited with ${code}: ${last}`);
  }
}

/** Installs the missing programs' packages, one line each; what cannot be installed is left to the summary. */
async function install(missing: Map<Program, string>): Promise<void> {
  if (missing.size === 0) return;
  const why = await cannotInstall();
  if (why !== undefined) {
    console.log(`Not installing ${[...missing.keys()].join(", ")} (${why}): the tests that need them will be skipped`);
    return;
  }
  for (const program of missing.keys()) {
    console.log(`Installing ${PROGRAMS[program].join(" ")} from Debian (for ${program}, which some tests run)`);
  }
  try {
    await aptGet(["update", "-qq"]);
    await aptGet(["install", "-y", "-qq", ...new Set([...missing.keys()].flatMap((program) => PROGRAMS[program]))]);
  } catch (error) {
    console.log(`Could not install: ${(error as Error).message}; the tests that need it will be skipped`);
  }
}

/** `deno test` with the project's test config, on `args` or, with no path among them, on every test. */
function testArgs(args: string[]): string[] {
  const paths = args.some((arg) => !arg.startsWith("-"));
  return ["test", "-A", "--parallel", `--config=${CONFIG}`, ...args, ...(paths ? [] : [TESTS])];
}

/** The closing lines: each skipped group, how many tests, why, and what brings it in. */
export function skipSummary(records: readonly SkipRecord[]): string[] {
  if (records.length === 0) return ["Every test ran: none was skipped."];
  const byNeed = new Map<NeedName, SkipRecord[]>();
  for (const record of records) byNeed.set(record.need, [...byNeed.get(record.need) ?? [], record]);
  const lines = [`Skipped ${records.length} ${records.length === 1 ? "test" : "tests"} this machine could not run:`];
  for (const [need, skipped] of byNeed) {
    lines.push(
      `  ${NEEDS[need].title}: ${skipped.length} ${skipped.length === 1 ? "test" : "tests"} (${
        skipped[0].reason
      }); to run them: ${installHint([need])}, then deno task test`,
    );
  }
  return lines;
}

const HELP = `Usage: deno task test [--no-install] [deno test flags] [paths]

Runs every test (or those under paths). First installs from Debian the programs some tests
run (redis-server, redis-benchmark, chromium, cc) where they are missing and this machine can
(root, with apt-get); closes with the tests it could not run and the command that brings them in.

  --no-install   Leave the machine as it is: tests whose programs are missing are skipped
  --help         This text
`;

async function main(args: string[]): Promise<number> {
  if (args.includes("--help")) {
    console.log(HELP);
    return 0;
  }
  const noInstall = args.includes("--no-install");
  const rest = args.filter((arg) => arg !== "--no-install");
  if (!noInstall) await install(await missingPrograms());
  await cachePackages();

  const skips = await Deno.makeTempFile({ prefix: "likes_test_skips_" });
  try {
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: testArgs(rest),
      stdin: "null",
      env: { [SKIPS_ENV]: skips },
    }).spawn().status;
    const text = await Deno.readTextFile(skips);
    const records: SkipRecord[] = text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
    for (const line of skipSummary(records)) console.log(line);
    return code;
  } finally {
    await Deno.remove(skips);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
