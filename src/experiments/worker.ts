/** piscina worker thread entry: one trial per task, events over a MessagePort, stop through shared memory. */
import {workerData, type MessagePort} from 'node:worker_threads';
import type {EngineName} from '../engine/names';
import {ensureEngine} from './trial';
import {runJob, type TrialJob} from './worker-task';
import {traceSinceStart} from '../trace';

traceSinceStart('worker-load');

// Initialise the engine while the coordinator is still setting up, not when the first trial arrives. A failure
// is not lost: the trial's own ensureEngine call gets the same rejected promise and reports it.
const warm = (workerData as {warmEngine?: {engine: EngineName; threads: number}} | null)?.warmEngine;
if (warm) ensureEngine(warm.engine, warm.threads).catch(() => undefined);

async function task({job, port, stopFlag}: {job: TrialJob; port: MessagePort; stopFlag: SharedArrayBuffer}): Promise<void> {
  const flag = new Int32Array(stopFlag);
  await runJob(job, () => Atomics.load(flag, 0) === 1, (m) => port.postMessage(m));
  port.close();
}

export = task;
