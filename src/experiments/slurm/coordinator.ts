/**
 * The Slurm executor's coordinator. It submits pending trials as job arrays (one task per trial, chunks
 * below MaxArraySize, a manifest written before sbatch), then follows them with one squeue call per poll,
 * ingests each attempt's run folder into the local store, and settles ended attempts: results are stored,
 * time-outs and preemptions are resubmitted, cancellations wait for the next run. The jobs do not need the
 * coordinator: killed, detached or attached again later, it picks up from what the store and the run
 * folders say, and a submission is never repeated once Slurm has it.
 */
import {randomBytes} from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {ConfigError, didYouMean, EnvironmentError, UsageError} from '../../errors';
import {Store, type SlurmIngest, type SlurmSweepRow, type SlurmTaskRow, type TrialRow} from '../../store/store';
import {parseStudy, type LoadedStudy, type StudyConfig} from '../config';
import type {TrialReporter} from '../reporter';
import type {TrialSpec} from '../sweep';
import {checkpointPath} from '../checkpoint';
import {listenForStop} from '../stop';
import * as slurm from './commands';
import {attemptFolder, checkpointFolder, readEvents, readJson, writeAtomic, type DoneMarker, type Heartbeat, type RunEvent, type RunStatus} from './rundir';
import {jobScript, resourceOptions} from './script';
import type {SlurmSettings} from './settings';
import {FINAL_STATES, settle} from './settle';
import type {Manifest, ManifestTask, SlurmJob} from './worker';

/** How long files may lag behind the queue on a shared filesystem before an unexplained end counts. */
const GRACE_MS = 30_000;
/** How long Ctrl-C waits for cancelled jobs to checkpoint and leave the queue. */
const CANCEL_WAIT_MS = 90_000;

function mapSlurmError(e: unknown): never {
  if (e instanceof slurm.SlurmCommandError && e.kind === 'missing') throw slurm.missingClient(e.message.split(' ')[0]);
  throw e;
}

/**
 * Checks before anything is written: the client commands exist, the partition exists, and sbatch accepts
 * the study's settings (`sbatch --test-only`, which submits nothing).
 */
export async function preflight(study: LoadedStudy, settings: SlurmSettings): Promise<slurm.ClusterConfig> {
  try {
    const cluster = await slurm.clusterConfig();
    if (settings.partition) {
      const known = await slurm.partitions();
      if (!known.includes(settings.partition)) {
        throw new ConfigError(study.file, [{
          path: 'slurm.partition',
          message: `the cluster has no partition "${settings.partition}"${didYouMean(settings.partition, known)}; it has: ${known.join(', ')}`,
          ...study.locate(['slurm', 'partition']),
        }]);
      }
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-sbatch-'));
    try {
      const script = path.join(dir, 'probe.sh');
      fs.writeFileSync(script, jobScript({name: 'ablate-probe', size: 1, settings, logDir: dir, manifest: path.join(dir, 'none.json')}));
      const r = await slurm.slurmCommand('sbatch', ['--test-only', script], 60_000);
      if (r.code !== 0) {
        const said = (r.stderr || r.stdout).trim().split('\n').filter((l) => !/to start at/.test(l)).join('; ');
        throw new UsageError(`Slurm refuses the study's slurm settings (${resourceOptions(settings).join(' ') || 'defaults'}): ${said}`, {
          hint: `fix the slurm section of ${study.file}; nothing was submitted`,
        });
      }
    } finally {
      fs.rmSync(dir, {recursive: true, force: true});
    }
    return cluster;
  } catch (e) {
    return mapSlurmError(e);
  }
}

/** The parts of a trial job that are the same for every task of a sweep. */
export type JobOptions = Pick<SlurmJob, 'engine' | 'threads' | 'autotune' | 'dataDir' | 'torch'>;

export interface SlurmRunOptions {
  store: Store;
  sweepId: number;
  sweepName: string;
  settings: SlurmSettings;
  cluster: slurm.ClusterConfig;
  /** Folder for the sweep's run folders when the sweep is new on Slurm. */
  runDir: string;
  /** What every task's trial runs with (the checkpoint and its identity are per task). */
  job: JobOptions;
  retries: number;
  reporter: TrialReporter;
  detach?: boolean;
  handleSignals?: boolean;
  abort?: AbortSignal;
}

export interface SlurmRunResult {
  signal?: 'SIGINT' | 'SIGTERM';
  /** Array job ids submitted by this call (with --detach). */
  submitted: string[];
}

const sleep = (ms: number, wakeUp: (w: () => void) => void) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    wakeUp(() => {
      clearTimeout(t);
      resolve();
    });
  });

/** One sweep on Slurm, as seen by one ablate process. */
export class SlurmSweep {
  readonly row: SlurmSweepRow;
  private finalSeen = new Map<string, number>();
  private announced = new Set<string>();
  /** Trials cancelled during this run: resumable, but not resubmitted before the next run. */
  private held = new Set<number>();
  private warnedQueue = false;
  private warnedEngine = false;

  constructor(
    readonly store: Store,
    readonly sweepId: number,
    private rep: TrialReporter = {},
  ) {
    const row = store.slurmSweep(sweepId);
    if (!row) throw new Error(`sweep ${sweepId} has never run on Slurm`);
    this.row = row;
  }

  /** The sweep's Slurm record, created with a fresh token the first time. */
  static register(store: Store, sweepId: number, sweepName: string, baseDir: string): SlurmSweepRow {
    return store.registerSlurmSweep(sweepId, () => {
      const token = randomBytes(4).toString('hex');
      return {token, runDir: path.join(path.resolve(baseDir), `${sweepName}-${token}`)};
    });
  }

  /** Become the one process that settles this sweep's jobs; refused while another live one is attached. */
  attach(staleMs: number, opts: {quiet?: boolean} = {}): boolean {
    const r = this.store.attachSlurm(this.sweepId, staleMs);
    if (r.attached || opts.quiet) return r.attached;
    throw new UsageError(`sweep ${this.sweepId} is followed by another ablate (${r.holder}); its jobs are in good hands`, {
      hint: `watch it with: ablate status ${this.sweepId}`,
    });
  }

  detachSelf(): void {
    this.store.detachSlurm(this.sweepId);
  }

  touch(): void {
    this.store.touchSlurm(this.sweepId);
  }

  /** Pending trials that this process may submit (not those cancelled during this run). */
  submittable(): number {
    const rows = this.store.db.prepare("SELECT id FROM trials WHERE sweep_id = ? AND status = 'pending'").all(this.sweepId) as {id: number}[];
    return rows.filter((r) => !this.held.has(r.id)).length;
  }

  activeTasks(): SlurmTaskRow[] {
    return this.store.activeSlurmTasks(this.sweepId);
  }

  private paths(name: string) {
    const dir = path.join(this.row.run_dir, 'submissions');
    return {manifest: path.join(dir, `${name}.json`), script: path.join(dir, `${name}.sh`), logs: path.join(this.row.run_dir, 'logs')};
  }

  // --- submission ------------------------------------------------------------------------------------

  /** Submit every pending trial (except those cancelled in this run), in arrays below MaxArraySize. */
  async submitPending(o: {settings: SlurmSettings; cluster: slurm.ClusterConfig; job: JobOptions}): Promise<string[]> {
    const submitted: string[] = [];
    let previous: string | undefined;
    for (;;) {
      const sub = this.prepare(Math.max(1, o.cluster.maxArraySize), o);
      if (!sub) return submitted;
      // With a throttle, arrays run one after another, so that max_parallel holds for the whole sweep.
      const jobId = await this.submitPrepared(sub, o.settings, o.settings.max_parallel ? previous : undefined);
      submitted.push(jobId);
      previous = jobId;
    }
  }

  /** Lease up to `size` pending trials to a new submission and write its manifest and job script. */
  private prepare(size: number, o: {settings: SlurmSettings; job: JobOptions}): {id: number; name: string} | undefined {
    const sub = this.store.prepareSlurmSubmission(this.sweepId, {
      size,
      exclude: [...this.held],
      folder: (key, attempt) => attemptFolder(this.row.run_dir, key, attempt),
    });
    if (sub) this.writeSubmission(sub, o);
    return sub;
  }

  /**
   * Manifest and job script of a submission, from the store (also to redo them after a crash). Each task's
   * checkpoint is filed under the trial's identity (store, sweep, trial key) in the sweep's run folder, and
   * the identity goes with the job, so that the trial writes it into the checkpoint and checks it on load.
   */
  private writeSubmission(sub: {id: number; name: string}, o: {settings: SlurmSettings; job: JobOptions}, after?: string): void {
    const tasks: ManifestTask[] = this.store.slurmSubmissionTasks(sub.id).map((r) => {
      const identity = {store: this.store.id, sweep: this.sweepId, trial: r.key};
      return {
        index: r.array_index,
        trialId: r.trial_id,
        key: r.key,
        attempt: r.attempt,
        dir: r.run_dir,
        job: {
          trialId: r.trial_id,
          spec: JSON.parse(r.spec_json) as TrialSpec,
          ...o.job,
          checkpointFile: checkpointPath(checkpointFolder(this.row.run_dir), identity),
          checkpointIdentity: identity,
        },
      };
    });
    const p = this.paths(sub.name);
    fs.mkdirSync(path.dirname(p.manifest), {recursive: true});
    fs.mkdirSync(p.logs, {recursive: true});
    writeAtomic(p.manifest, JSON.stringify({name: sub.name, tasks} satisfies Manifest, null, 1));
    writeAtomic(p.script, jobScript({name: sub.name, size: tasks.length, settings: o.settings, logDir: p.logs, manifest: p.manifest, after}));
  }

  /**
   * sbatch, retried on failure or timeout only once the job is known not to be in the queue; a kill
   * between sbatch and the record is caught by `recover` the same way.
   */
  private async submitPrepared(sub: {id: number; name: string}, settings: SlurmSettings, after?: string): Promise<string> {
    if (after) this.writeSubmission(sub, {settings, job: this.jobOptions(sub.name)!}, after);
    const {script} = this.paths(sub.name);
    let last = '';
    for (let attempt = 1; attempt <= 3; attempt++) {
      let r: slurm.CommandResult | undefined;
      try {
        r = await slurm.sbatch(script);
      } catch (e) {
        if (e instanceof slurm.SlurmCommandError && e.kind === 'missing') mapSlurmError(e);
        last = (e as Error).message;
      }
      const jobId = r && r.code === 0 ? slurm.parseJobId(r.stdout) : undefined;
      if (r && !jobId) last = `sbatch exited ${r.code}: ${(r.stderr || r.stdout).trim()}`;
      if (jobId && process.env.ABLATE_FAILPOINT === 'slurm-submitted') process.kill(process.pid, 'SIGKILL');
      const found = jobId ?? (await this.findSubmitted(sub.name));
      if (found) {
        this.recordSubmitted(sub.id, found);
        return found;
      }
      if (attempt < 3) await new Promise((res) => setTimeout(res, 1000 * 4 ** (attempt - 1)));
    }
    this.store.abandonSlurmSubmission(sub.id, last);
    throw new EnvironmentError(`sbatch failed 3 times: ${last}`, {hint: 'the trials stay pending; fix the cluster problem and run ablate resume'});
  }

  /** The job options a submission's manifest was written with (undefined when it never was). */
  private jobOptions(name: string): JobOptions | undefined {
    const job = readJson<Manifest>(this.paths(name).manifest)?.tasks[0]?.job;
    return job && {engine: job.engine, threads: job.threads, autotune: job.autotune, dataDir: job.dataDir, torch: job.torch};
  }

  /** The array job id of a submission Slurm did receive: from the queue, or from a task that already ran. */
  private async findSubmitted(name: string): Promise<string | undefined> {
    try {
      const q = await slurm.queue([name]);
      if (q.length > 0) return q[0].arrayJobId;
    } catch (e) {
      if (e instanceof slurm.SlurmCommandError && e.kind === 'missing') mapSlurmError(e);
      // The queue cannot be asked: only the run folders can prove it ran.
    }
    const sub = this.store.preparingSlurmSubmissions(this.sweepId).find((s) => s.name === name);
    for (const t of sub ? this.store.slurmSubmissionTasks(sub.id) : []) {
      const started = readEvents(t.run_dir, 0).events.find((e) => e.type === 'started');
      if (started && started.type === 'started') return started.job.split('_')[0];
    }
    return undefined;
  }

  private recordSubmitted(subId: number, jobId: string): void {
    if (!this.store.recordSlurmSubmitted(subId, jobId)) return;
    for (const t of this.store.slurmSubmissionTasks(subId)) {
      this.rep.trialInfo?.(this.store.trial(t.trial_id), `submitted as Slurm job ${jobId}_${t.array_index}`);
    }
  }

  /** Submissions a killed coordinator left between "recorded" and "sbatch answered": find them, or submit them now. */
  async recover(settings: SlurmSettings | undefined): Promise<void> {
    for (const sub of this.store.preparingSlurmSubmissions(this.sweepId)) {
      const found = await this.findSubmitted(sub.name);
      if (found) this.recordSubmitted(sub.id, found);
      else if (settings) {
        const job = this.jobOptions(sub.name);
        if (!job) this.store.abandonSlurmSubmission(sub.id, 'its manifest was never written');
        else {
          this.writeSubmission(sub, {settings, job});
          await this.submitPrepared(sub, settings);
        }
      }
    }
  }

  // --- following ---------------------------------------------------------------------------------------

  /**
   * One look at the queue and the run folders: ingest what arrived and settle what ended. Trials to run again
   * go back to pending; submitting them is left to the caller (a run does, status and report do not).
   */
  async poll(o: {maxTimeouts: number; retries: number; accounting: boolean}): Promise<{queueKnown: boolean}> {
    const tasks = this.activeTasks();
    if (tasks.length === 0) return {queueKnown: true};
    let entries: slurm.QueueEntry[] | undefined;
    try {
      entries = await slurm.queue([...new Set(tasks.map((t) => t.name))]);
      const known = new Set(entries.map((e) => `${e.arrayJobId}_${e.index}`));
      const missing = [...new Set(tasks.filter((t) => !known.has(`${t.job_id}_${t.array_index}`)).map((t) => t.job_id!))];
      if (o.accounting && missing.length > 0) entries.push(...(await slurm.sacct(missing)));
      this.warnedQueue = false;
    } catch (e) {
      if (e instanceof slurm.SlurmCommandError && e.kind === 'missing') mapSlurmError(e);
      if (!this.warnedQueue) this.rep.warn?.(`cannot read the Slurm queue (${(e as Error).message}); results keep arriving through the run folders`);
      this.warnedQueue = true;
      entries = undefined;
    }
    const byTask = new Map(entries?.map((e) => [`${e.arrayJobId}_${e.index}`, e]));
    for (const t of tasks) {
      const q = entries ? byTask.get(`${t.job_id}_${t.array_index}`) : undefined;
      this.follow(t, q, entries !== undefined, o);
    }
    return {queueKnown: entries !== undefined};
  }

  private follow(t: SlurmTaskRow, q: slurm.QueueEntry | undefined, queueKnown: boolean, o: {maxTimeouts: number; retries: number}): void {
    const id = `${t.job_id}_${t.array_index}`;
    const trial = this.store.trial(t.trial_id);
    // Where the task is.
    if (q && (q.state !== t.state || q.node !== (t.node ?? '') || q.reason !== (t.reason ?? ''))) {
      this.store.recordSlurmTaskState(t, {state: q.state, reason: q.reason, node: q.node || null});
      if (q.state === 'PENDING' && t.state !== 'PENDING') this.rep.trialInfo?.(trial, `waiting in the queue as job ${id}${q.reason && q.reason !== 'None' ? ` (${q.reason})` : ''}`);
    }
    // What it wrote.
    const {events, offset} = readEvents(t.run_dir, t.ingested);
    const fresh = events.filter((e) => e.seq > t.seq);
    if ((fresh.length > 0 || offset !== t.ingested) && this.ingest(t, trial, fresh, offset)) {
      t.seq = Math.max(t.seq, ...fresh.map((e) => e.seq));
      t.ingested = offset;
    }
    const hb = readJson<Heartbeat>(path.join(t.run_dir, 'heartbeat.json'));
    if (hb && trial.status === 'running' && this.announced.has(id) && hb.steps > 0) {
      this.rep.trialEvent?.(trial, {type: 'progress', epoch: hb.epoch, step: hb.step, steps: hb.steps, loss: hb.loss, imagesPerSec: hb.imagesPerSec});
      if (hb.at > (trial.heartbeat_at ?? 0)) this.store.recordSlurmHeartbeat(t, hb.at);
    }
    // Whether it ended.
    const state = queueKnown ? q?.state : (t.state === 'SUBMITTED' ? 'PENDING' : t.state);
    const done = readJson<DoneMarker>(path.join(t.run_dir, 'done.json'));
    if (!queueKnown && !done) return;
    const final = state === undefined || FINAL_STATES.has(state);
    let firstFinal = this.finalSeen.get(id) ?? t.ended_at ?? undefined;
    if (final && firstFinal === undefined) {
      firstFinal = Date.now();
      this.finalSeen.set(id, firstFinal);
      this.store.recordSlurmTaskFinal(t, firstFinal);
    }
    const past = this.store.slurmOutcomes(t.trial_id);
    const count = (...names: string[]) => past.filter((p) => names.includes(p.outcome)).reduce((a, p) => a + p.n, 0);
    const s = settle({
      state,
      done,
      status: readJson<RunStatus>(path.join(t.run_dir, 'status.json')),
      seq: t.seq,
      finalForMs: final ? Date.now() - firstFinal! : 0,
      graceMs: GRACE_MS,
      timeouts: count('timeout'),
      maxTimeouts: o.maxTimeouts,
      crashes: count('node_fail', 'lost'),
      retries: o.retries,
    });
    if (s.kind === 'wait') return;
    const end = (status: 'pending' | 'done' | 'diverged' | 'failed', outcome: string, event: string, eventMessage: string | undefined, error?: string) =>
      this.store.settleSlurmTask(t, {outcome, state: state ?? t.state, status, crash: outcome === 'node_fail' || outcome === 'lost', error, event, eventMessage});
    if (s.kind === 'finish') {
      if (end(s.status, s.outcome, s.status, s.error, s.error)) this.rep.trialEnd?.(trial, s.status, s.error);
    } else if (s.kind === 'resubmit') {
      if (end('pending', s.outcome, s.outcome, s.message)) this.rep.trialEnd?.(trial, s.outcome, s.message);
    } else if (end('pending', 'cancelled', 'cancelled', s.message)) {
      this.held.add(t.trial_id);
      this.rep.trialEnd?.(trial, 'cancelled');
    }
    this.announced.delete(id);
  }

  /**
   * New events of one attempt, with the read position, in one transaction: read once, stored once. Returns
   * false when the store took none of it (the attempt was settled, or another ablate follows the sweep now).
   */
  private ingest(t: SlurmTaskRow, trial: TrialRow, events: RunEvent[], offset: number): boolean {
    const id = `${t.job_id}_${t.array_index}`;
    const batch: SlurmIngest = {offset, seq: Math.max(t.seq, ...events.map((e) => e.seq)), epochs: [], events: []};
    const note = (kind: string, message: string | null) => batch.events.push({kind, message});
    for (const e of events) {
      if (e.type === 'epoch') batch.epochs.push(e.row);
      else if (e.type === 'started') {
        batch.started = {pid: e.pid, at: e.at, node: e.node};
        note('started', `attempt ${t.attempt} on node ${e.node} as Slurm job ${e.job}${e.restart ? ` (restart ${e.restart})` : ''}`);
        if (e.device !== null) note('device', `CUDA_VISIBLE_DEVICES=${e.device}`);
      } else if (e.type === 'engine') batch.engine = {pid: e.pid, engine: e.engine};
      else if (e.type === 'resumed') note('resumed', `from its checkpoint after ${e.epoch} epoch(s) and ${e.step} step(s) of the next`);
      else if (e.type === 'checkpoint-ignored') note('checkpoint-ignored', e.reason);
      else if (e.type === 'stopped') note('stopped', `${e.signal}: ${e.reason} after epoch ${e.epochs}; checkpointed`);
    }
    const stored = this.store.ingestSlurm(t, t.ingested, batch);
    if (!stored) return false;
    for (const e of events) {
      if (e.type === 'started') {
        if (!this.announced.has(id)) this.rep.trialStart?.(trial);
        this.announced.add(id);
        this.rep.trialInfo?.(trial, `running on ${e.node} as job ${e.job}${e.restart ? ` (restart ${e.restart}, from its checkpoint)` : ''}`);
      } else if (e.type === 'epoch') {
        if (!this.announced.has(id)) this.rep.trialStart?.(trial);
        this.announced.add(id);
        this.rep.trialEvent?.(trial, {type: 'epoch', row: e.row});
      } else if (e.type === 'stopped') {
        this.rep.trialInfo?.(trial, `stopped (${e.reason}) after epoch ${e.epochs}; checkpointed`);
      } else if (e.type === 'checkpoint-ignored') {
        this.rep.warn?.(e.reason);
      } else if (e.type === 'engine' && e.engine.warning && !this.warnedEngine) {
        this.warnedEngine = true;
        this.rep.warn?.(e.engine.warning);
      }
    }
    if (stored.mixed.length > 0 && batch.engine) {
      this.rep.warn?.(`trial ${trial.id} runs on ${batch.engine.engine.name}, but its variant (or an earlier attempt of it) ran on ${stored.mixed.join(', ')}; ablate report marks the variant`);
    }
    return true;
  }

  /** One batched scancel of every job of the sweep that is still active. */
  async cancelAll(): Promise<void> {
    const jobs = [...new Set(this.activeTasks().map((t) => `${t.job_id}_${t.array_index}`))];
    try {
      await slurm.scancel(jobs);
    } catch (e) {
      this.rep.warn?.(`scancel failed (${(e as Error).message}); the jobs may still run: scancel ${jobs.join(' ')}`);
    }
  }
}

/**
 * Run a sweep's pending trials on Slurm and follow them to the end (or only submit, with `detach`).
 * The caller has recorded the sweep and its trials.
 */
export async function runOnSlurm(o: SlurmRunOptions): Promise<SlurmRunResult> {
  SlurmSweep.register(o.store, o.sweepId, o.sweepName, o.runDir);
  const sweep = new SlurmSweep(o.store, o.sweepId, o.reporter);
  const pollMs = o.settings.poll_seconds * 1000;
  sweep.attach(Math.max(60_000, 3 * pollMs));
  const rep = o.reporter;
  const cleanups: (() => void)[] = [];
  let stopping: 'SIGINT' | 'SIGTERM' | undefined;
  let wake = () => undefined as void;
  const requestStop = (signal: 'SIGINT' | 'SIGTERM') => {
    if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
    stopping = signal;
    rep.stopping?.(signal);
    o.store.event(o.sweepId, null, 'signal', `${signal}: cancelling the sweep's Slurm jobs; they checkpoint and the next run resumes them`);
    wake();
  };
  // With --detach nothing is followed, so there is nothing for Ctrl-C to cancel.
  cleanups.push(listenForStop({handleSignals: o.handleSignals && !o.detach, abort: o.abort}, requestStop));
  const submitOpts = {settings: o.settings, cluster: o.cluster, job: o.job};
  const follow = {maxTimeouts: o.settings.max_timeouts, retries: o.retries, accounting: o.cluster.accounting};
  const submitted: string[] = [];
  try {
    await sweep.recover(o.settings);
    if (o.detach) {
      submitted.push(...(await sweep.submitPending(submitOpts)));
      await sweep.poll(follow);
      return {submitted};
    }
    let delay = pollMs;
    let cancelledAt: number | undefined;
    for (;;) {
      if (!stopping) submitted.push(...(await sweep.submitPending(submitOpts)));
      if (stopping && cancelledAt === undefined) {
        cancelledAt = Date.now();
        await sweep.cancelAll();
      }
      const {queueKnown} = await sweep.poll(follow);
      sweep.touch();
      if (sweep.activeTasks().length === 0) {
        // Settled attempts may have given trials back for resubmission: submit them, unless stopping.
        if (stopping || sweep.submittable() === 0) break;
        continue;
      }
      if (cancelledAt !== undefined && Date.now() - cancelledAt > CANCEL_WAIT_MS) {
        rep.warn?.('cancelled jobs have not left the queue yet; the next ablate run or status settles them');
        break;
      }
      // Back off while the queue cannot be read; poll faster while cancelled jobs wind down.
      delay = !queueKnown ? Math.min(delay * 2, Math.max(pollMs, 300_000)) : stopping ? Math.min(pollMs, 1000) : pollMs;
      await sleep(delay, (w) => (wake = w));
    }
    return {signal: stopping, submitted};
  } finally {
    for (const c of cleanups) c();
    sweep.detachSelf();
  }
}

/**
 * For `status` and `report`: ingest what the jobs of every Slurm sweep wrote since the last look, and settle
 * what ended, unless a coordinator is attached (it does that itself). Submits nothing.
 */
export async function syncSlurm(store: Store): Promise<void> {
  const sweeps = store.db
    .prepare(
      `SELECT DISTINCT s.sweep_id FROM slurm_sweeps s JOIN slurm_submissions sub ON sub.sweep_id = s.sweep_id
       JOIN slurm_tasks t ON t.submission_id = sub.id WHERE t.outcome IS NULL`,
    )
    .all() as {sweep_id: number}[];
  let cluster: slurm.ClusterConfig | undefined;
  for (const {sweep_id} of sweeps) {
    const sweep = new SlurmSweep(store, sweep_id);
    if (!sweep.attach(60_000, {quiet: true})) continue;
    try {
      try {
        cluster ??= await slurm.clusterConfig();
      } catch {
        cluster = {maxArraySize: 1001, accounting: false};
      }
      await sweep.recover(undefined);
      const yaml = (store.db.prepare('SELECT config_yaml FROM sweeps WHERE id = ?').get(sweep_id) as {config_yaml: string}).config_yaml;
      let config: StudyConfig | undefined;
      try {
        config = parseStudy(yaml).config;
      } catch {
        // A study saved by another version: the defaults below apply.
      }
      await sweep.poll({
        maxTimeouts: config?.slurm?.max_timeouts ?? 3,
        retries: config?.resources.retries ?? 1,
        accounting: cluster.accounting,
      }).catch((e) => {
        if (e instanceof EnvironmentError) return {queueKnown: false};
        throw e;
      });
    } finally {
      sweep.detachSelf();
    }
  }
}
