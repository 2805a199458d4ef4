/**
 * piscina worker thread entry: one trial per task, events over a MessagePort, stop through shared memory
 * (experiments/stop.ts), and the dataset in shared memory loaded once by the executor for all its threads.
 */
import {workerData, type MessagePort} from 'node:worker_threads';
import type {Dataset} from '../data';
import type {EngineName} from '../engine/names';
import {ensureEngine} from './trial';
import {runJob, type TrialJob} from './worker-task';
import {traceSinceStart} from '../trace';

traceSinceStart('worker-load');

// Initialise the engine while the coordinator is still setting up, not when the first trial arrives. A failure
// is not lost: the trial's own ensureEngine call gets the same rejected promise and reports it.
const warm = (workerData as {warmEngine?: {engine: EngineName; threads: number; autotune: boolean}} | null)?.warmEngine;
if (warm) ensureEngine(warm.engine, warm.threads, warm.autotune).catch(() => undefined);

async function task({job, port, stopFlag, data}: {job: TrialJob; port: MessagePort; stopFlag: SharedArrayBuffer; data?: Dataset}): Promise<void> {
  const flag = new Int32Array(stopFlag);
  await runJob(job, () => Atomics.load(flag, 0) === 1, (m) => port.postMessage(m), data);
  port.close();
}

export = task;
