/**
 * The log rotated every way an operator meets, under load (10 LikesServers
 * and a load client), with kill -9 of the primary between some: the
 * primary's own rotation, logrotate's rename (with and without `create`,
 * with and without a SIGHUP) and its copytruncate, run by Debian's real
 * logrotate binary. The audit across the chain of files must be exact.
 */
import assert from "node:assert/strict";
import { audit, formatAudit } from "../../lib/tools/audit.ts";
import { finalTotal, type PrimaryProcess, startPrimary } from "../support/primary.ts";
import { pipeline } from "../support/client.ts";
import { freePort, spawnParent } from "../support/parent.ts";
import { requirement } from "../support/requirements.ts";
import { sleep } from "../../lib/common/sleep.ts";
import { eventually } from "../support/eventually.ts";

const LOGROTATE = await requirement("logrotate");

/** Small files and a short check: many rotations in a few seconds. */
const FLAGS = ["--http", "off", "--log-max-bytes", "24k", "--log-check-every", "100ms", "--checkpoint-every", "200ms"];
/**
 * While logrotate rotates: one rotator at a time, as the README says. A
 * SIGSTOP between two of the primary's own renames would let logrotate's
 * renames land between them, and one rotator's rename clobbers the other's.
 */
const LOGROTATE_FLAGS = [...FLAGS, "--log-max-bytes", "off"];

/** Runs Debian's logrotate on the log once, forced, in `style`. */
async function logrotate(dir: string, style: "create" | "nocreate" | "copytruncate", hangup?: number): Promise<void> {
  const conf = `${dir}/logrotate-${style}.conf`;
  const postrotate = hangup === undefined ? "" : `  postrotate\n    kill -HUP ${hangup}\n  endscript\n`;
  const mode = style === "create" ? "create 0600" : style;
  await Deno.writeTextFile(
    conf,
    `${dir}/PrimaryLikesLog {\n  rotate 1000\n  missingok\n  nocompress\n  ${mode}\n${postrotate}}\n`,
    { mode: 0o600 },
  );
  const { code, stderr } = await new Deno.Command("logrotate", {
    args: ["-f", "-s", `${dir}/logrotate.state`, conf],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}

/**
 * A load client beside the LikesServers: batches of likes with its own
 * producer id and seqs, each batch retried until every like is answered
 * `0` or `0 duplicate` (the primary is killed now and then).
 */
function loadClient(port: number): { stop: () => Promise<number> } {
  let running = true;
  let acked = 0;
  const done = (async () => {
    for (let seq = 1; running;) {
      const lines = Array.from({ length: 100 }, (_, i) => `LikesServer42 1 load ${seq + i}`);
      const replies = await pipeline(port, lines).catch(() => [] as string[]);
      if (replies.length === lines.length && replies.every((r) => r === "0" || r === "0 duplicate")) {
        acked += lines.length;
        seq += lines.length;
      }
      await sleep(15);
    }
    return acked;
  })();
  return {
    stop: () => {
      running = false;
      return done;
    },
  };
}

LOGROTATE.test({
  name:
    "under load, 20 built-in rotations, 5 logrotate renames and 2 copytruncates with kill -9 between: the audit across the chain is exact",
  async fn() {
    const port = freePort();
    let primary: PrimaryProcess = await startPrimary({ port, args: FLAGS });
    const dir = primary.dir;
    const { done } = spawnParent(dir, {
      port,
      retryFor: 15_000,
      stagger: 50,
      duration: 7000,
      minInterval: 10,
      maxInterval: 40,
    });
    const load = loadClient(port);
    const restart = async (args = LOGROTATE_FLAGS) => {
      assert.equal((await primary.stop("SIGKILL")).signal, "SIGKILL");
      primary = await startPrimary({ dir, port, args });
    };
    const pid = () => primary.process.pid;
    // Two rotators renaming the same files at once clobber each other's renames (rename() replaces
    // its target), and copytruncate loses what is written while it copies: each logrotate run here
    // has the primary stopped (SIGSTOP) while it runs, and the load waits meanwhile. What is tested
    // is that the primary, resumed, notices each change before it writes again.
    const rotate = async (style: "create" | "nocreate" | "copytruncate", hangup = false) => {
      const stopped = pid();
      Deno.kill(stopped, "SIGSTOP");
      try {
        await logrotate(dir, style, hangup ? stopped : undefined);
      } finally {
        Deno.kill(stopped, "SIGCONT");
      }
    };
    // The primary's own rotations, with a kill -9 among them; then logrotate's, the built-in rotation off.
    const rotated = (n: number) => () => Deno.stat(`${dir}/PrimaryLikesLog.${n}`).then(() => true, () => false);
    await eventually("10 built-in rotations", rotated(10));
    await restart(FLAGS);
    // Past 20: a rotation the kill -9 cut short makes a file without its "Rotated" line.
    await eventually("20 built-in rotations", rotated(22));
    await restart();
    await rotate("nocreate");
    await sleep(400);
    await rotate("create");
    await sleep(400);
    await restart();
    await rotate("nocreate", true);
    await sleep(400);
    for (let i = 0; i < 2; i++) {
      await rotate("copytruncate");
      await sleep(400);
    }
    await restart();
    await rotate("create", true);
    await sleep(300);
    await rotate("nocreate");
    const run = await done;
    const loadAcked = await load.stop();
    assert.equal(run.code, 0, run.status);
    assert.equal((await primary.stop()).code, 0);
    const output = primary.output();
    const all = [dir, ...Array.from({ length: 200 }, (_, n) => `${dir}/PrimaryLikesLog.${n + 1}`)];
    let text = "";
    for (const path of all.slice(1)) text += await Deno.readTextFile(path).catch(() => "");
    text += await Deno.readTextFile(`${dir}/PrimaryLikesLog`);
    const rotations = text.match(/Rotated the log at \d+ bytes/g)?.length ?? 0;
    const moves = text.match(/was moved away/g)?.length ?? 0;
    const truncations = text.match(/was truncated under the primary/g)?.length ?? 0;
    assert.ok(rotations >= 20, `${rotations} built-in rotations`);
    // A rename logrotate made while the primary was down is continued at start-up instead.
    assert.ok(moves + (text.match(/was empty beside/g)?.length ?? 0) >= 5, `${moves} renames noticed`);
    assert.equal(truncations, 2, output);
    assert.doesNotMatch(text, /storage error|refusing likes/);
    const report = await audit(dir, 10);
    assert.ok(report.ok, formatAudit(report));
    assert.deepEqual(report.chainGaps, []);
    assert.deepEqual(report.servers.filter((s) => s.acked !== s.sent), []);
    const acked = report.servers.reduce((n, s) => n + s.ackedLikes, 0);
    assert.equal(finalTotal(primary), acked + loadAcked);
  },
});
