/**
 * What a LikesServer does: until its time is up, wait a random interval,
 * send a random like count, wait for the answer, log both. A failed send is
 * retried on a fresh connection with backoff, as the same message (same
 * producer id and sequence number), so the primary counts it once however
 * often it arrives. Giving up after the retry budget is the only failure.
 *
 * With several primaries (`--primaries`), a failed send moves on to the next
 * one before the retry (see failover.ts): the retry is still the same message,
 * so whichever primary it reaches, a shared store counts it once.
 *
 * With `--protocol plain` (seed-era primaries) a message is `LikesServer<N>
 * <likes>` with no id, so a retry could count it twice: it is retried only
 * when the connection could not be made (surely not delivered). Any reply in
 * time is its answer, logged as is and not interpreted (a seed-era primary may
 * answer `1` for success); no reply, or a reset before one, leaves the outcome
 * unknown, which is a failure. At most once, without ids.
 *
 * In both modes a LikesServer keeps one connection for its run, as the
 * original assignment's LikesServers did (some seed-era primaries serve
 * exactly one connection per LikesServer), and opens a new one only when the
 * last one broke; `--connect-per-message` opens one per message instead, for
 * primaries that close after each. Bytes read past a reply are discarded and
 * logged, one line for all those read since the previous message.
 */
import { backoffDelay } from "../common/backoff.ts";
import { LikesClient, SendError } from "./client.ts";
import type { LineLog } from "../common/line_log.ts";
import {
  describeSendError,
  describeUnacknowledged,
  formatLikesServerEntry,
  type Unacknowledged,
} from "../formats/likes_server_log.ts";
import { likesServerName } from "../protocol/names.ts";
import { escapeText } from "../common/escape.ts";
import { formatLike } from "../protocol/message.ts";
import { isRetryable, rejectionReason } from "../protocol/replies.ts";
import { createRandom, type Random, randomInt } from "../common/random.ts";
import { sleep } from "../common/sleep.ts";
import { type LikesServerOptions, primaryAddresses } from "./options.ts";
import { Failover, formatPrimary } from "./failover.ts";

export interface RunContext {
  log: LineLog;
  /** Reports an error to the parent (stderr). */
  report: (text: string) => void;
  /** Aborts on SIGINT/SIGTERM: stop after the message in flight. */
  stop: AbortSignal;
  token?: string;
}

export interface RunSummary {
  sent: number;
  acked: number;
  likes: number;
  /**
   * Exit code: 0 when every like sent was acknowledged (also when stopped by a
   * signal), 1 when one was given up.
   */
  code: number;
}

type Outcome =
  | { kind: "acked" }
  /** Plain mode: any reply, not interpreted. */
  | { kind: "answered"; reply: string }
  /** Plain mode: sent, but no reply: it may or may not have been counted. */
  | { kind: "unknown"; why: string }
  | Unacknowledged;

export async function runLikesServer(
  options: LikesServerOptions & { id: number },
  context: RunContext,
): Promise<RunSummary> {
  const { id, duration, minInterval, maxInterval, maxLikes, seed, retryFor } = options;
  const { log, report, stop } = context;
  const name = likesServerName(id);
  const random = createRandom(seed);
  // Unique per process run: a restarted LikesServer starts a new sequence.
  const producer = `${name}-${crypto.randomUUID()}`;
  const failover = new Failover(primaryAddresses(options), id);
  const clientOptions = { token: context.token, timeout: options.replyTimeout, quiet: options.replyQuiet };
  const link: Link = {
    client: new LikesClient({ ...failover.current, ...clientOptions }),
    count: failover.primaries.length,
    failOver() {
      if (this.count === 1) return;
      this.client.close();
      logDiscarded();
      this.client = new LikesClient({ ...failover.next(), ...clientOptions });
    },
  };
  // One line for all the bytes read past replies since the last message: a padded reply's tail may take several reads.
  const logDiscarded = () => {
    const bytes = link.client.takeDiscarded();
    if (bytes > 0) log.line(formatLikesServerEntry({ kind: "discarded", server: id, bytes }));
  };
  const summary: RunSummary = { sent: 0, acked: 0, likes: 0, code: 0 };
  const deadline = Date.now() + duration;
  const primaries = link.count > 1 ? failover.primaries.map(formatPrimary).join(",") : undefined;
  log.line(
    formatLikesServerEntry({
      kind: "started",
      server: id,
      producer,
      pid: Deno.pid,
      primary: link.client.address,
      primaries,
    }),
  );

  try {
    for (let seq = 1;; seq++) {
      const interval = randomInt(random, minInterval, maxInterval);
      const remaining = deadline - Date.now();
      if (!await sleep(Math.min(interval, remaining), stop) || interval >= remaining) break;
      const likes = randomInt(random, 0, maxLikes);
      const plain = options.protocol === "plain";
      const line = plain ? formatLike({ server: id, likes }) : formatLike({ server: id, likes, producer, seq });
      summary.sent++;
      logDiscarded();
      const alone = options.connectPerMessage;
      const outcome = await sendWithRetry(link, line, { id, retryFor, random, log, report, stop, plain, alone });
      if (outcome.kind === "acked") {
        summary.acked++;
        summary.likes += likes;
        log.line(formatLikesServerEntry({ kind: "acked", server: id, likes, seq }));
        continue;
      }
      if (outcome.kind === "answered") {
        summary.acked++;
        summary.likes += likes;
        log.line(formatLikesServerEntry({ kind: "answered", server: id, likes, seq, reply: outcome.reply }));
        continue;
      }
      if (outcome.kind === "unknown") {
        log.line(formatLikesServerEntry({ kind: "unknown", server: id, likes, seq, why: outcome.why }));
        report(`error: message seq=${seq} may or may not have been counted: ${outcome.why}`);
        summary.code = 1;
        break;
      }
      log.line(formatLikesServerEntry({ kind: "unacknowledged", server: id, likes, seq, reason: outcome }));
      const why = describeUnacknowledged(outcome);
      // A like given up is a failure whatever made us give it up, a stop signal included.
      report(
        outcome.kind === "foreign"
          ? `error: ${link.client.address} ${why}`
          : `error: gave up on message seq=${seq}: ${why}`,
      );
      summary.code = 1;
      break;
    }
  } finally {
    link.client.close();
    logDiscarded();
  }
  const how = summary.code !== 0 ? "failed" : stop.aborted ? "stopped" : "finished";
  const { sent, acked, likes } = summary;
  log.line(formatLikesServerEntry({ kind: "ended", server: id, how, sent, acked, likes }));
  return summary;
}

/** The connection to the primary sent to now, and the move to the next one. */
interface Link {
  client: LikesClient;
  /** How many primaries there are to fail over between. */
  count: number;
  /** After a failed send: a client for the next primary (no-op with one). */
  failOver(): void;
}

interface RetryContext {
  id: number;
  retryFor: number;
  random: Random;
  log: LineLog;
  report: (text: string) => void;
  stop: AbortSignal;
  /** Plain protocol: retried only when it surely was not delivered. */
  plain: boolean;
  /** A connection of its own for each message (--connect-per-message). */
  alone: boolean;
}

async function sendWithRetry(link: Link, line: string, context: RetryContext): Promise<Outcome> {
  const { id, retryFor, random, log, report, stop, plain, alone } = context;
  let firstFailure: number | undefined;
  for (let attempt = 0;; attempt++) {
    const client = link.client;
    let failure: { phase: string; message: string; retryable: boolean };
    try {
      const reply = alone ? await client.sendAlone(line) : await client.send(line);
      if (plain) return { kind: "answered", reply };
      // "0" and "0 duplicate" both mean: counted, exactly once.
      if (reply === "0" || reply.startsWith("0 ")) return { kind: "acked" };
      // Never retried: a peer that answers in other words may well have counted the like.
      if (!reply.startsWith("0") && !reply.startsWith("1")) return { kind: "foreign", reply };
      const reason = rejectionReason(reply);
      if (reason === undefined || !isRetryable(reason)) return { kind: "rejected", reply };
      // Nothing was counted and the cause may pass: the same message again, on a
      // fresh connection (after "too many connections" the primary closes this one).
      client.close();
      failure = { phase: "reply", message: `The primary answered ${escapeText(reply)}`, retryable: true };
    } catch (error) {
      if (!(error instanceof SendError)) throw error;
      if (plain && error.phase !== "connect") {
        const next = "not retried: the message may have been counted";
        log.line(
          formatLikesServerEntry({
            kind: "send error",
            server: id,
            phase: error.phase,
            message: error.message,
            attempt: attempt + 1,
            next,
          }),
        );
        return { kind: "unknown", why: error.message };
      }
      failure = error;
    }
    firstFailure ??= Date.now();
    const spent = Date.now() - firstFailure;
    // The backoff grows per pass over the primaries: the first try of each is soon.
    const pass = Math.floor(attempt / link.count);
    const delay = Math.min(backoffDelay(pass, random), Math.max(0, retryFor - spent));
    const retrying = !stop.aborted && failure.retryable && spent < retryFor;
    // A failed send, or a storage error that may pass, moves on to the next primary (no-op with one).
    if (retrying) link.failOver();
    const next = stop.aborted
      ? "stopping"
      : !retrying
      ? "giving up"
      : link.client === client
      ? `retrying in ${delay}ms`
      : `failing over to ${link.client.address} in ${delay}ms`;
    const entry = { phase: failure.phase, message: failure.message, attempt: attempt + 1, next };
    log.line(formatLikesServerEntry({ kind: "send error", server: id, ...entry }));
    report(describeSendError(entry));
    if (stop.aborted) return { kind: "abandoned", why: "stopped while failing" };
    if (!failure.retryable) return { kind: "abandoned", why: "cannot be retried" };
    if (spent >= retryFor) return { kind: "abandoned", why: `retry budget of ${retryFor}ms spent` };
    await sleep(delay, stop);
  }
}
