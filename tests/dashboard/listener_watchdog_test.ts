import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { ListenerWatchdog } from "../../lib/dashboard/listener_watchdog.ts";
import { eventually } from "../support/eventually.ts";
import { sleep } from "../../lib/common/sleep.ts";

/** A node:net listener that hands every accepted peer to `watchdog`, as the HTTP server does. */
function accepting(watchdog: () => ListenerWatchdog, port: number): Promise<Server> {
  const server = createServer((socket) => {
    if (watchdog().claim(socket.remotePort ?? -1)) socket.destroy();
    else socket.end();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

function closed(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => server ? server.close(() => resolve()) : resolve());
}

/** Runs `fn` with console.error captured; returns what it said. */
async function quietly(fn: () => Promise<void>): Promise<string[]> {
  const said: string[] = [];
  const error = console.error;
  console.error = (...args: unknown[]) => said.push(args.join(" "));
  try {
    await fn();
  } finally {
    console.error = error;
  }
  return said;
}

Deno.test("watchdog leaves alone a listener that takes its probes", async () => {
  let probes = 0;
  let revived = 0;
  const watchdog = new ListenerWatchdog({
    close: () => revived++,
    listen: () => Promise.resolve(),
  }, { interval: 10 });
  const server = await accepting(() => watchdog, 0);
  server.on("connection", () => probes++);
  watchdog.start({ hostname: "127.0.0.1", port: (server.address() as AddressInfo).port });
  try {
    await eventually("ten probes taken", () => Promise.resolve(probes >= 10));
  } finally {
    watchdog.stop();
    await closed(server);
  }
  assert.equal(revived, 0);
});

Deno.test("watchdog makes a listener that connects probes but never accepts them listen again", async () => {
  // The kernel completes connections to a listener nobody accepts on: exactly how the dead node listener looks.
  const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = dead.addr.port;
  let revived: Server | undefined;
  let listens = 0;
  const watchdog = new ListenerWatchdog({
    close: () => dead.close(),
    listen: async () => {
      listens++;
      revived = await accepting(() => watchdog, port);
    },
  }, { interval: 10, probeDeadline: 200 });
  const said = await quietly(async () => {
    watchdog.start({ hostname: "127.0.0.1", port });
    try {
      await eventually("the listener to be revived", () => Promise.resolve(revived !== undefined));
      // The revived listener takes its probes: no second revival.
      await sleep(600);
    } finally {
      watchdog.stop();
      await closed(revived);
    }
  });
  assert.equal(listens, 1);
  assert.deepEqual(said, ["HTTP server stopped accepting, listening again on the same address"]);
});

Deno.test("watchdog keeps trying to listen again until it can", async () => {
  const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let attempts = 0;
  const watchdog = new ListenerWatchdog({
    close: () => dead.close(),
    listen: () => ++attempts < 3 ? Promise.reject(new Error("Address already in use")) : Promise.resolve(),
  }, { interval: 10, probeDeadline: 100, restartDelay: 10 });
  const said = await quietly(async () => {
    watchdog.start({ hostname: "127.0.0.1", port: dead.addr.port });
    try {
      await eventually("a third attempt", () => Promise.resolve(attempts >= 3));
    } finally {
      watchdog.stop();
    }
  });
  assert.deepEqual(said.slice(0, 3), [
    "HTTP server stopped accepting, listening again on the same address",
    "HTTP server cannot listen yet, trying again in 10ms: Address already in use",
    "HTTP server cannot listen yet, trying again in 10ms: Address already in use",
  ]);
});

Deno.test("watchdog stops probing when stopped", async () => {
  let claims = 0;
  const watchdog = new ListenerWatchdog({ close: () => {}, listen: () => Promise.resolve() }, { interval: 10 });
  const server = await accepting(() => watchdog, 0);
  server.on("connection", () => claims++);
  watchdog.start({ hostname: "127.0.0.1", port: (server.address() as AddressInfo).port });
  try {
    await eventually("a probe", () => Promise.resolve(claims > 0));
    watchdog.stop();
    // A probe under way when stopped may still land.
    await sleep(100);
    const after = claims;
    await sleep(200);
    assert.equal(claims, after);
  } finally {
    watchdog.stop();
    await closed(server);
  }
});

Deno.test("ListenerWatchdog refuses an option that is not a positive integer", () => {
  const target = { close: () => {}, listen: () => Promise.resolve() };
  for (const options of [{ interval: 0 }, { probeDeadline: -1 }, { restartDelay: 1.5 }]) {
    assert.throws(() => new ListenerWatchdog(target, options), {
      name: "RangeError",
      message: /^Cannot watch the listener: \w+ must be a positive integer, got /,
    });
  }
});
