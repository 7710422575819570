import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { abortable } from "../../lib/common/io.ts";
import { nodeListener } from "../../lib/dashboard/node_adapter.ts";
import type { Handler } from "../../lib/dashboard/router.ts";

const encoder = new TextEncoder();

/** `handler` served through node:http on a free port, as the dashboard serves its router. */
async function served(handler: Handler) {
  const server = createServer(nodeListener(handler));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

Deno.test("node adapter carries the status, headers and body of the handler's Response to the client", async () => {
  const http = await served(() => new Response("hello\n", { status: 418, headers: { "x-kind": "teapot" } }));
  try {
    const response = await fetch(`http://127.0.0.1:${http.port}/`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(response.status, 418);
    assert.equal(response.headers.get("x-kind"), "teapot");
    assert.equal(await response.text(), "hello\n");
  } finally {
    await http.close();
  }
});

Deno.test("node adapter hands the handler the method, path, query and headers, not the client's Host as origin", async () => {
  let seen: Request | undefined;
  const http = await served((request) => {
    seen = request;
    return new Response(null, { status: 204 });
  });
  try {
    const response = await fetch(`http://127.0.0.1:${http.port}/a/b?c=d`, {
      signal: AbortSignal.timeout(10_000),
      method: "DELETE",
      headers: { "x-one": "1" },
    });
    assert.equal(response.status, 204);
    assert.equal(seen?.method, "DELETE");
    assert.equal(seen?.url, "http://dashboard.invalid/a/b?c=d");
    assert.equal(seen?.headers.get("x-one"), "1");
    assert.equal(seen?.headers.get("host"), `127.0.0.1:${http.port}`);
  } finally {
    await http.close();
  }
});

Deno.test("node adapter sends no body in answer to HEAD and cancels the one the handler made", async () => {
  const cancelled = Promise.withResolvers<void>();
  const http = await served(() =>
    new Response(new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(8)), cancel: () => cancelled.resolve() }))
  );
  try {
    const response = await fetch(`http://127.0.0.1:${http.port}/`, {
      method: "HEAD",
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "");
    await abortable(cancelled.promise, AbortSignal.timeout(10_000));
  } finally {
    await http.close();
  }
});

Deno.test("node adapter streams a body as it comes and cancels it when the client goes away", async () => {
  const cancelled = Promise.withResolvers<void>();
  let push: ReadableStreamDefaultController<Uint8Array> | undefined;
  const http = await served(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        // node sends the headers with the first chunk: without one, the client would wait for them.
        start: (c) => {
          push = c;
          c.enqueue(encoder.encode("one\n"));
        },
        cancel: () => cancelled.resolve(),
      }),
    )
  );
  try {
    const response = await fetch(`http://127.0.0.1:${http.port}/`, { signal: AbortSignal.timeout(10_000) });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    assert.equal((await reader.read()).value, "one\n");
    push!.enqueue(encoder.encode("two\n"));
    assert.equal((await reader.read()).value, "two\n");
    await reader.cancel();
    await abortable(cancelled.promise, AbortSignal.timeout(10_000));
  } finally {
    await http.close();
  }
});

Deno.test("node adapter cuts off a request the handler fails on", async () => {
  const http = await served(() => {
    throw new Error("broken handler");
  });
  try {
    await assert.rejects(fetch(`http://127.0.0.1:${http.port}/`, { signal: AbortSignal.timeout(10_000) }));
  } finally {
    await http.close();
  }
});
