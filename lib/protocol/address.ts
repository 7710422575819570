/**
 * Where LikesServers find the primary by default: the primary listens there,
 * and a LikesServer sends there, unless their flags say otherwise.
 */

/** The primary's host by default: loopback, so that nothing off this machine reaches it unasked. */
export const DEFAULT_HOST = "127.0.0.1";

/** The likes port by default. */
export const DEFAULT_PORT = 4242;
