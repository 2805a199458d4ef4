/**
 * Child-process worker (executor: process): one per slot, runs trials one at a time for the coordinator.
 * Used where an engine cannot share a process (tfjs-node) and to pin a GPU per slot (CUDA_VISIBLE_DEVICES).
 * It exits when the coordinator goes away. Stop requests (an IPC `stop` message, or a signal) follow the
 * protocol of experiments/stop.ts.
 */
import {EXIT_STOPPED, StopRequest, stopSignals} from './stop';
import {runJob, type TrialJob, type WorkerMessage} from './worker-task';

const stop = new StopRequest();
let busy = false;
/** The stop signal received, if any: the worker ends after the trial in progress. */
let signalled: string | undefined;
/** Resolves once every message sent so far has been handed to the IPC channel. */
let delivered: Promise<void> = Promise.resolve();

function send(m: WorkerMessage): void {
  delivered = new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(m, undefined, {}, () => resolve());
  });
}

async function exitStopped(): Promise<never> {
  await delivered;
  process.exit(EXIT_STOPPED);
}

process.on('message', (msg: {type: 'run'; job: TrialJob} | {type: 'stop'}) => {
  if (msg.type === 'stop') {
    stop.request();
    return;
  }
  if (signalled) return; // exiting; the coordinator sees the exit and gives the job back
  // A request by message ends the trial it was sent to, not the next one.
  stop.reset();
  busy = true;
  void runJob(msg.job, stop.poll, send).then(() => {
    busy = false;
    if (signalled) return exitStopped();
  });
});
process.on('disconnect', () => process.exit(0));

const signals = stopSignals();
for (const sig of signals) {
  process.on(sig, () => {
    signalled ??= sig;
    stop.request();
    if (!busy) void exitStopped();
  });
}
// First Ctrl-C reaches the whole process group: the coordinator decides, the child only stops when told.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  if (!signals.includes(sig)) process.on(sig, () => undefined);
}
