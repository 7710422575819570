/**
 * Failover across primaries with real processes: a parent given --primaries
 * spreads its LikesServers over two primaries; one primary is killed with
 * SIGKILL mid-run and its LikesServers fail over to the other. Each primary
 * here has its own embedded store (they share no total until the Redis store
 * is wired into the primary), so what holds is: every child exits 0 and every
 * acknowledged like is in one of the primary logs; a like can be in both only
 * if it was in flight to the killed primary (counted there, its reply lost).
 */
import assert from "node:assert/strict";
import { audit } from "../../lib/tools/audit.ts";
import { startPrimary } from "../support/primary.ts";
import { spawnParent, untilAcked } from "../support/parent.ts";
import { tempDir } from "../support/temp.ts";

const RUN = ["--stagger", "50ms", "--duration", "4s", "--min-interval", "10ms", "--max-interval", "60ms"];

Deno.test("primary killed with SIGKILL mid-run: LikesServers fail over to the other, every child succeeds, no like lost", async () => {
  const a = await startPrimary({ args: ["--http", "off"] });
  const b = await startPrimary({ args: ["--http", "off"] });
  const logDir = await tempDir();
  const servers = 4;
  const { done } = spawnParent(logDir, [
    ...["--servers", String(servers), "--primaries", `127.0.0.1:${a.port},127.0.0.1:${b.port}`],
    ...["--retry-for", "15s", "--reply-timeout", "2s", ...RUN],
  ]);
  try {
    // Spread by id: even ids start on a, odd ids on b.
    await untilAcked(logDir, 0);
    await untilAcked(logDir, 1);
    assert.equal((await a.stop("SIGKILL")).signal, "SIGKILL");
    const run = await done;
    assert.equal(run.code, 0, run.status);
    assert.equal(run.status.match(/ended status 0 \(success\)/g)?.length, servers, run.status);
  } finally {
    await a.stop("SIGKILL");
    await b.stop();
  }

  const log0 = await Deno.readTextFile(`${logDir}/LikesServer0`);
  assert.match(log0, new RegExp(`primary=127\\.0\\.0\\.1:${a.port} primaries=`));
  assert.match(log0, new RegExp(`failing over to 127\\.0\\.0\\.1:${b.port}`));
  assert.match(await Deno.readTextFile(`${logDir}/LikesServer1`), new RegExp(`primary=127\\.0\\.0\\.1:${b.port} `));

  const report = await audit(logDir, servers, [a.log, b.log]);
  const problems = report.servers.filter((s) => s.lost > 0 || s.problems.length > 0);
  assert.deepEqual(problems, [], JSON.stringify(report, null, 2));
  assert.deepEqual(report.totalBreaks, []);
  // Counted twice only what was in flight to a when it died: at most one message per LikesServer that was on a.
  for (const s of report.servers) assert.ok(s.doubled <= 1, JSON.stringify(s));
  assert.ok(report.servers.reduce((n, s) => n + s.doubled, 0) <= servers / 2);
  // Every message was acknowledged in the end, by a before its death or by b.
  assert.ok(report.servers.every((s) => s.acked === s.sent), JSON.stringify(report.servers));
});
