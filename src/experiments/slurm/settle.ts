/**
 * What to do with a trial attempt, from what Slurm says of its job and what its run folder holds.
 * Pure: the coordinator, `status` and `report` all decide the same way.
 */
import type {DoneMarker, RunStatus} from './rundir';

/** Slurm states after which the task will not run again by itself. */
export const FINAL_STATES = new Set([
  'COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED', 'NODE_FAIL', 'BOOT_FAIL', 'OUT_OF_MEMORY', 'PREEMPTED', 'DEADLINE', 'REVOKED', 'SPECIAL_EXIT',
]);

export type Settlement =
  | {kind: 'wait'}
  | {kind: 'finish'; status: 'done' | 'diverged' | 'failed'; outcome: string; error?: string}
  /** Run the trial again as a new attempt; it resumes from its checkpoint. */
  | {kind: 'resubmit'; outcome: 'timeout' | 'preempted' | 'node_fail' | 'lost'; message: string}
  /** Stopped by scancel (Ctrl-C or by hand): resumable, but not resubmitted until the next run. */
  | {kind: 'cancelled'; message: string};

export interface SettleInput {
  /** The task's Slurm state; undefined when Slurm no longer knows the job (past MinJobAge, no accounting). */
  state: string | undefined;
  done?: DoneMarker;
  status?: RunStatus;
  /** Last event sequence number ingested from the attempt's events.jsonl. */
  seq: number;
  /** Milliseconds since the job was first seen final (0 the first time). */
  finalForMs: number;
  /** How long to wait for files that the shared filesystem shows late. */
  graceMs: number;
  /** Earlier attempts of the trial that ended at the time limit, and that crashed (node failure, lost). */
  timeouts: number;
  maxTimeouts: number;
  crashes: number;
  retries: number;
}

export function settle(i: SettleInput): Settlement {
  const final = i.state === undefined || FINAL_STATES.has(i.state);
  const late = i.finalForMs < i.graceMs;
  if (i.done) {
    // The outcome is known; wait until the events it follows have been read too (or give up waiting).
    if (i.seq < i.done.seq && (!final || late)) return {kind: 'wait'};
    const o = i.done.outcome;
    return {kind: 'finish', status: o.status, outcome: o.status, error: o.error};
  }
  if (!final) return {kind: 'wait'};
  const stopped = i.status?.state === 'stopped' ? i.status.reason : undefined;
  const state = i.state;
  if (state === 'TIMEOUT' || stopped === 'time-limit') {
    if (i.timeouts + 1 > i.maxTimeouts) {
      return {kind: 'finish', status: 'failed', outcome: 'timeout', error: `hit the time limit ${i.timeouts + 1} times (slurm.max_timeouts: ${i.maxTimeouts}); raise slurm.time or slurm.max_timeouts`};
    }
    return {kind: 'resubmit', outcome: 'timeout', message: `reached its time limit (${i.timeouts + 1} of at most ${i.maxTimeouts}); runs again from its checkpoint`};
  }
  if (state === 'PREEMPTED' || stopped === 'preempted') {
    return {kind: 'resubmit', outcome: 'preempted', message: 'preempted; runs again from its checkpoint'};
  }
  if (state === 'CANCELLED' || stopped === 'cancelled') {
    return {kind: 'cancelled', message: 'cancelled; the next ablate run or resume resubmits it and it resumes from its checkpoint'};
  }
  // Nothing in the run folder explains the end: it may still be on its way over the shared filesystem.
  if (late) return {kind: 'wait'};
  if (state === 'NODE_FAIL' || state === 'BOOT_FAIL' || state === undefined) {
    const what = state === undefined ? 'left the queue without a result' : `ended ${state}`;
    if (i.crashes + 1 > i.retries) return {kind: 'finish', status: 'failed', outcome: state === undefined ? 'lost' : 'node_fail', error: `${what} ${i.crashes + 1} time(s) (resources.retries: ${i.retries})`};
    return {kind: 'resubmit', outcome: state === undefined ? 'lost' : 'node_fail', message: `${what}; runs again from its checkpoint (retry ${i.crashes + 1} of ${i.retries})`};
  }
  const error = i.status?.error ?? `the job ended ${state} without a result`;
  return {kind: 'finish', status: 'failed', outcome: state === 'OUT_OF_MEMORY' ? 'out_of_memory' : 'failed', error: state === 'OUT_OF_MEMORY' ? `out of memory (Slurm state OUT_OF_MEMORY); raise slurm.mem` : error};
}
