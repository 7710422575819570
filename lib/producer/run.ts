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
 */
import { backoffDelay } from "../common/backoff.ts";
import { LikesClient, SendError } from "./client.ts";
import type { LineLog } from "../common/line_log.ts";
import { escapeText } from "../common/escape.ts";
import { formatLike } from "../protocol/message.ts";
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
  /** Exit code: 0 success (also when stopped by a signal), 1 failure. */
  code: number;
}

type Outcome =
  | { kind: "acked"; reply: string }
  | { kind: "rejected"; reply: string }
  /** Plain mode: any reply. */
  | { kind: "answered"; reply: string }
  /** Default mode: a reply that is neither `0…` nor `1…`, so the peer is not a likes primary. */
  | { kind: "foreign"; reply: string }
  | { kind: "abandoned"; why: string }
  /** Plain mode: sent, but no reply: it may or may not have been counted. */
  | { kind: "unknown"; why: string };

export async function runLikesServer(
  options: LikesServerOptions & { id: number },
  context: RunContext,
): Promise<RunSummary> {
  const { id, duration, minInterval, maxInterval, maxLikes, seed, retryFor } = options;
  const { log, report, stop } = context;
  const name = `LikesServer${id}`;
  const random = createRandom(seed);
  // Unique per process run: a restarted LikesServer starts a new sequence.
  const producer = `${name}-${crypto.randomUUID()}`;
  const failover = new Failover(primaryAddresses(options), id);
  const link: Link = {
    client: new LikesClient({ ...failover.current, token: context.token, timeout: options.replyTimeout }),
    count: failover.primaries.length,
    failOver() {
      if (this.count === 1) return;
      this.client.close();
      this.client = new LikesClient({ ...failover.next(), token: context.token, timeout: options.replyTimeout });
    },
  };
  const summary: RunSummary = { sent: 0, acked: 0, likes: 0, code: 0 };
  const deadline = Date.now() + duration;
  const others = link.count > 1 ? ` primaries=${failover.primaries.map(formatPrimary).join(",")}` : "";
  log.line(`${name} started producer=${producer} pid=${Deno.pid} primary=${link.client.address}${others}`);

  try {
    for (let seq = 1;; seq++) {
      const interval = randomInt(random, minInterval, maxInterval);
      const remaining = deadline - Date.now();
      if (!await sleep(Math.min(interval, remaining), stop) || interval >= remaining) break;
      const likes = randomInt(random, 0, maxLikes);
      const plain = options.protocol === "plain";
      const line = plain ? formatLike({ server: id, likes }) : formatLike({ server: id, likes, producer, seq });
      summary.sent++;
      const outcome = await sendWithRetry(link, line, { name, retryFor, random, log, report, stop, plain });
      if (outcome.kind === "acked") {
        summary.acked++;
        summary.likes += likes;
        log.line(`${name} ${likes} ${outcome.reply} seq=${seq}`);
        continue;
      }
      if (outcome.kind === "answered") {
        summary.acked++;
        summary.likes += likes;
        log.line(`${name} ${likes} answered ${escapeText(outcome.reply)} seq=${seq}`);
        continue;
      }
      if (outcome.kind === "foreign") {
        // Never retried: the peer may well have counted the like.
        const why = `${link.client.address} answered ${
          escapeText(outcome.reply)
        }, not 0 or 1: not a likes primary (for a seed-era primary, use --protocol plain)`;
        log.line(`${name} ${likes} unacknowledged seq=${seq} (${why})`);
        report(`error: ${why}`);
        summary.code = 1;
        break;
      }
      if (outcome.kind === "unknown") {
        log.line(`${name} ${likes} unknown seq=${seq} (${outcome.why})`);
        report(`error: message seq=${seq} may or may not have been counted: ${outcome.why}`);
        summary.code = 1;
        break;
      }
      const why = outcome.kind === "rejected" ? `rejected: ${escapeText(outcome.reply)}` : outcome.why;
      log.line(`${name} ${likes} unacknowledged seq=${seq} (${why})`);
      // Stopping while a send fails is a clean stop; anything else is a failure.
      if (stop.aborted && outcome.kind === "abandoned") break;
      report(`error: gave up on message seq=${seq}: ${why}`);
      summary.code = 1;
      break;
    }
  } finally {
    link.client.close();
  }
  const how = stop.aborted ? "stopped" : summary.code === 0 ? "finished" : "failed";
  log.line(`${name} ${how}: sent ${summary.sent} acked ${summary.acked} likes ${summary.likes}`);
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
  name: string;
  retryFor: number;
  random: Random;
  log: LineLog;
  report: (text: string) => void;
  stop: AbortSignal;
  /** Plain protocol: one connection per message, retried only when it surely was not delivered. */
  plain: boolean;
}

async function sendWithRetry(link: Link, line: string, context: RetryContext): Promise<Outcome> {
  const { name, retryFor, random, log, report, stop, plain } = context;
  let firstFailure: number | undefined;
  for (let attempt = 0;; attempt++) {
    const client = link.client;
    try {
      if (plain) return { kind: "answered", reply: await client.sendAlone(line) };
      const reply = await client.send(line);
      // "0" and "0 duplicate" both mean: counted, exactly once.
      if (reply === "0" || reply.startsWith("0 ")) return { kind: "acked", reply: "0" };
      if (reply.startsWith("0") || reply.startsWith("1")) return { kind: "rejected", reply };
      return { kind: "foreign", reply };
    } catch (error) {
      if (!(error instanceof SendError)) throw error;
      if (plain && error.phase !== "connect") {
        const text = `${error.phase} error: ${error.message} (not retried: the message may have been counted)`;
        log.line(`${name} ${text}`);
        return { kind: "unknown", why: error.message };
      }
      firstFailure ??= Date.now();
      const spent = Date.now() - firstFailure;
      // The backoff grows per pass over the primaries: the first try of each is soon.
      const pass = Math.floor(attempt / link.count);
      const delay = Math.min(backoffDelay(pass, random), Math.max(0, retryFor - spent));
      const retrying = !stop.aborted && error.retryable && spent < retryFor;
      if (retrying) link.failOver();
      const next = stop.aborted
        ? "stopping"
        : !retrying
        ? "giving up"
        : link.client === client
        ? `retrying in ${delay}ms`
        : `failing over to ${link.client.address} in ${delay}ms`;
      const text = `${error.phase} error: ${error.message} (attempt ${attempt + 1}, ${next})`;
      log.line(`${name} ${text}`);
      report(text);
      if (stop.aborted) return { kind: "abandoned", why: "stopped while failing" };
      if (!error.retryable) return { kind: "abandoned", why: "cannot be retried" };
      if (spent >= retryFor) return { kind: "abandoned", why: `retry budget of ${retryFor}ms spent` };
      await sleep(delay, stop);
    }
  }
}
