/**
 * Executors run trials on slots. `thread`: piscina worker threads (the CPU engines). `process`: one child
 * process per slot, for engines that do not survive worker threads (tfjs-node) and to give each slot its
 * own GPU through CUDA_VISIBLE_DEVICES. Both stop a trial the same way (experiments/stop.ts): the trial
 * checkpoints at its next step and reports `stopped`.
 */
import {fork, type ChildProcess} from 'node:child_process';
import * as path from 'node:path';
import {MessageChannel} from 'node:worker_threads';
import {loadDataset, type Dataset} from '../data';
import {STOP_SIGNALS_ENV, type StopSignal} from './stop';
import type {TrialEvent, TrialOutcome} from './trial';
import type {TrialJob, WorkerMessage} from './worker-task';

/** The worker died (exit, out of memory, killed): the trial may be retried from its checkpoint. */
export class WorkerCrash extends Error {}
/** The trial itself threw: it fails with this message. `code` is the system error code, if any (ENOSPC, ...). */
export class TrialFailure extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}

export interface RunningTrial {
  /** Ask the trial to checkpoint and stop at its next step. */
  stop(): void;
  /** Resolves with the outcome; rejects with WorkerCrash or TrialFailure. */
  done: Promise<TrialOutcome>;
}

export interface Executor {
  readonly kind: 'thread' | 'process';
  start(job: TrialJob, slot: number, onEvent: (e: TrialEvent) => void): RunningTrial;
  /** Environment a slot's worker gets (GPU pinning); exposed for tests and `plan`. */
  slotEnv(slot: number): Record<string, string>;
  close(): Promise<void>;
}

export interface ExecutorOptions {
  workers: number;
  gpus?: number[];
  /** process: signals a worker treats as a stop request (default SIGUSR1 only; see experiments/stop.ts). */
  stopSignals?: StopSignal[];
}

function gpuEnv(gpus: number[] | undefined, slot: number): Record<string, string> {
  if (!gpus) return {};
  return {CUDA_VISIBLE_DEVICES: String(gpus[slot % gpus.length]), TF_FORCE_GPU_ALLOW_GROWTH: 'true'};
}

function settle(msg: WorkerMessage, resolve: (o: TrialOutcome) => void, reject: (e: Error) => void): boolean {
  if (msg.type === 'result') resolve(msg.outcome);
  else if (msg.type === 'error') reject(new TrialFailure(msg.message, msg.code));
  else return false;
  return true;
}

export async function createThreadExecutor(opts: ExecutorOptions): Promise<Executor> {
  const {Piscina} = await import('piscina');
  const pool = new Piscina({
    filename: path.join(__dirname, 'worker.js'),
    minThreads: opts.workers,
    maxThreads: opts.workers,
    idleTimeout: 60_000,
  });
  return {
    kind: 'thread',
    slotEnv: () => ({}),
    start(job, _slot, onEvent) {
      const {port1, port2} = new MessageChannel();
      const stopFlag = new SharedArrayBuffer(4);
      // One copy of the dataset per process: loaded here once (then cached), in shared memory that every
      // worker thread reads without a copy of its own.
      let data: Dataset;
      try {
        data = loadDataset(job.spec.dataset, {shared: true});
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        port1.close();
        return {stop: () => undefined, done: Promise.reject(new TrialFailure(err?.message ?? String(e), err?.code))};
      }
      const done = new Promise<TrialOutcome>((resolve, reject) => {
        port1.on('message', (msg: WorkerMessage) => {
          if (settle(msg, resolve, reject)) port1.close();
          else onEvent(msg as TrialEvent);
        });
        pool.run({job, port: port2, stopFlag, data}, {transferList: [port2] as never}).catch((e: Error) => {
          port1.close();
          reject(new WorkerCrash(`worker thread died: ${e.message}`));
        });
      });
      return {stop: () => Atomics.store(new Int32Array(stopFlag), 0, 1), done};
    },
    async close() {
      await pool.destroy();
    },
  };
}

export function createProcessExecutor(opts: ExecutorOptions): Executor {
  const children = new Map<number, ChildProcess>();
  const spawn = (slot: number) => {
    const child = fork(path.join(__dirname, 'child.js'), [], {
      env: {
        ...process.env, ...gpuEnv(opts.gpus, slot), ABLATE_SLOT: String(slot),
        ...(opts.stopSignals ? {[STOP_SIGNALS_ENV]: opts.stopSignals.join(',')} : {}),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.set(slot, child);
    child.on('exit', () => {
      if (children.get(slot) === child) children.delete(slot);
    });
    return child;
  };
  return {
    kind: 'process',
    slotEnv: (slot) => gpuEnv(opts.gpus, slot),
    start(job, slot, onEvent) {
      const child = children.get(slot) ?? spawn(slot);
      const done = new Promise<TrialOutcome>((resolve, reject) => {
        const onMessage = (msg: WorkerMessage) => {
          if (settle(msg, resolve, reject)) cleanup();
          else onEvent(msg as TrialEvent);
        };
        const onExit = (code: number | null, signal: string | null) => {
          cleanup();
          reject(new WorkerCrash(`worker process ${child.pid} exited (${signal ?? `code ${code}`}) during the trial`));
        };
        const cleanup = () => {
          child.off('message', onMessage);
          child.off('exit', onExit);
        };
        child.on('message', onMessage);
        child.on('exit', onExit);
        child.send({type: 'run', job});
      });
      return {stop: () => child.connected && child.send({type: 'stop'}), done};
    },
    async close() {
      await Promise.all(
        [...children.values()].map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              c.once('exit', () => resolve());
              c.kill('SIGKILL');
            }),
        ),
      );
      children.clear();
    },
  };
}

export async function createExecutor(kind: 'thread' | 'process', opts: ExecutorOptions): Promise<Executor> {
  return kind === 'thread' ? createThreadExecutor(opts) : createProcessExecutor(opts);
}
