/** piscina worker thread entry: one trial per task, events over a MessagePort, stop through shared memory. */
import type {MessagePort} from 'node:worker_threads';
import {runJob, type TrialJob} from './worker-task';

async function task({job, port, stopFlag}: {job: TrialJob; port: MessagePort; stopFlag: SharedArrayBuffer}): Promise<void> {
  const flag = new Int32Array(stopFlag);
  await runJob(job, () => Atomics.load(flag, 0) === 1, (m) => port.postMessage(m));
  port.close();
}

export = task;
