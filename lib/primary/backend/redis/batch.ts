/**
 * How a batch travels to the commit script and back, and how its journal
 * entry reads: the likes as one packed text (`server likes k seq` each, k the
 * producer's index, 0 without one), grouped into runs (one producer's
 * consecutive seqs) so that the script's work is per run, not per like (see
 * script.ts). The journal entry keeps the packed text, the producers,
 * the total before the batch and one outcome character per like; the totals
 * after each like follow from those.
 */
import type { Like } from "../../../protocol/message.ts";

export type Outcome = "accepted" | "duplicate" | "out of order" | "seq reused";
/** By the script's outcome character: "0" accepted ... "3" seq reused. */
const OUTCOMES: readonly Outcome[] = ["accepted", "duplicate", "out of order", "seq reused"];

/** One like of a packed batch. */
export interface PackedLike {
  server: number;
  likes: number;
  /** 1-based index of its producer, 0 without one. */
  k: number;
  /** 0 without a producer. */
  seq: number;
}

/** The batch as the script takes it. */
export interface PackedBatch {
  /** Producer ids, space-separated; k = 1 is the first. */
  producers: string[];
  /** `server likes k seq` per like, space-separated (ARGV[6], the journal's `l`). */
  likes: string;
  /** `k a n sum last` per run (ARGV[5]). */
  runs: string;
  /** Per like: where its outcome character is in the script's reply. */
  outcomeAt: Int32Array;
}

/** Numbers per run in ARGV[5]. */
const RUN = 5;

/**
 * Groups likes into runs, in order of their first like: a producer's run goes
 * on while each seq is one above the last; likes without producer form one run.
 * The script's slow path groups the same way (likesOfRun): change both or neither.
 */
function groupRuns(likes: readonly PackedLike[]): { runs: number[]; outcomeAt: Int32Array } {
  // k a n sum last: `last` is the likes of the run's last seq, the producer's count for it once the run is its highest.
  const runs: number[] = [];
  const open = new Map<number, { at: number; next: number }>();
  const runOf = new Int32Array(likes.length);
  const position = new Int32Array(likes.length);
  for (let i = 0; i < likes.length; i++) {
    const { k, seq, likes: count } = likes[i];
    let run = open.get(k);
    if (run === undefined || (k > 0 && seq !== run.next)) {
      run = { at: runs.length, next: seq };
      open.set(k, run);
      runs.push(k, k === 0 ? 0 : seq, 0, 0, 0);
    }
    runOf[i] = run.at;
    position[i] = runs[run.at + 2];
    runs[run.at + 2] += 1;
    runs[run.at + 3] += count;
    runs[run.at + 4] = count;
    run.next = seq + 1;
  }
  // Outcomes come back run after run.
  const offsets = new Int32Array(runs.length / RUN);
  for (let r = 1; r < offsets.length; r++) offsets[r] = offsets[r - 1] + runs[(r - 1) * RUN + 2];
  const outcomeAt = new Int32Array(likes.length);
  for (let i = 0; i < likes.length; i++) outcomeAt[i] = offsets[runOf[i] / RUN] + position[i];
  return { runs, outcomeAt };
}

/**
 * Packs a batch whose likes the caller has checked (safe non-negative
 * integers, producer ids without spaces).
 */
export function packBatch(likes: readonly Like[]): PackedBatch {
  const producers: string[] = [];
  const index = new Map<string, number>();
  const packed: PackedLike[] = new Array(likes.length);
  const text: string[] = new Array(likes.length);
  for (let i = 0; i < likes.length; i++) {
    const like = likes[i];
    let k = 0;
    if (like.producer !== undefined) {
      k = index.get(like.producer) ?? 0;
      if (k === 0) {
        k = producers.push(like.producer);
        index.set(like.producer, k);
      }
    }
    const seq = k === 0 ? 0 : like.seq!;
    packed[i] = { server: like.server, likes: like.likes, k, seq };
    text[i] = `${like.server} ${like.likes} ${k} ${seq}`;
  }
  const { runs, outcomeAt } = groupRuns(packed);
  return { producers, likes: text.join(" "), runs: runs.join(" "), outcomeAt };
}

/** Per like, its outcome and the total after it, from the script's reply. */
export function readOutcomes(
  likes: readonly { likes: number }[],
  outcomeAt: Int32Array,
  base: number,
  outcomeText: string,
): { outcomes: Outcome[]; totals: number[] } {
  if (outcomeText.length !== likes.length) {
    throw new Error(`expected ${likes.length} outcomes, got ${outcomeText.length}`);
  }
  const outcomes: Outcome[] = new Array(likes.length);
  const totals: number[] = new Array(likes.length);
  let total = base;
  for (let i = 0; i < likes.length; i++) {
    const outcome = OUTCOMES[outcomeText.charCodeAt(outcomeAt[i]) - 48];
    if (outcome === undefined) throw new Error(`bad outcome ${JSON.stringify(outcomeText[outcomeAt[i]])}`);
    if (outcome === "accepted") total += likes[i].likes;
    outcomes[i] = outcome;
    totals[i] = total;
  }
  return { outcomes, totals };
}

/** One like as the journal recorded it. */
export interface JournalLike {
  server: number;
  likes: number;
  outcome: Outcome;
  total: number;
  producer?: string;
  seq?: number;
}

/** A journal entry's fields, as the script wrote them. */
export interface JournalFields {
  /** The batch time (ms since the epoch). */
  t: string;
  /** The total before the batch. */
  b: string;
  /** Producer ids, space-separated. */
  p: string;
  /** The packed likes. */
  l: string;
  /** One outcome character per like, run after run. */
  o: string;
}

const COUNT = /^(0|[1-9]\d*)$/;

/**
 * Reads a journal entry back into its likes, each with its outcome and the
 * total after it.
 *
 * @throws {Error} On an entry that is not of the journal's form
 */
export function parseJournalEntry(fields: JournalFields): { time: number; likes: JournalLike[] } {
  const bad = (why: string) => new Error(`Cannot read the Redis journal: ${why}`);
  const number = (text: string, what: string) => {
    const value = Number(text);
    if (!COUNT.test(text) || !Number.isSafeInteger(value)) throw bad(`bad ${what} ${JSON.stringify(text)}`);
    return value;
  };
  const time = number(fields.t, "time");
  const base = number(fields.b, "total");
  const producers = fields.p === "" ? [] : fields.p.split(" ");
  const tokens = fields.l === "" ? [] : fields.l.split(" ");
  if (tokens.length % 4 !== 0) throw bad(`${tokens.length} numbers in the likes, not 4 per like`);
  const packed: PackedLike[] = [];
  for (let at = 0; at < tokens.length; at += 4) {
    const [server, likes, k, seq] = tokens.slice(at, at + 4).map((token) => number(token, "like field"));
    if (k > producers.length) throw bad(`producer ${k} of ${producers.length}`);
    if (k === 0 && seq !== 0) throw bad(`a seq without producer`);
    packed.push({ server, likes, k, seq });
  }
  const { outcomeAt } = groupRuns(packed);
  let read;
  try {
    read = readOutcomes(packed, outcomeAt, base, fields.o);
  } catch (error) {
    throw bad((error as Error).message);
  }
  const likes = packed.map(({ server, likes, k, seq }, i): JournalLike => {
    const like: JournalLike = { server, likes, outcome: read.outcomes[i], total: read.totals[i] };
    if (k > 0) {
      like.producer = producers[k - 1];
      like.seq = seq;
    }
    return like;
  });
  return { time, likes };
}
