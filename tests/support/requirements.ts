/**
 * What some tests need from the machine beyond Deno: programs from Debian's
 * packages, and root. One table, read by the tests (to skip, saying why) and
 * by the test command (tests/run.ts: to install what is missing first, and to
 * close with what was skipped and the command that would bring it in).
 */

/** The programs tests run, each with the Debian packages that bring it in. */
export const PROGRAMS = {
  "redis-server": ["redis-server"],
  "redis-benchmark": ["redis-tools"],
  chromium: ["chromium"],
  cc: ["gcc", "libc6-dev"],
  logrotate: ["logrotate"],
} as const satisfies Record<string, readonly string[]>;

export type Program = keyof typeof PROGRAMS;

/** A group of tests that needs the same thing, as the closing summary names it. */
export interface Need {
  /** What the summary calls the group's tests. */
  title: string;
  /** Programs that must run here. */
  programs: readonly Program[];
  /** Whether the tests also need root (mounting a tmpfs, editing /etc/hosts). */
  root?: boolean;
}

export const NEEDS = {
  redis: { title: "Redis", programs: ["redis-server"] },
  browser: { title: "browser (Chromium)", programs: ["chromium"] },
  cc: { title: "C compiler", programs: ["cc"] },
  logrotate: { title: "logrotate (Debian's)", programs: ["logrotate"] },
  root: { title: "root-only (a full disk on a tmpfs)", programs: [], root: true },
  hosts: { title: "name resolution (/etc/hosts, an address off loopback)", programs: [], root: true },
} as const satisfies Record<string, Need>;

export type NeedName = keyof typeof NEEDS;

/**
 * The variable through which the test command hears of skipped tests: a file
 * each test process appends one JSON line to per skipped test.
 */
export const SKIPS_ENV = "LIKES_TEST_SKIPS";

/** One skipped test, as appended to the skips file. */
export interface SkipRecord {
  need: NeedName;
  test: string;
  reason: string;
}

/**
 * Where `program` is on PATH and runs: its absolute path, or why not. A file
 * that exists but cannot be executed, or whose `--version` fails, counts as
 * missing, since the tests would fail on it rather than skip.
 */
export async function findProgram(
  program: string,
  path = Deno.env.get("PATH") ?? "",
): Promise<{ path: string } | { missing: string }> {
  const candidates = program.includes("/") ? [program] : path.split(":").filter(Boolean).map((d) => `${d}/${program}`);
  let unusable: string | undefined;
  for (const candidate of candidates) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(candidate);
    } catch {
      continue;
    }
    if (!info.isFile || ((info.mode ?? 0) & 0o111) === 0) {
      unusable ??= `${candidate} is not executable`;
      continue;
    }
    try {
      const { success, code } = await new Deno.Command(candidate, {
        args: ["--version"],
        stdin: "null",
        stdout: "null",
        stderr: "null",
        env: { PATH: path },
      }).output();
      if (success) return { path: candidate };
      unusable ??= `${candidate} --version exited with ${code}`;
    } catch (error) {
      unusable ??= `${candidate} cannot be run: ${(error as Error).message}`;
    }
  }
  return { missing: unusable ?? `${program} is not installed` };
}

/** What a group of tests has of its need here. */
export class Requirement {
  readonly need: NeedName;
  /** Why the group cannot run here, or undefined when it can. */
  readonly missing: string | undefined;
  /** Each program's absolute path, when found. */
  readonly paths: Readonly<Partial<Record<Program, string>>>;

  constructor(need: NeedName, missing: string | undefined, paths: Partial<Record<Program, string>>) {
    this.need = need;
    this.missing = missing;
    this.paths = paths;
  }

  /**
   * For Deno.test's `ignore`: whether `test` must be skipped here. A skip is
   * recorded for the test command's closing summary, or, when the tests run
   * without it, said on stderr at once.
   */
  ignore(test: string): boolean {
    if (this.missing === undefined) return false;
    const file = Deno.env.get(SKIPS_ENV);
    if (file) {
      const record: SkipRecord = { need: this.need, test, reason: this.missing };
      Deno.writeTextFileSync(file, JSON.stringify(record) + "\n", { append: true });
    } else {
      console.warn(`Skipping "${test}": ${this.missing} (${installHint([this.need])})`);
    }
    return true;
  }

  /** Deno.test, skipped (and the skip recorded) where this need is missing. */
  test(definition: Deno.TestDefinition): void {
    testNeeding([this], definition);
  }

  /** The absolute path of `program`, which the group needs. */
  path(program: Program): string {
    const found = this.paths[program];
    if (found === undefined) throw new Error(`${program} is not available: ${this.missing}`);
    return found;
  }
}

/** Deno.test, skipped (and the skip recorded) where any of `needs` is missing here. */
export function testNeeding(needs: readonly Requirement[], definition: Deno.TestDefinition): void {
  const lacking = needs.find((need) => need.missing !== undefined);
  Deno.test({ ...definition, ignore: definition.ignore || (lacking?.ignore(definition.name) ?? false) });
}

const cache = new Map<NeedName, Promise<Requirement>>();

/** What this machine has of `need`, probed once per test process. */
export function requirement(need: NeedName): Promise<Requirement> {
  let found = cache.get(need);
  if (!found) {
    found = probeNeed(need);
    cache.set(need, found);
  }
  return found;
}

async function probeNeed(need: NeedName): Promise<Requirement> {
  const spec: Need = NEEDS[need];
  const reasons: string[] = [];
  if (spec.root && Deno.uid() !== 0) reasons.push("they need root");
  const paths: Partial<Record<Program, string>> = {};
  for (const program of spec.programs) {
    const found = await findProgram(program);
    if ("path" in found) paths[program] = found.path;
    else reasons.push(found.missing);
  }
  return new Requirement(need, reasons.length > 0 ? reasons.join("; ") : undefined, paths);
}

/** The Debian packages that bring in `needs`' programs. */
export function packagesFor(needs: readonly NeedName[]): string[] {
  const packages = needs.flatMap((need) => (NEEDS[need] as Need).programs.flatMap((p) => PROGRAMS[p]));
  return [...new Set(packages)];
}

/** The command a person runs to bring in what `needs` lack, then run the tests again. */
export function installHint(needs: readonly NeedName[]): string {
  const packages = packagesFor(needs);
  const asRoot = needs.some((need) => (NEEDS[need] as Need).root);
  if (packages.length === 0) return asRoot ? "run the test command as root" : "nothing to install";
  const install = `apt-get install -y ${packages.join(" ")}`;
  return `as root: apt-get update && ${install}${asRoot ? ", and run the test command as root" : ""}`;
}
