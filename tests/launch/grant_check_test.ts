import assert from "node:assert/strict";
import { dirname } from "node:path";
import { GRANTED_ROTATED_NAMES } from "../../lib/formats/file_names.ts";
import { missingGrantMessage, missingGrants } from "../../lib/launch/grant_check.ts";
import { denoInvocation, RUN_FLAGS, scriptPath, shellQuote } from "../../lib/launch/permissions.ts";
import { textLines } from "../../lib/common/text_lines.ts";
import { freePort } from "../support/parent.ts";
import { tempDir } from "../support/temp.ts";

const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
const tasks: Record<string, string> = config.tasks;

/** The --allow-* flags of a deno.json task: what `deno task <name>` grants. */
function taskGrants(name: string): string[] {
  return tasks[name].split(" ").filter((word) => word.startsWith("--allow-"));
}

/** `deno` on PATH is what the printed command names; make it this very deno. */
const env = { PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? ""}` };

/** Runs `script` as its task would, with `args`; returns its exit code and stderr. */
async function runAsTask(task: string, script: string, args: string[], cwd: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...RUN_FLAGS, ...taskGrants(task), scriptPath(script), ...args],
    cwd,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: new TextDecoder().decode(out.stderr) };
}

/** The command a program printed after `; run: `, and the grants it named as missing. */
function printed(stderr: string): { missing: string; command: string } {
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line expected, got: ${stderr}`);
  // Under npx (as the README's quick start runs the tests) the command starts with npx, as the user started it.
  const match = /^\w+: Missing grants? (.+) for these flags; run: ((?:deno|npx -y deno@[\d.]+) run .+)$/.exec(lines[0]);
  assert.ok(match, `unexpected message: ${lines[0]}`);
  return { missing: match[1], command: match[2] };
}

/** Runs a printed command in a shell, as the user would paste it. */
function shell(command: string, cwd: string, stdout: "piped" | "null" = "null"): Deno.ChildProcess {
  // Under npx the command starts with npx (a test below holds that); here this very deno runs it, offline.
  const pasted = command.replace(/^npx -y deno@[\d.]+ /, "deno ");
  return new Deno.Command("sh", { args: ["-c", `exec ${pasted}`], cwd, env, stdin: "null", stdout, stderr: "piped" })
    .spawn();
}

Deno.test("the primary asked for another port, log and state names the missing grants and a command that starts it", async () => {
  const dir = await tempDir();
  const port = freePort();
  const args = ["--port", String(port), "--http", "off", "--log", `${dir}/my log`, "--state", `${dir}/state.db`];
  const run = await runAsTask("primary", "primary.ts", args, dir);
  assert.equal(run.code, 2, run.stderr);
  assert.equal(run.stdout, "", "nothing may start before the check");
  const { missing, command } = printed(run.stderr);
  assert.match(missing, new RegExp(`--allow-net=127\\.0\\.0\\.1:${port}`));
  assert.match(missing, /--allow-read=.*my log/);
  assert.match(missing, /--allow-write=.*state\.db/);
  assert.ok(!command.includes("4243"), `--http off needs no dashboard grant: ${command}`);

  // The printed command really starts the primary: its ready line, within a deadline.
  const child = shell(command, dir, "piped");
  const deadline = setTimeout(() => child.kill("SIGKILL"), 30_000);
  let ready: string | undefined;
  try {
    for await (const line of textLines(child.stdout)) {
      if (line.startsWith("PrimaryLikesServer ready:")) {
        ready = line;
        break;
      }
    }
  } finally {
    clearTimeout(deadline);
  }
  child.kill("SIGTERM");
  const status = await child.status;
  const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
  assert.ok(ready, `no ready line; stderr: ${stderr}`);
  assert.match(ready, new RegExp(`likes on 127\\.0\\.0\\.1:${port}, total 0, log ${dir}/my log`));
  assert.equal(status.code, 0, stderr);
});

Deno.test("the parent given another --log-dir names the missing grants and a command that runs it", async () => {
  const dir = await tempDir();
  const args = ["--log-dir", dir, "--servers", "1", "--duration", "100ms", "--port", String(freePort())];
  const run = await runAsTask("parent", "parent.ts", args, dir);
  assert.equal(run.code, 2, run.stderr);
  const { missing, command } = printed(run.stderr);
  assert.equal(missing, `--allow-read=${dir}/ParentProcessStatus --allow-write=${dir}/ParentProcessStatus`);
  assert.ok(!/--allow-net/.test(command), `each LikesServer is granted its own net access: ${command}`);

  const status = await shell(command, dir).output();
  assert.notEqual(status.code, 2, new TextDecoder().decode(status.stderr));
  assert.match(await Deno.readTextFile(`${dir}/ParentProcessStatus`), /ParentProcess finished: /);
});

Deno.test("the audit given another --log-dir names the missing read grant and a command that audits it", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/PrimaryLikesLog`, "");
  await Deno.writeTextFile(`${dir}/LikesServer0`, "");
  const run = await runAsTask("audit", "audit.ts", ["--log-dir", dir, "--servers", "1"], dir);
  assert.equal(run.code, 2, run.stderr);
  const { missing, command } = printed(run.stderr);
  const rotated = Array.from({ length: GRANTED_ROTATED_NAMES }, (_, i) => `${dir}/PrimaryLikesLog.${i + 1}`);
  assert.equal(missing, `--allow-read=${[`${dir}/PrimaryLikesLog`, ...rotated, `${dir}/LikesServer0`].join(",")}`);

  const out = await shell(command, dir, "piped").output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.match(new TextDecoder().decode(out.stdout), /LikesServer0/);
});

Deno.test("missingGrants() is empty for a process granted everything", () => {
  assert.deepEqual(missingGrants({ net: ["127.0.0.1:1"], read: ["/x"], env: ["X"], sys: ["cpus"], run: ["deno"] }), {});
  assert.equal(missingGrantMessage("primary.ts", { read: ["/x"] }, ["--log", "/x"]), undefined);
});

Deno.test("shellQuote() words read back unchanged by sh", async () => {
  const words = ["plain", "--allow-read=/a b/c", "it's", "$HOME", "", "[::1]:4242", "a\nb"];
  const out = await new Deno.Command("sh", {
    args: ["-c", `printf '%s\\0' ${words.map(shellQuote).join(" ")}`],
    stdout: "piped",
  }).output();
  assert.deepEqual(new TextDecoder().decode(out.stdout).split("\0").slice(0, -1), words);
  assert.equal(shellQuote("--allow-net=127.0.0.1:4242"), "--allow-net=127.0.0.1:4242");
});

Deno.test("denoInvocation() names npx with this version for a Deno run from npx's cache, else deno", () => {
  assert.equal(denoInvocation("/root/.npm/_npx/7a40be78/node_modules/deno/deno", "2.9.6"), "npx -y deno@2.9.6");
  assert.equal(denoInvocation("/usr/lib/node_modules/deno/deno", "2.9.6"), "deno");
  assert.equal(denoInvocation("/home/me/.deno/bin/deno", "2.9.6"), "deno");
});

/** This deno, linked (or copied) to `path`, so that it runs with that exec path. */
async function denoAt(path: string): Promise<string> {
  await Deno.mkdir(dirname(path), { recursive: true });
  try {
    await Deno.link(Deno.execPath(), path);
  } catch {
    await Deno.copyFile(Deno.execPath(), path);
  }
  return path;
}

for (
  const [how, where, expected] of [
    ["through npx", "_npx/4f2a/node_modules/deno/deno", `npx -y deno@${Deno.version.deno} run `],
    ["as deno from PATH", "bin/deno", "deno run "],
  ] as const
) {
  Deno.test(`a missing grant's command starts Deno the way it was started: ${how}`, async () => {
    const dir = await tempDir();
    const deno = await denoAt(`${dir}/${where}`);
    const out = await new Deno.Command(deno, {
      args: ["run", ...RUN_FLAGS, ...taskGrants("primary"), scriptPath("primary.ts"), "--port", "5000"],
      cwd: dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, stderr);
    assert.equal(printed(stderr).command.startsWith(expected), true, stderr);
  });
}
