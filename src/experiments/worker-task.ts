/**
 * What a worker (thread or child process) does with one job: run the trial and report every event,
 * then exactly one `result` or `error` message. Thrown errors are trial failures; a worker that dies
 * instead is a crash, which the coordinator detects on its side.
 */
import type {Dataset} from '../data';
import type {EngineName} from '../engine';
import type {TrialSpec} from './sweep';
import {runTrial, type TrialEvent, type TrialOutcome} from './trial';

export interface TrialJob {
  trialId: number;
  spec: TrialSpec;
  engine: EngineName;
  threads: number;
  /** resources.autotune: choose kernels by timing them. */
  autotune?: boolean;
  checkpointFile?: string;
}

export type WorkerMessage =
  | TrialEvent
  | {type: 'result'; outcome: TrialOutcome}
  | {type: 'error'; message: string; stack?: string; code?: string};

/** `data`: the job's dataset when the executor loaded it already (shared memory); otherwise the trial loads it. */
export async function runJob(job: TrialJob, shouldStop: () => boolean, send: (m: WorkerMessage) => void, data?: Dataset): Promise<void> {
  try {
    const outcome = await runTrial(job.spec, {
      engine: job.engine,
      threads: job.threads,
      autotune: job.autotune,
      checkpointFile: job.checkpointFile,
      shouldStop,
      emit: send,
      data,
    });
    send({type: 'result', outcome});
  } catch (e) {
    const err = e as Error;
    send({type: 'error', message: err?.message ?? String(e), stack: err?.stack, code: (err as NodeJS.ErrnoException)?.code});
  }
}
