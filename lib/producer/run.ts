/**
 * What a LikesServer does: until its time is up, wait a random interval,
 * send a random like count, wait for the answer, log both. A failed send is
 * retried on a fresh connection with backoff, as the same message (same
 * producer id and sequence number), so the primary counts it once however
 * often it arrives. Giving up after the retry budget is the only failure.
 */
import { backoffDelay } from "../common/backoff.ts";
import { LikesClient, SendError } from "./client.ts";
import type { LineLog } from "../common/line_log.ts";
import { escapeText } from "../common/escape.ts";
import { formatLike } from "../protocol/message.ts";
import { isRetryable, rejectionReason } from "../protocol/replies.ts";
import { createRandom, type Random, randomInt } from "../common/random.ts";
import { sleep } from "../common/sleep.ts";
import type { LikesServerOptions } from "./options.ts";

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

type Outcome = { kind: "acked"; reply: string } | { kind: "rejected"; reply: string } | {
  kind: "abandoned";
  why: string;
};

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
  const client = new LikesClient({
    host: options.host,
    port: options.port,
    token: context.token,
    timeout: options.replyTimeout,
  });
  const summary: RunSummary = { sent: 0, acked: 0, likes: 0, code: 0 };
  const deadline = Date.now() + duration;
  log.line(`${name} started producer=${producer} pid=${Deno.pid} primary=${client.address}`);

  try {
    for (let seq = 1;; seq++) {
      const interval = randomInt(random, minInterval, maxInterval);
      const remaining = deadline - Date.now();
      if (!await sleep(Math.min(interval, remaining), stop) || interval >= remaining) break;
      const likes = randomInt(random, 0, maxLikes);
      const line = formatLike({ server: id, likes, producer, seq });
      summary.sent++;
      const outcome = await sendWithRetry(client, line, { name, retryFor, random, log, report, stop });
      if (outcome.kind === "acked") {
        summary.acked++;
        summary.likes += likes;
        log.line(`${name} ${likes} ${outcome.reply} seq=${seq}`);
        continue;
      }
      const why = outcome.kind === "rejected" ? `rejected: ${escapeText(outcome.reply)}` : outcome.why;
      log.line(`${name} ${likes} unacknowledged seq=${seq} (${why})`);
      // A like given up is a failure whatever made us give it up, a stop signal included.
      report(`error: gave up on message seq=${seq}: ${why}`);
      summary.code = 1;
      break;
    }
  } finally {
    client.close();
  }
  const how = summary.code !== 0 ? "failed" : stop.aborted ? "stopped" : "finished";
  log.line(`${name} ${how}: sent ${summary.sent} acked ${summary.acked} likes ${summary.likes}`);
  return summary;
}

interface RetryContext {
  name: string;
  retryFor: number;
  random: Random;
  log: LineLog;
  report: (text: string) => void;
  stop: AbortSignal;
}

async function sendWithRetry(client: LikesClient, line: string, context: RetryContext): Promise<Outcome> {
  const { name, retryFor, random, log, report, stop } = context;
  let firstFailure: number | undefined;
  for (let attempt = 0;; attempt++) {
    let failure: { phase: string; message: string; retryable: boolean };
    try {
      const reply = await client.send(line);
      // "0" and "0 duplicate" both mean: counted, exactly once.
      if (reply === "0" || reply.startsWith("0 ")) return { kind: "acked", reply: "0" };
      const reason = rejectionReason(reply);
      if (reason === undefined || !isRetryable(reason)) return { kind: "rejected", reply };
      // Nothing was counted and the cause may pass: the same message again, on a
      // fresh connection (after "too many connections" the primary closes this one).
      client.close();
      failure = { phase: "reply", message: `The primary answered ${escapeText(reply)}`, retryable: true };
    } catch (error) {
      if (!(error instanceof SendError)) throw error;
      failure = error;
    }
    firstFailure ??= Date.now();
    const spent = Date.now() - firstFailure;
    const delay = Math.min(backoffDelay(attempt, random), Math.max(0, retryFor - spent));
    const next = stop.aborted
      ? "stopping"
      : !failure.retryable || spent >= retryFor
      ? "giving up"
      : `retrying in ${delay}ms`;
    const text = `${failure.phase} error: ${failure.message} (attempt ${attempt + 1}, ${next})`;
    log.line(`${name} ${text}`);
    report(text);
    if (stop.aborted) return { kind: "abandoned", why: "stopped while failing" };
    if (!failure.retryable) return { kind: "abandoned", why: "cannot be retried" };
    if (spent >= retryFor) return { kind: "abandoned", why: `retry budget of ${retryFor}ms spent` };
    await sleep(delay, stop);
  }
}
