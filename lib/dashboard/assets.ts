/**
 * The files the dashboard serves: its page and the chart library, compressed
 * and tagged once at start-up, and the headers each kind is sent with.
 */
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import page from "./dashboard.html" with { type: "text" };

export interface Asset {
  body: string;
  /** The body compressed once at start-up: uPlot shrinks to less than half. */
  gzip: Uint8Array<ArrayBuffer>;
  type: string;
  etag: string;
}

function asset(body: string, type: string): Asset {
  const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 16)}"`;
  return { body, gzip: new Uint8Array(gzipSync(body, { level: 9 })), type, etag };
}

/** Sent with every response: no browser guesses a type the server did not say. */
export const COMMON_HEADERS: Readonly<Record<string, string>> = { "x-content-type-options": "nosniff" };

export const UPLOT_JS: Asset = asset(uplotJs, "text/javascript; charset=utf-8");
export const UPLOT_CSS: Asset = asset(uplotCss, "text/css; charset=utf-8");
// The library's URLs carry its hash, so browsers may cache them for good.
export const PAGE: Asset = asset(
  page
    .replace(`src="/uplot.js"`, `src="/uplot.js?v=${UPLOT_JS.etag.slice(1, 9)}"`)
    .replace(`href="/uplot.css"`, `href="/uplot.css?v=${UPLOT_CSS.etag.slice(1, 9)}"`),
  "text/html; charset=utf-8",
);

export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  ...COMMON_HEADERS,
  "cache-control": "no-cache",
  "referrer-policy": "no-referrer",
  "content-security-policy": "default-src 'none'; script-src 'self' 'unsafe-inline'; " +
    "style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
};
export const LIBRARY_HEADERS: Readonly<Record<string, string>> = {
  ...COMMON_HEADERS,
  "cache-control": "public, max-age=31536000, immutable",
};

// Deno.serve compresses only when asked (its automaticCompression option, or
// DENO_SERVE_AUTOMATIC_COMPRESSION=1), and then again on every request. The
// assets never change, so they are gzipped once at start-up at the highest
// level and sent as they are to clients that take gzip; a response that
// already has a Content-Encoding is one Deno never compresses again.
const ACCEPTS_GZIP = /(?:^|,)\s*(?:gzip|\*)\s*(?:,|$|;\s*q=(?!0(?:\.0*)?\s*(?:,|$)))/;

/** `asset` for `request`: gzipped when the client takes it, 304 when the client has it. */
export function serveAsset(request: Request, asset: Asset, headers: Readonly<Record<string, string>>): Response {
  const gzip = ACCEPTS_GZIP.test(request.headers.get("accept-encoding") ?? "");
  // Each encoding is its own representation, with its own tag.
  const etag = gzip ? `${asset.etag.slice(0, -1)}-gz"` : asset.etag;
  const common = { ...headers, etag, vary: "Accept-Encoding" };
  if (request.headers.get("if-none-match")?.split(/\s*,\s*/).includes(etag)) {
    return new Response(null, { status: 304, headers: common });
  }
  if (!gzip) return new Response(asset.body, { headers: { ...common, "content-type": asset.type } });
  return new Response(asset.gzip, { headers: { ...common, "content-type": asset.type, "content-encoding": "gzip" } });
}
