/**
 * piscina worker thread entry: one trial per task, events over a MessagePort, stop through shared memory
 * (experiments/stop.ts), and the dataset in shared memory loaded once by the executor for all its threads.
 */
import type {MessagePort} from 'node:worker_threads';
import type {Dataset} from '../data';
import {runJob, type TrialJob} from './worker-task';

async function task({job, port, stopFlag, data}: {job: TrialJob; port: MessagePort; stopFlag: SharedArrayBuffer; data?: Dataset}): Promise<void> {
  const flag = new Int32Array(stopFlag);
  await runJob(job, () => Atomics.load(flag, 0) === 1, (m) => port.postMessage(m), data);
  port.close();
}

export = task;
