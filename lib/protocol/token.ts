/** The shared token that producers present off-loopback. */

export const TOKEN_ENV = "LIKES_TOKEN";

/** LIKES_TOKEN when set and readable under the granted permissions, else undefined. */
export function readEnvToken(): string | undefined {
  if (Deno.permissions.querySync({ name: "env", variable: TOKEN_ENV }).state !== "granted") return undefined;
  const token = Deno.env.get(TOKEN_ENV);
  return token === "" ? undefined : token;
}
