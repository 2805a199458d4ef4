/**
 * The executor of the torch engine: one Python worker process per slot (python/ablate_torch), each with its
 * GPU pinned by CUDA_VISIBLE_DEVICES. This process stays the orchestrator: it loads and normalises the data
 * with ablate's own loaders (written once per dataset to a file the workers read), computes the network's
 * layout (the same data the TypeScript builder and the accounting use), sends the resolved trial as one JSON
 * line, and reads the trial events back as JSON lines. The worker's stderr belongs to the trial's record
 * (`log` events), never to the terminal.
 */
import {spawn, type ChildProcessWithoutNullStreams} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {createInterface} from 'node:readline';
import {clearDatasetCache, loadDataset} from '../data';
import {workerEnv} from '../engine/torch';
import {resolveModelSpec} from '../models/config';
import {networkLayout} from '../models/layout';
import {saveCheckpoint} from './checkpoint';
import {TrialFailure, WorkerCrash, gpuEnv, type Executor, type ExecutorOptions} from './executor';
import {canonicalJson} from './sweep';
import type {TrialEvent, TrialOutcome} from './trial';
import type {TrialJob, WorkerMessage} from './worker-task';

/** What every trial of a run gets on the torch engine, wherever it runs (a local executor, a Slurm task's manifest). */
export interface TorchRunOptions {
  compile?: boolean;
  deterministic?: boolean;
  /** Minimum milliseconds between progress events (tests use 0: one per step). */
  progressEveryMs?: number;
}

export interface TorchExecutorOptions extends ExecutorOptions, TorchRunOptions {
  /** The Python that imports torch (engine/torch probeTorch). */
  python: string;
  device: 'cuda' | 'cpu';
}

/** What the Python worker receives: the job plus everything it needs that only ablate knows. */
export interface TorchJob extends TrialJob {
  layout: ReturnType<typeof networkLayout>;
  input: {height: number; width: number; channels: number};
  classes: number;
  data: {file: string};
  device: 'cuda' | 'cpu';
  compile: boolean;
  deterministic: boolean;
  progressEveryMs?: number;
}

/** Most stderr kept per trial (the end is what explains a failure). */
const STDERR_LIMIT = 64 * 1024;
const STDERR_FLUSH_MS = 1000;

interface Worker {
  child: ChildProcessWithoutNullStreams;
  /** The handler of the running trial's messages. */
  onMessage?: (msg: WorkerMessage) => void;
  onStderr?: (text: string) => void;
}

export function createTorchExecutor(opts: TorchExecutorOptions): Executor {
  const workers = new Map<number, Worker>();
  let dataDir: string | undefined;
  const dataFiles = new Map<string, {file: string; shape: {height: number; width: number; channels: number}; classes: number}>();

  /**
   * The dataset of a trial, normalised by ablate's loaders, as a file every worker reads (once per dataset).
   * A relative dataset.path names a folder beside the study file (`baseDir`), as on the other executors.
   */
  const prepareData = (dataset: TrialJob['spec']['dataset'], baseDir: string | undefined) => {
    const id = `${canonicalJson(dataset)}\0${baseDir ?? ''}`;
    const known = dataFiles.get(id);
    if (known) return known;
    const data = loadDataset(dataset, {baseDir});
    dataDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-torch-data-'));
    const file = path.join(dataDir, `${dataFiles.size}.bin`);
    const {height, width, channels} = data.shape;
    saveCheckpoint(file, {
      epoch: 0, step: 0, history: [],
      tensors: new Map([
        ['train/x', {shape: [data.train.n, height, width, channels], data: data.train.x}],
        ['train/y', {shape: [data.train.n], data: Float32Array.from(data.train.y)}],
        ['test/x', {shape: [data.test.n, height, width, channels], data: data.test.x}],
        ['test/y', {shape: [data.test.n], data: Float32Array.from(data.test.y)}],
      ]),
    });
    // The workers hold the data now; this process does not need its copy.
    clearDatasetCache();
    const entry = {file, shape: data.shape, classes: data.classes};
    dataFiles.set(id, entry);
    return entry;
  };

  const spawnWorker = (slot: number): Worker => {
    const child = spawn(opts.python, ['-m', 'ablate_torch'], {
      env: workerEnv({...process.env, ...gpuEnv(opts.gpus, slot), ABLATE_SLOT: String(slot)}),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const worker: Worker = {child};
    workers.set(slot, worker);
    child.stdin.on('error', () => undefined); // a dead worker is reported by its exit
    createInterface({input: child.stdout}).on('line', (line) => {
      let msg: WorkerMessage;
      try {
        msg = JSON.parse(line) as WorkerMessage;
      } catch {
        worker.onStderr?.(line + '\n');
        return;
      }
      worker.onMessage?.(msg);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => worker.onStderr?.(text));
    child.on('exit', () => {
      if (workers.get(slot) === worker) workers.delete(slot);
    });
    return worker;
  };

  return {
    kind: 'process',
    slotEnv: (slot) => gpuEnv(opts.gpus, slot),
    start(job, slot, onEvent) {
      let worker: Worker | undefined;
      const done = new Promise<TrialOutcome>((resolve, reject) => {
        let torchJob: TorchJob;
        try {
          const data = prepareData(job.spec.dataset, job.dataDir);
          const layout = networkLayout(resolveModelSpec(job.spec.model), data.shape.channels, data.classes);
          torchJob = {
            ...job, layout, input: data.shape, classes: data.classes, data: {file: data.file}, device: opts.device,
            compile: opts.compile ?? false, deterministic: opts.deterministic ?? false,
            ...(opts.progressEveryMs !== undefined ? {progressEveryMs: opts.progressEveryMs} : {}),
          };
        } catch (e) {
          const err = e as NodeJS.ErrnoException;
          reject(new TrialFailure(err.message, err.code));
          return;
        }
        const w = workers.get(slot) ?? spawnWorker(slot);
        worker = w;
        let stderr = '';
        let unsent = '';
        const flush = () => {
          if (unsent) onEvent({type: 'log', message: unsent.replace(/\n$/, '')});
          unsent = '';
        };
        const timer = setInterval(flush, STDERR_FLUSH_MS);
        w.onStderr = (text) => {
          stderr = (stderr + text).slice(-STDERR_LIMIT);
          if (unsent.length < STDERR_LIMIT) unsent += text.slice(0, STDERR_LIMIT - unsent.length);
        };
        const cleanup = () => {
          clearInterval(timer);
          flush();
          w.onMessage = undefined;
          w.child.off('exit', onExit);
        };
        w.onMessage = (msg) => {
          if (msg.type === 'result') {
            cleanup();
            resolve(msg.outcome);
          } else if (msg.type === 'error') {
            cleanup();
            reject(new TrialFailure(msg.message, msg.code));
          } else {
            onEvent(msg as TrialEvent);
          }
        };
        const onExit = (code: number | null, signal: string | null) => {
          cleanup();
          const last = stderr.trim().split('\n').slice(-3).join(' | ');
          reject(new WorkerCrash(`torch worker process ${w.child.pid} exited (${signal ?? `code ${code}`}) during the trial${last ? `: ${last}` : ''}`));
        };
        w.child.on('exit', onExit);
        w.child.stdin.write(JSON.stringify({type: 'run', job: torchJob}) + '\n');
      });
      return {
        stop: () => {
          if (worker && worker.child.stdin.writable) worker.child.stdin.write('{"type":"stop"}\n');
        },
        done,
      };
    },
    async close() {
      await Promise.all(
        [...workers.values()].map(
          ({child}) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              // End of input ends an idle worker; one still training is killed (its trial resumes from its checkpoint).
              child.stdin.end();
              setTimeout(() => child.kill('SIGKILL'), 2000).unref();
            }),
        ),
      );
      workers.clear();
      if (dataDir) fs.rmSync(dataDir, {recursive: true, force: true});
    },
  };
}
