/** The shared token that producers (and, off loopback, the dashboard's clients) present. */
import { createHash, timingSafeEqual } from "node:crypto";

export const TOKEN_ENV = "LIKES_TOKEN";

/** LIKES_TOKEN when set and readable under the granted permissions, else undefined. */
export function readEnvToken(): string | undefined {
  if (Deno.permissions.querySync({ name: "env", variable: TOKEN_ENV }).state !== "granted") return undefined;
  const token = Deno.env.get(TOKEN_ENV);
  return token === "" ? undefined : token;
}

function sha256(bytes: Uint8Array): Uint8Array {
  return createHash("sha256").update(bytes).digest();
}

/**
 * A check of presented tokens against `token`. Compares their SHA-256 in
 * constant time, so neither the token's length nor its first wrong byte shows
 * in how long a refusal takes.
 */
export function tokenCheck(token: string): (presented: Uint8Array | string) => boolean {
  const expected = sha256(new TextEncoder().encode(token));
  return (presented) =>
    timingSafeEqual(sha256(typeof presented === "string" ? new TextEncoder().encode(presented) : presented), expected);
}

/**
 * The token an HTTP `Authorization` header carries: `Bearer <token>`, or
 * `Basic` credentials whose password is the token (what a browser sends after
 * its own prompt, so that the dashboard works off loopback too); undefined
 * for any other header, or none.
 */
export function authorizationToken(header: string | null): string | undefined {
  if (header === null) return undefined;
  const [scheme, value] = header.trim().split(/\s+/, 2);
  if (value === undefined) return undefined;
  if (/^bearer$/i.test(scheme)) return value;
  if (!/^basic$/i.test(scheme)) return undefined;
  try {
    const credentials = atob(value);
    const colon = credentials.indexOf(":");
    return colon < 0 ? undefined : credentials.slice(colon + 1);
  } catch {
    return undefined;
  }
}
