/**
 * Child-process worker (executor: process): one per slot, runs trials one at a time for the coordinator.
 * Used where an engine cannot share a process (tfjs-node) and to pin a GPU per slot (CUDA_VISIBLE_DEVICES).
 * It exits when the coordinator goes away.
 */
import {runJob, type TrialJob} from './worker-task';

let stop = false;
process.on('message', (msg: {type: 'run'; job: TrialJob} | {type: 'stop'}) => {
  if (msg.type === 'stop') {
    stop = true;
    return;
  }
  stop = false;
  void runJob(msg.job, () => stop, (m) => process.send?.(m));
});
process.on('disconnect', () => process.exit(0));
// First Ctrl-C reaches the whole process group: the coordinator decides, the child only stops when told.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
