/**
 * The program an array task runs: `node worker.js MANIFEST INDEX`. It trains the trial that the manifest
 * gives for its array index and reports through the attempt's run folder. SIGUSR1 (the time-limit warning
 * of --signal, or preemption) and SIGTERM (scancel) mean "checkpoint at the next step and exit"; a preempted
 * task puts itself back in the queue and resumes from that checkpoint when Slurm starts it again.
 *
 * A trial on the torch engine runs in a Python worker driven by the torch executor, as on one machine: the
 * Python (ABLATE_PYTHON or python3, after the job script's setup lines) is probed here on the compute node, it
 * computes on the GPUs Slurm allotted (CUDA_VISIBLE_DEVICES is left as Slurm set it) or on the CPU when torch
 * sees none, and a stop request reaches it as the executor's stop message.
 */
import {execFileSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import type {TorchRunOptions} from '../torch-executor';
import type {TrialEvent, TrialOutcome} from '../trial';
import type {TrialJob} from '../worker-task';
import {RunWriter, type Heartbeat, type StopReason} from './rundir';
import {stopFile} from './script';

/** A task's trial job: what a local executor gets, plus the run-wide options of the torch engine. */
export interface SlurmJob extends TrialJob {
  torch?: TorchRunOptions;
}

export interface ManifestTask {
  index: number;
  trialId: number;
  key: string;
  attempt: number;
  /** The attempt's run folder. */
  dir: string;
  job: SlurmJob;
}

export interface Manifest {
  name: string;
  tasks: ManifestTask[];
}

function scontrol(args: string[]): string | undefined {
  try {
    return execFileSync('scontrol', args, {encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'ignore']});
  } catch {
    return undefined;
  }
}

/** Why the task was asked to stop: Slurm records a PreemptTime on a job it preempts. */
function stopReason(signal: string, jobId: string | undefined): StopReason {
  const info = jobId ? scontrol(['show', 'job', '-o', jobId]) : undefined;
  const preempt = info ? /\bPreemptTime=(\S+)/.exec(info)?.[1] : undefined;
  if (preempt && preempt !== 'None') return 'preempted';
  return signal === 'SIGUSR1' ? 'time-limit' : 'cancelled';
}

/** Trains in this process (the TensorFlow.js engines). */
async function runInProcess(job: SlurmJob, shouldStop: () => boolean, emit: (e: TrialEvent) => void): Promise<TrialOutcome> {
  // Loaded after the signal handlers are in place: a stop that comes while TensorFlow.js loads is not lost.
  const {runTrial} = await import('../trial');
  return runTrial(job.spec, {
    engine: job.engine, threads: job.threads, autotune: job.autotune, checkpointFile: job.checkpointFile,
    checkpointIdentity: job.checkpointIdentity, dataDir: job.dataDir, shouldStop, emit,
  });
}

/** How often a stop request is passed on to the Python worker, which stops at its next step. */
const STOP_POLL_MS = 200;

/** Trains in a Python worker through the torch executor, on this node's GPU when torch sees one. */
async function runOnTorch({torch, ...job}: SlurmJob, shouldStop: () => boolean, emit: (e: TrialEvent) => void): Promise<TrialOutcome> {
  const [{probeTorch}, {createTorchExecutor}, {TrialFailure}] = await Promise.all([import('../../engine/torch'), import('../torch-executor'), import('../executor')]);
  const probe = probeTorch();
  if (probe.error) throw new TrialFailure(`engine torch cannot run on ${os.hostname()}: ${probe.error}`, 'EENGINE');
  // No `gpus`: the executor then keeps the CUDA_VISIBLE_DEVICES that Slurm set for this task.
  const executor = createTorchExecutor({workers: 1, python: probe.python, device: probe.cudaAvailable ? 'cuda' : 'cpu', ...torch});
  try {
    const handle = executor.start(job, 0, emit);
    const poll = setInterval(() => {
      if (!shouldStop()) return;
      handle.stop();
      clearInterval(poll);
    }, STOP_POLL_MS);
    try {
      return await handle.done;
    } finally {
      clearInterval(poll);
    }
  } finally {
    await executor.close();
  }
}

async function main(): Promise<number> {
  const [manifestFile, indexArg] = process.argv.slice(2);
  const index = Number(indexArg ?? process.env.SLURM_ARRAY_TASK_ID);
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Manifest;
  const task = manifest.tasks.find((t) => t.index === index);
  if (!task) {
    process.stderr.write(`ablate worker: no task with array index ${indexArg} in ${manifestFile}\n`);
    return 2;
  }
  let signal: string | undefined;
  // The job script forwards Slurm's USR1 as USR2 (Node.js keeps USR1 for its debugger). Handlers run only
  // when the event loop turns, which a training step does not do: the script's stop file is checked too.
  process.on('SIGUSR2', () => (signal ??= 'SIGUSR1'));
  process.on('SIGTERM', () => (signal ??= 'SIGTERM'));
  const requestFile = stopFile(manifestFile, index);
  let checkedAt = 0;
  const shouldStop = () => {
    const now = performance.now();
    if (signal === undefined && now - checkedAt > 200) {
      checkedAt = now;
      try {
        signal = fs.readFileSync(requestFile, 'utf8').trim() === 'USR1' ? 'SIGUSR1' : 'SIGTERM';
      } catch {
        // no request
      }
    }
    return signal !== undefined;
  };

  const env = process.env;
  const job = env.SLURM_ARRAY_JOB_ID ? `${env.SLURM_ARRAY_JOB_ID}_${env.SLURM_ARRAY_TASK_ID}` : (env.SLURM_JOB_ID ?? 'local');
  const node = env.SLURMD_NODENAME ?? os.hostname();
  const restart = Number(env.SLURM_RESTART_COUNT ?? 0);
  const w = new RunWriter(task.dir);
  const status = (state: Parameters<RunWriter['status']>[0]['state'], extra: {reason?: StopReason; error?: string} = {}) =>
    w.status({state, at: Date.now(), job, node, restart, ...extra});
  w.event({type: 'started', pid: process.pid, node, job, restart, device: env.CUDA_VISIBLE_DEVICES ?? null});
  status('running');

  let last: Heartbeat = {at: Date.now(), epoch: 0, step: 0, steps: 0, loss: NaN, imagesPerSec: 0};
  const beat = setInterval(() => w.heartbeat({...last, at: Date.now()}), 10_000);
  beat.unref();
  const emit = (e: TrialEvent) => {
    if (e.type === 'engine') w.event({type: 'engine', engine: e.engine, pid: e.pid, device: e.device});
    else if (e.type === 'resumed') w.event({type: 'resumed', epoch: e.epoch, step: e.step});
    else if (e.type === 'checkpoint-ignored') w.event({type: 'checkpoint-ignored', file: e.file, reason: e.reason});
    else if (e.type === 'epoch') w.event({type: 'epoch', row: e.row});
    else if (e.type === 'progress') {
      last = {at: Date.now(), epoch: e.epoch, step: e.step, steps: e.steps, loss: e.loss, imagesPerSec: e.imagesPerSec};
      w.heartbeat(last);
    } else if (e.type === 'log') process.stderr.write(`${e.message}\n`); // the Python worker's stderr, into the task's log
  };
  try {
    // The job's checkpoint is filed under the trial's identity in the sweep's run folder; the identity is written
    // into the checkpoint and checked on load, so that another trial's (or store's) checkpoint is never resumed.
    const trial = {...task.job, threads: Number(env.SLURM_CPUS_PER_TASK) || task.job.threads};
    const outcome = trial.engine === 'torch' ? await runOnTorch(trial, shouldStop, emit) : await runInProcess(trial, shouldStop, emit);
    if (outcome.status === 'stopped') {
      const reason = stopReason(signal ?? 'SIGTERM', env.SLURM_JOB_ID);
      w.event({type: 'stopped', signal: signal ?? 'SIGTERM', reason, epochs: outcome.epochs});
      status('stopped', {reason});
      // A job that ends by itself during the grace time is not requeued by Slurm: ask for it.
      if (reason === 'preempted' && env.SLURM_JOB_ID) scontrol(['requeue', env.SLURM_JOB_ID]);
      return 0;
    }
    w.event({type: 'result', outcome});
    status(outcome.status, {error: outcome.error});
    w.done({status: outcome.status === 'diverged' ? 'diverged' : 'done', epochs: outcome.epochs, error: outcome.error});
    return 0;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const message = err?.message ?? String(e);
    w.event({type: 'error', message, code: err?.code});
    status('failed', {error: message});
    w.done({status: 'failed', epochs: 0, error: message});
    process.stderr.write(`${err?.stack ?? message}\n`);
    return 1;
  } finally {
    clearInterval(beat);
    w.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`ablate worker: ${(e as Error)?.stack ?? e}\n`);
    process.exit(1);
  },
);
