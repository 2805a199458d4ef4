/**
 * What an executor's coordinator tells the live display about trials, whichever executor runs them
 * (the runner's local workers, or Slurm). `ablate run`'s reporter (progress.ts) implements it.
 */
import type {TrialRow} from '../store/store';
import type {TrialEvent} from './trial';

export interface TrialReporter {
  warn?(message: string): void;
  trialStart?(trial: TrialRow): void;
  trialEvent?(trial: TrialRow, event: TrialEvent): void;
  trialEnd?(trial: TrialRow, status: string, detail?: string): void;
  /** Where a trial is (queued, running on a node, requeued), for executors that know. */
  trialInfo?(trial: TrialRow, message: string): void;
  stopping?(signal: string): void;
}
