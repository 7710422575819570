import assert from "node:assert/strict";
import { denoInvocation, primaryGrants } from "../../lib/launch/permissions.ts";
import { launchPrimary } from "../../lib/launch/primary_process.ts";
import { exchange } from "../support/client.ts";
import { tempDir } from "../support/temp.ts";

async function files(): Promise<{ log: string; state: string }> {
  const dir = await tempDir();
  return { log: `${dir}/PrimaryLikesLog`, state: `${dir}/PrimaryLikes.db` };
}

function flags(options: { port: number; http: string; log: string; state: string }): string[] {
  return ["--port", String(options.port), "--http", options.http, "--log", options.log, "--state", options.state];
}

Deno.test("launchPrimary() runs a primary with only its grants on ephemeral ports and stops it cleanly", async () => {
  const options = { host: "127.0.0.1", port: 0, http: "127.0.0.1:0", ...await files() };
  const primary = await launchPrimary({
    args: flags(options),
    grants: primaryGrants(options),
    deno: Deno.execPath(),
  });
  let status: Deno.CommandStatus;
  try {
    assert.ok(primary.port > 0 && primary.httpPort > 0 && primary.port !== primary.httpPort);
    assert.equal(primary.total, 0);
    assert.match(
      primary.readyLine,
      /^PrimaryLikesServer ready: likes on 127\.0\.0\.1:\d+, .*, log \/.*PrimaryLikesLog$/,
    );
    assert.deepEqual(await exchange(primary.port, "LikesServer1 5\n", 1), ["0"]);
    const health = await fetch(`http://127.0.0.1:${primary.httpPort}/healthz`);
    await health.body?.cancel();
    assert.equal(health.status, 200);
  } finally {
    status = await primary.stop();
  }
  assert.equal(status.code, 0);
  assert.match(primary.output(), /PrimaryLikesServer stopped by SIGTERM: total 5/);
});

Deno.test("launchPrimary() reports the primary's own words when it exits before it is ready", async () => {
  const options = { host: "127.0.0.1", port: 0, http: "off", ...await files() };
  // Granted port 0 but asked for another: the primary names the grant it lacks and exits.
  const error = await launchPrimary({
    args: flags({ ...options, port: 1 }),
    grants: primaryGrants(options),
    deno: Deno.execPath(),
  }).then(() => undefined, (e: Error) => e);
  assert.ok(error instanceof Error);
  assert.match(error.message, /^Primary exited before ready: /);
  // The command starts Deno as this one was started: `deno`, or npx under the README's quick start.
  const deno = denoInvocation(Deno.execPath(), Deno.version.deno);
  assert.ok(
    error.message.includes(`primary: Missing grant --allow-net=127.0.0.1:1 for these flags; run: ${deno} run `),
    error.message,
  );
});

Deno.test("launchPrimary() reads a restarted primary's total and its dashboard port 0 when --http is off", async () => {
  const options = { host: "127.0.0.1", port: 0, http: "off", ...await files() };
  const launch = () => launchPrimary({ args: flags(options), grants: primaryGrants(options), deno: Deno.execPath() });
  const first = await launch();
  try {
    assert.equal(first.httpPort, 0);
    assert.deepEqual(await exchange(first.port, "LikesServer2 7\n", 1), ["0"]);
  } finally {
    assert.equal((await first.stop()).code, 0);
  }
  const second = await launch();
  try {
    assert.equal(second.total, 7);
  } finally {
    assert.equal((await second.stop()).code, 0);
  }
});
