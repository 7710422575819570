/**
 * Serves a Fetch handler (Request in, Response out) through node:http, which
 * hands over its own request and response: the handler stays in Fetch terms,
 * and this carries its Response back, streamed bodies included.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Handler } from "./router.ts";

/** The origin of the URLs handed to the handler: the client's Host is judged from the headers, never from this. */
const PLACEHOLDER_ORIGIN = "http://dashboard.invalid";

/** The Fetch Request for a node request: method, path and query, and headers (repeated ones joined). */
export function toRequest(req: IncomingMessage): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  return new Request(new URL(req.url ?? "/", PLACEHOLDER_ORIGIN), { method: req.method, headers });
}

/**
 * Writes `response` to `res`, body and all (none for HEAD). A client that
 * does not read holds the body back; one that goes away cancels it.
 */
export async function sendResponse(method: string | undefined, response: Response, res: ServerResponse): Promise<void> {
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (method === "HEAD" || response.body === null) {
    await response.body?.cancel();
    res.end();
    return;
  }
  const reader = response.body.getReader();
  res.on("close", () => reader.cancel().catch(() => {}));
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      // A live stream whose client does not read then skips updates.
      if (!res.write(value)) await new Promise((resolve) => res.once("drain", resolve).once("close", resolve));
    }
  } catch { /* the client went away */ }
  res.end();
}

/** A node:http request listener that answers with `handler`; a request it fails on is cut off. */
export function nodeListener(handler: Handler): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    (async () => sendResponse(req.method, await handler(toRequest(req)), res))().catch(() => res.destroy());
  };
}
