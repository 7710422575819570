/**
 * Opens the embedded backend: the log is the commit record, replayed at
 * start-up (from the SQLite checkpoint on), with the running totals checked
 * line by line.
 */
import { ProgramError } from "../../../common/cli.ts";
import { formatPrimaryEntry } from "../../../formats/primary_log.ts";
import { Ledger } from "../../ledger.ts";
import type { OpenBackend } from "../backend.ts";
import { Checkpointer } from "./checkpointer.ts";
import { Committer } from "./committer.ts";
import { expireProducers, scheduleExpiry } from "./producer_expiry.ts";
import { recover } from "./replay.ts";
import { Store } from "./store.ts";
import { LogRotation } from "../../log_rotation.ts";

export const openEmbedded: OpenBackend = (options, { log, stats, health }) => {
  const notes: string[] = [];
  const replayStarted = performance.now();
  const store = openCheckpoint(options.state, notes);
  const recovered = recover(log, store, options.reset);
  const replayMs = performance.now() - replayStarted;
  const ledger = new Ledger(recovered.total, recovered.producers, {
    maxProducers: options.maxProducers,
    producerTtl: options.producerTtl,
  });
  const checkpointer = new Checkpointer(store, log, ledger, health, {
    every: options.checkpointEvery,
    bytes: options.checkpointBytes,
    durability: options.durability,
  });
  const committer = new Committer(ledger, log, stats, {
    durability: options.durability,
    commitDelay: options.commitDelay,
    syncOn: options.syncOn,
    checkpointer,
    health,
    lines: recovered.position.lines,
  });
  log.onContinue = (lines, rotated) => committer.continued(lines, rotated);
  log.syncEachWrite = options.durability === "fsync";
  committer.rotation = new LogRotation(log, {
    total: () => ledger.total,
    checkpoint: () => {
      checkpointer.writeAtRotation(committer.lines);
      return checkpointer.savedLogId;
    },
    saved: () => checkpointer.savedLogId,
  }, { maxBytes: options.logMaxBytes, keep: options.logKeep });
  const rotation = committer.rotation;
  checkpointer.onSaved = (logId) => rotation.prune(logId);
  try {
    for (const note of [...notes, ...recovered.notes]) {
      console.error(`primary: ${note}`);
      committer.event(note);
    }
    expireProducers(ledger, options.producerTtl);
    if (recovered.newLog) {
      // Nothing was recovered, so say so rather than "Recovered total 0" from a file that did not exist.
      committer.event(formatPrimaryEntry({ kind: "new", state: options.state }));
    } else {
      const how = recovered.fromCheckpoint
        ? `checkpoint at line ${recovered.position.lines - recovered.replayed}, then ${recovered.replayed} log lines`
        : `${recovered.replayed} log lines`;
      committer.event(`Replayed ${how} in ${replayMs.toFixed(0)} ms`);
      committer.event(formatPrimaryEntry(
        options.reset
          ? { kind: "reset", state: options.state }
          : { kind: "recovered", total: ledger.total, state: options.state },
      ));
    }
  } catch (error) {
    store.close();
    throw new ProgramError(`Cannot write to the log ${options.log}: ${(error as Error).message}`, { cause: error });
  }
  // A checkpoint from scratch, so that the next start replays only what follows.
  committer.checkpoint(true);
  return Promise.resolve({
    committer,
    total: () => ledger.total,
    serve() {
      // Expired producers are forgotten hourly; the state stays bounded in a long run.
      const stopExpiry = scheduleExpiry(committer, ledger, options.producerTtl);
      // Checkpoints also when no batch comes to trigger one.
      const checkpointTimer = setInterval(
        () => committer.betweenBatches(() => checkpointer.due() && checkpointer.start(committer.lines)),
        options.checkpointEvery,
      );
      return () => {
        stopExpiry();
        clearInterval(checkpointTimer);
      };
    },
    async close() {
      const failure = committer.checkpoint()
        ? undefined
        : `could not write the checkpoint, so the next start replays more log (${health.problem})`;
      store.close();
      // The files the last checkpoint freed are gone before the primary says it stopped.
      await rotation.settled();
      return failure;
    },
  });
};

/**
 * Opens the checkpoint; one that is not a database at all is started afresh
 * (the log holds everything), and a note says so.
 */
function openCheckpoint(path: string, notes: string[]): Store {
  try {
    return Store.open(path);
  } catch (error) {
    if (!Store.isDamaged(error)) throw error;
    Deno.truncateSync(path);
    notes.push(`The checkpoint ${path} was not a readable database and was emptied: ${(error as Error).message}`);
    return Store.open(path);
  }
}
