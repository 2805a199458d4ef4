/**
 * The coordinator of `ablate run`: validate, expand, record the grid, lease trials to executor slots
 * (FIFO), write every event to the store, and stop cleanly on the first Ctrl-C / SIGTERM.
 * It is the only writer of the database.
 */
import * as path from 'node:path';
import {checkDatasetFiles, datasetInfo} from '../data';
// Not '../models': its builder loads TensorFlow, which only the workers need.
import {countMacs, countParams} from '../models/accounting';
import {resolveModelSpec} from '../models/config';
import {describeModel} from '../models/spec';
import {EnvironmentError, UsageError} from '../errors';
import {SLURM_OWNER, Store, type TrialRow} from '../store/store';
import {EXECUTORS, loadStudy, parseStudy, resolveResources, type LoadedStudy} from './config';
import {checkpointPath} from './checkpoint';
import {createExecutor, TrialFailure, WorkerCrash, type Executor, type RunningTrial} from './executor';
import {configHash, expandStudy, type TrialSpec} from './sweep';
import type {TrialEvent, TrialOutcome} from './trial';
import type {TorchRunOptions} from './torch-executor';
import {checkEngineInstalled, type EngineChoice, type EngineName} from '../engine/names';
import {chooseAutoEngine, probeTorch} from '../engine/torch';
import {loadAddon} from '../engine/native-addon';
import {BF16_HINT, nativeBf16Refusal} from '../engine/precision';
import {now, traceSpan, traced} from '../trace';
import {preflight, runOnSlurm} from './slurm/coordinator';
import {listenForStop} from './stop';
import type {TrialReporter} from './reporter';
import {slurmSchema, type SlurmSettings} from './slurm/settings';

export interface PlannedTrial {
  spec: TrialSpec;
  model: string;
  params: number;
  macs: number;
}

export interface Plan {
  study: LoadedStudy;
  name: string;
  trials: PlannedTrial[];
  resources: ReturnType<typeof resolveResources> & {
    engine: EngineName;
    /** Why this engine: `auto: ...`, the flag, or the study. */
    engineReason: string;
    retries: number;
    /** torch engine: where it computes, and with which Python. */
    device?: 'cuda' | 'cpu';
    python?: string;
    compile: boolean;
    autotune: boolean;
    /** On GPUs: how the worker slots come about (GPUs x trials_per_gpu), and what to raise when that capped them. */
    slots?: string;
  };
  hash: string;
}

export interface PlanOptions {
  smoke?: boolean;
  /** Refuse grids of more trials than this (default: sweep.DEFAULT_MAX_TRIALS). */
  maxTrials?: number;
  engine?: EngineChoice;
  workers?: number;
  executor?: (typeof EXECUTORS)[number];
  /** Override resources.autotune. */
  autotune?: boolean;
}

/** Validate and expand a study without touching the database. */
export function planStudy(configPath: string, opts: PlanOptions & {configText?: string} = {}): Plan {
  const study = opts.configText !== undefined ? parseStudy(opts.configText, configPath) : loadStudy(configPath);
  const specs = expandStudy(study, {smoke: opts.smoke, maxTrials: opts.maxTrials});
  const trials = specs.map((spec) => {
    const modelSpec = resolveModelSpec(spec.model);
    const info = datasetInfo(spec.dataset);
    return {spec, model: describeModel(modelSpec), params: countParams(modelSpec, info.shape, info.classes), macs: countMacs(modelSpec, info.shape, info.classes)};
  });
  const r = study.config.resources;
  const choice = opts.engine ?? r.engine;
  // On Slurm the trials run on the cluster's nodes, not here: what this machine has says nothing about them.
  // `auto` is native-cpu there; the torch engine, when asked for, finds its Python and GPUs on the node.
  const onSlurm = (opts.executor ?? r.executor) === 'slurm';
  const auto = choice === 'auto' && !onSlurm ? chooseAutoEngine() : undefined;
  const engine: EngineName = auto ? auto.engine : choice === 'auto' ? 'native-cpu' : (choice as EngineName);
  const engineReason = auto
    ? `auto: ${auto.reason}`
    : choice === 'auto'
      ? 'auto: native-cpu on Slurm, since this machine says nothing about the compute nodes; --engine torch runs PyTorch there'
      : opts.engine ? 'chosen with --engine' : 'resources.engine of the study';
  let gpus: number[] | undefined = r.gpus;
  let torch: {device: 'cuda' | 'cpu'; python: string} | undefined;
  if (engine === 'torch' && !onSlurm) {
    const probe = auto?.probe ?? probeTorch();
    torch = {device: probe.cudaAvailable ? 'cuda' : 'cpu', python: probe.python};
    // On a GPU machine every GPU torch sees gets trials_per_gpu slots unless the study names the GPUs.
    if (!gpus && probe.cudaAvailable && probe.gpus.length > 0) gpus = probe.gpus.map((_, i) => i);
  } else if (engine !== 'torch' && trials.some((t) => t.spec.train.precision === 'bf16')) {
    if (engine !== 'native-cpu') {
      throw new UsageError(`train.precision bf16 needs the native-cpu or torch engine; this run uses ${engine} (${engineReason})`, {hint: 'use --engine native-cpu or --engine torch, or train.precision: fp32'});
    }
    // On Slurm the nodes' CPUs decide: a node without bf16 instructions fails its trials with the same reason (engine/index.ts).
    const loaded = onSlurm ? undefined : loadAddon();
    const refusal = loaded && nativeBf16Refusal(loaded.ok ? loaded.addon.info() : loaded);
    if (refusal) throw new UsageError(`train.precision bf16 cannot run on native-cpu (${engineReason}): ${refusal}`, {hint: BF16_HINT});
  }
  const allotted = process.env.CUDA_VISIBLE_DEVICES?.split(',').filter((d) => d.trim() !== '');
  const outside = allotted ? gpus?.find((g) => g >= allotted.length) : undefined;
  if (allotted && outside !== undefined) {
    throw new UsageError(`resources.gpus names GPU ${outside}, but CUDA_VISIBLE_DEVICES=${process.env.CUDA_VISIBLE_DEVICES} allots ${allotted.length} GPU(s); the indices count within it`, {hint: `use indices 0..${allotted.length - 1}`});
  }
  const resources = {
    ...resolveResources({...r, gpus, workers: opts.workers ?? r.workers, engine, executor: opts.executor ?? r.executor}),
    engine, engineReason, retries: r.retries, compile: r.compile, autotune: opts.autotune ?? r.autotune, ...torch,
  };
  // Never more than trials_per_gpu slots on one GPU (a study written for CPU workers may ask for more).
  let slots: string | undefined;
  if (resources.gpus) {
    const asked = resources.workers;
    resources.workers = Math.min(asked, resources.gpus.length * r.trials_per_gpu);
    slots = `${resources.gpus.length} GPU(s) x trials_per_gpu ${r.trials_per_gpu}` +
      (asked > resources.workers ? `; ${asked} workers asked: raise resources.trials_per_gpu to train more at once` : '');
  }
  // Never more slots than trials.
  resources.workers = Math.max(1, Math.min(resources.workers, trials.length));
  return {study, name: opts.smoke ? `${study.config.name}.smoke` : study.config.name, trials, resources: {...resources, slots}, hash: configHash(study, opts.smoke)};
}

export interface RunReporter extends TrialReporter {
  start?(info: {
    sweepId: number;
    name: string;
    total: number;
    done: number;
    workers: number;
    engine: EngineName;
    /** Why this engine runs (auto's choice, the flag, the study). */
    engineReason?: string;
    resumed: boolean;
    /** Relative cost of a trial (MACs x images x epochs), for an ETA that knows deep nets take longer. */
    work: (trialKey: string) => number;
    /** Cost of the trials not finished yet. */
    workLeft: number;
    /** Where trials run when not on local workers, e.g. "on Slurm (partition gpu)". */
    where?: string;
    /** On GPUs: GPUs x trials_per_gpu, and what to raise when that capped the workers. */
    slots?: string;
  }): void;
}

export interface RunOptions extends PlanOptions {
  configPath: string;
  /** The study's text when it comes from the database (ablate resume) rather than the file. */
  configText?: string;
  db: string;
  /** Start a new sweep when the name exists with a different config. */
  forceNew?: boolean;
  /** Queue failed trials of this sweep again. */
  retryFailed?: boolean;
  reporter?: RunReporter;
  /** Folder for checkpoints (one subfolder per store and sweep); default: `checkpoints/` beside the database. */
  checkpointDir?: string;
  /** Seconds after which another host's running trial counts as abandoned. */
  staleAfterS?: number;
  /** Install SIGINT/SIGTERM handlers (the CLI does; tests may drive `abort` instead). */
  handleSignals?: boolean;
  abort?: AbortSignal;
  /** Slurm: submit, record the jobs and return without following them. */
  detach?: boolean;
}

export interface RunResult {
  sweepId: number;
  name: string;
  counts: Record<string, number>;
  /** Set when the run was interrupted by a signal. */
  signal?: 'SIGINT' | 'SIGTERM';
  /** Slurm with --detach: the array jobs submitted. */
  detached?: string[];
  exitCode: number;
}

const HEARTBEAT_MS = 5_000;
/** System errors that mean the machine, not the trial, is at fault. */
const ENVIRONMENT_CODES = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EIO', 'EENGINE']);
const FORCE_AFTER_MS = 25_000;

/** The local worker pool (threads, processes, or torch workers) for a plan's resources. */
function startExecutor(plan: Plan, torchOptions: TorchRunOptions): Promise<Executor> {
  const {resources} = plan;
  return resources.engine === 'torch'
    ? import('./torch-executor').then((m) => m.createTorchExecutor({
      workers: resources.workers, gpus: resources.gpus, python: resources.python!, device: resources.device!, ...torchOptions,
    }))
    : createExecutor(resources.executor as 'thread' | 'process', {
      workers: resources.workers, gpus: resources.gpus, warmEngine: {engine: resources.engine, threads: resources.threads, autotune: resources.autotune},
    });
}

/** Close a pool that may still be starting (or have failed to start). */
async function closeExecutor(pool: Promise<Executor> | undefined): Promise<void> {
  const executor = await pool?.catch(() => undefined);
  await executor?.close();
}

export async function runStudy(opts: RunOptions): Promise<RunResult> {
  const plan = traced('plan', () => planStudy(opts.configPath, opts));
  const onSlurm = plan.resources.executor === 'slurm';
  if (opts.detach && !onSlurm) throw new UsageError('--detach needs the slurm executor', {hint: 'add --executor slurm, or set resources.executor: slurm in the study'});
  // On Slurm the torch engine is looked for on the compute node, where it runs (a task without it fails, saying why).
  if (!(onSlurm && plan.resources.engine === 'torch')) checkEngineInstalled(plan.resources.engine);
  const {resources} = plan;
  // cuDNN autotuning only where kernels may be chosen by timing (resources.autotune), as on native-cpu.
  const torchOptions: TorchRunOptions = {compile: resources.compile, deterministic: !resources.autotune};
  // Local workers start now, loading their modules and initialising the engine while the study is checked
  // and the store is set up: most of a short sweep's start-up. A check that fails, or a sweep with nothing
  // left to run, closes them unused.
  const poolStart = now();
  const starting = onSlurm ? undefined : startExecutor(plan, torchOptions);
  starting?.catch(() => undefined);
  let store: Store;
  let dataDir: string;
  let slurmSettings: SlurmSettings | undefined;
  let cluster: Awaited<ReturnType<typeof preflight>> | undefined;
  try {
    // The native engine relies on tfjs internals: a tfjs that lacks them stops the run here, with the piece named
    // (the pinned tfjs has them; its workers check again).
    if (plan.resources.engine === 'native-cpu') {
      const internals = await import('../engine/tfjs-internals');
      if (!internals.tfjsIsPinned()) internals.checkTfjsInternals();
    }
    // A relative dataset.path names a folder beside the study file (for resume: where the file was).
    dataDir = path.dirname(path.resolve(opts.configPath));
    // Missing or unreadable data is one clear error before anything is written, not a failure per trial.
    const checked = new Set<string>();
    for (const {spec} of plan.trials) {
      const id = JSON.stringify(spec.dataset);
      if (!checked.has(id)) checkDatasetFiles(spec.dataset, {baseDir: dataDir});
      checked.add(id);
    }
    slurmSettings = onSlurm ? (plan.study.config.slurm ?? slurmSchema.parse({})) : undefined;
    // Slurm problems (no sbatch, unknown partition, settings sbatch refuses) are one error before anything is written.
    cluster = slurmSettings ? await preflight(plan.study, slurmSettings) : undefined;
    // Trials on Slurm are leased to the cluster, not to this process: any coordinator attached to the sweep settles them.
    store = new Store(opts.db, onSlurm ? SLURM_OWNER : undefined);
  } catch (e) {
    await closeExecutor(starting);
    throw e;
  }
  const rep = opts.reporter ?? {};
  const setupStart = now();
  let executor: Executor | undefined;
  const cleanups: (() => void)[] = [];
  try {
    const {sweep} = store.openSweep({
      name: plan.name,
      configPath: opts.configText !== undefined ? opts.configPath : path.resolve(plan.study.file),
      yaml: plan.study.text,
      hash: plan.hash,
      engine: plan.resources.engine,
      smoke: opts.smoke,
      forceNew: opts.forceNew,
    });
    store.addTrials(
      sweep.id,
      plan.trials.map((t) => ({key: t.spec.key, idx: t.spec.index, variant: t.spec.variant, seed: t.spec.seed, spec: t.spec, params: t.params, macs: t.macs})),
    );
    for (const r of store.reclaim(sweep.id, (opts.staleAfterS ?? 60) * 1000)) rep.warn?.(`trial ${r.id} was left running by a stopped run; it will run again from its last checkpoint`);
    if (!onSlurm && store.slurmSweep(sweep.id) && store.counts(sweep.id).running > 0) {
      throw new UsageError(`sweep ${plan.name} (id ${sweep.id}) has trials on Slurm`, {hint: `follow them with --executor slurm, or: ablate resume ${sweep.id}`});
    }
    if (opts.retryFailed) store.requeueFailed(sweep.id);
    const before = store.counts(sweep.id);
    const total = Object.values(before).reduce((a, b) => a + b, 0);
    const checkpointDir = opts.checkpointDir ?? path.join(path.dirname(path.resolve(opts.db)), 'checkpoints');
    const workByKey = new Map(plan.trials.map((t) => [t.spec.key, t.macs * t.spec.train.epochs * datasetInfo(t.spec.dataset).trainSize]));
    const unfinished = store.db.prepare("SELECT key FROM trials WHERE sweep_id = ? AND status IN ('pending', 'running')").all(sweep.id) as {key: string}[];
    rep.start?.({
      sweepId: sweep.id, name: plan.name, total, done: before.done + before.diverged + before.failed, workers: resources.workers,
      engine: resources.engine, engineReason: resources.engineReason, resumed: total - before.pending > 0,
      work: (key) => workByKey.get(key) ?? 0,
      workLeft: unfinished.reduce((a, r) => a + (workByKey.get(r.key) ?? 0), 0),
      where: slurmSettings ? `on Slurm${slurmSettings.partition ? ` (partition ${slurmSettings.partition})` : ''}` : undefined,
      slots: resources.slots,
    });
    if (before.pending === 0 && !(onSlurm && before.running > 0)) {
      const counts = store.counts(sweep.id);
      return {sweepId: sweep.id, name: plan.name, counts, exitCode: counts.failed > 0 ? 1 : 0};
    }
    traceSpan('store-setup', setupStart);
    if (slurmSettings && cluster) {
      store.setSweepStatus(sweep.id, 'running');
      const r = await runOnSlurm({
        store, sweepId: sweep.id, sweepName: plan.name, settings: slurmSettings, cluster,
        runDir: slurmSettings.run_dir ?? path.join(path.dirname(path.resolve(opts.db)), 'slurm'),
        job: {
          engine: resources.engine, threads: slurmSettings.cpus_per_task ?? plan.study.config.resources.threads ?? 1, autotune: resources.autotune, dataDir,
          ...(resources.engine === 'torch' ? {torch: torchOptions} : {}),
        },
        retries: resources.retries, reporter: rep, detach: opts.detach, handleSignals: opts.handleSignals, abort: opts.abort,
      });
      const counts = store.counts(sweep.id);
      const complete = counts.pending === 0 && counts.running === 0;
      store.setSweepStatus(sweep.id, complete ? 'done' : counts.running > 0 ? 'running' : 'incomplete');
      if (opts.detach) return {sweepId: sweep.id, name: plan.name, counts, detached: r.submitted, exitCode: 0};
      const exitCode = r.signal ? (r.signal === 'SIGINT' ? 130 : 143) : counts.failed > 0 || counts.pending > 0 || counts.running > 0 ? 1 : 0;
      return {sweepId: sweep.id, name: plan.name, counts, signal: r.signal, exitCode};
    }
    store.setSweepStatus(sweep.id, 'running');
    executor = await starting!;
    traceSpan('pool-start', poolStart);

    // --- signals: first one stops taking trials and lets running ones checkpoint; second one exits now.
    let stopping: RunResult['signal'] | 'fatal';
    /** An environment failure (disk full, database unwritable): stop everything, report it, resume later. */
    let fatal: unknown;
    let wake: () => void = () => undefined;
    const running = new Map<number, {row: TrialRow; handle: RunningTrial}>();
    const stopAll = () => {
      for (const {handle} of running.values()) handle.stop();
      const force = setTimeout(() => wake(), FORCE_AFTER_MS);
      force.unref();
      wake();
    };
    const requestStop = (signal: 'SIGINT' | 'SIGTERM') => {
      if (stopping) {
        process.exit(signal === 'SIGINT' ? 130 : 143);
      }
      stopping = signal;
      rep.stopping?.(signal);
      store.event(sweep.id, null, 'signal', `${signal}: stopping after running trials checkpoint`);
      stopAll();
    };
    const failHard = (e: unknown) => {
      if (fatal) return;
      fatal = e;
      if (!stopping) {
        stopping = 'fatal';
        stopAll();
      }
    };
    /** Run a coordinator callback; a failure to write the store stops the sweep instead of crashing it. */
    const guard = <A extends unknown[]>(fn: (...args: A) => void) => (...args: A) => {
      try {
        fn(...args);
      } catch (e) {
        failHard(e);
      }
    };
    cleanups.push(listenForStop(opts, requestStop));
    const beat = setInterval(guard(() => store.heartbeat([...running.keys()])), HEARTBEAT_MS);
    cleanups.push(() => clearInterval(beat));

    const free = Array.from({length: resources.workers}, (_, i) => i);
    const finished: Promise<void>[] = [];
    const startOne = (slot: number): boolean => {
      const row = traced('store-write', () => store.claimNext(sweep.id, slot, process.pid));
      if (!row) return false;
      const spec = JSON.parse(row.spec_json) as TrialSpec;
      const identity = {store: store.id, sweep: sweep.id, trial: row.key};
      rep.trialStart?.(row);
      const handle = executor!.start(
        {
          trialId: row.id, spec, engine: resources.engine, threads: resources.threads, autotune: resources.autotune,
          checkpointFile: checkpointPath(checkpointDir, identity), checkpointIdentity: identity, dataDir,
        },
        slot,
        guard((ev: TrialEvent) => onEvent(row, ev)),
      );
      running.set(row.id, {row, handle});
      const settled = handle.done.then(
        (outcome) => onOutcome(row, outcome),
        (err) => onError(row, err),
      ).finally(() => {
        running.delete(row.id);
        free.push(slot);
        wake();
      });
      finished.push(settled.catch(failHard));
      return true;
    };
    let warned = false;
    const onEvent = (row: TrialRow, ev: TrialEvent) => {
      if (ev.type === 'epoch') traced('store-write', () => store.recordEpochs(row.id, [ev.row]));
      if (ev.type === 'log') store.event(sweep.id, row.id, 'stderr', ev.message);
      if (ev.type === 'resumed') store.event(sweep.id, row.id, 'resumed', `from its checkpoint after ${ev.epoch} epoch(s) and ${ev.step} step(s) of the next`);
      if (ev.type === 'engine') {
        const mixed = store.recordEngine(row.id, {pid: ev.pid, engine: ev.engine, device: ev.device, slot: row.slot});
        if (ev.engine.warning && !warned) {
          warned = true;
          rep.warn?.(ev.engine.warning);
        }
        if (mixed && mixed.length > 0) {
          rep.warn?.(`trial ${row.id} runs on ${ev.engine.name}, but its variant (or an earlier attempt of it) ran on ${mixed.join(', ')}; ablate report marks the variant`);
        }
      }
      if (ev.type === 'checkpoint-ignored') {
        store.event(sweep.id, row.id, 'checkpoint-ignored', ev.reason);
        rep.warn?.(ev.reason);
      }
      rep.trialEvent?.(row, ev);
    };
    const onOutcome = (row: TrialRow, outcome: TrialOutcome) => {
      if (outcome.status === 'stopped') {
        store.finishTrial(row.id, 'pending', {event: 'stopped', eventMessage: `stopped after epoch ${outcome.epochs}; resumable from its checkpoint`});
        rep.trialEnd?.(row, 'stopped');
        return;
      }
      const status = outcome.status;
      traced('store-write', () => store.finishTrial(row.id, status, {error: outcome.error}));
      rep.trialEnd?.(row, outcome.status, outcome.error);
    };
    const onError = (row: TrialRow, err: Error) => {
      if (err instanceof TrialFailure && err.code && ENVIRONMENT_CODES.has(err.code)) {
        // Not the trial's fault: give it back (resumable) and stop the sweep with the real reason.
        store.finishTrial(row.id, 'pending', {event: 'stopped', eventMessage: err.message});
        failHard(err);
        return;
      }
      if (err instanceof WorkerCrash && stopping) {
        store.finishTrial(row.id, 'pending', {event: 'stopped', eventMessage: err.message});
        return;
      }
      if (err instanceof WorkerCrash) {
        // Only crashes count against resources.retries; stops and resumes do not.
        const crash = store.crashTrial(row.id, err.message, resources.retries);
        if (crash) rep.trialEnd?.(row, crash.outcome === 'retry' ? 'retry' : 'failed', err.message);
        return;
      }
      const message = err instanceof TrialFailure ? err.message : String(err?.stack ?? err);
      store.finishTrial(row.id, 'failed', {error: message});
      rep.trialEnd?.(row, 'failed', message);
    };

    let forcedAt: number | undefined;
    for (;;) {
      while (!stopping && free.length > 0) {
        const slot = free.shift()!;
        if (!startOne(slot)) {
          free.unshift(slot);
          break;
        }
      }
      if (running.size === 0) break;
      await new Promise<void>((resolve) => (wake = resolve));
      if (stopping && running.size > 0) {
        forcedAt ??= Date.now();
        if (Date.now() - forcedAt >= FORCE_AFTER_MS - 100) {
          // Running trials did not stop in time: give their leases back; they resume from the last checkpoint.
          for (const {row} of running.values()) {
            guard(() => store.finishTrial(row.id, 'pending', {event: 'stopped', eventMessage: 'did not stop in time; resumes from its last checkpoint'}))();
          }
          running.clear();
          break;
        }
      }
    }
    if (!stopping) await Promise.all(finished);
    if (fatal) throw fatal;
    const counts = store.counts(sweep.id);
    const complete = counts.pending === 0 && counts.running === 0;
    // Trials still `running` here belong to another live coordinator on the same database: not a failure of this run.
    store.setSweepStatus(sweep.id, complete ? 'done' : counts.running > 0 ? 'running' : 'incomplete');
    const signal = stopping === 'fatal' ? undefined : stopping;
    const exitCode = signal ? (signal === 'SIGINT' ? 130 : 143) : counts.failed > 0 || counts.pending > 0 ? 1 : 0;
    return {sweepId: sweep.id, name: plan.name, counts, signal, exitCode};
  } catch (e) {
    const code = (e as {code?: string}).code;
    if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') {
      throw new EnvironmentError('the disk is full', {hint: 'free some space and run the same command again; it resumes where it stopped'});
    }
    if (code === 'EACCES' || code === 'EROFS' || code === 'SQLITE_READONLY') {
      throw new EnvironmentError(`cannot write results: ${(e as Error).message}`, {hint: 'make the results folder writable or choose another with --db'});
    }
    throw e;
  } finally {
    for (const c of cleanups) c();
    const closeStart = now();
    await (executor ? executor.close() : closeExecutor(starting));
    traceSpan('pool-close', closeStart);
    store.close();
  }
}
