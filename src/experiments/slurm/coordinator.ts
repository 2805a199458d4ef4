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
import {ownerId, SLURM_OWNER, Store, type TrialRow} from '../../store/store';
import {parseStudy, type LoadedStudy, type StudyConfig} from '../config';
import type {TrialEvent} from '../trial';
import type {TrialSpec} from '../sweep';
import type {TrialJob} from '../worker-task';
import * as slurm from './commands';
import {attemptFolder, readEvents, readJson, trialFolder, writeAtomic, type DoneMarker, type Heartbeat, type RunEvent, type RunStatus} from './rundir';
import {jobScript, resourceOptions} from './script';
import type {SlurmSettings} from './settings';
import {FINAL_STATES, settle} from './settle';
import type {Manifest, ManifestTask} from './worker';

/** How long files may lag behind the queue on a shared filesystem before an unexplained end counts. */
const GRACE_MS = 30_000;
/** How long Ctrl-C waits for cancelled jobs to checkpoint and leave the queue. */
const CANCEL_WAIT_MS = 90_000;

/** What the coordinator tells the live display (the runner's reporter fits). */
export interface RunReporter {
  warn?(message: string): void;
  trialStart?(trial: TrialRow): void;
  trialEvent?(trial: TrialRow, event: TrialEvent): void;
  trialEnd?(trial: TrialRow, status: string, detail?: string): void;
  trialInfo?(trial: TrialRow, message: string): void;
  stopping?(signal: string): void;
}

export interface SlurmSweepRow {
  sweep_id: number;
  token: string;
  run_dir: string;
  coordinator: string | null;
  attached_at: number | null;
}

interface TaskRow {
  trial_id: number;
  attempt: number;
  submission_id: number;
  array_index: number;
  run_dir: string;
  state: string;
  reason: string | null;
  node: string | null;
  ingested: number;
  seq: number;
  outcome: string | null;
  ended_at: number | null;
  name: string;
  job_id: string | null;
}

export function slurmSweep(store: Store, sweepId: number): SlurmSweepRow | undefined {
  return store.db.prepare('SELECT * FROM slurm_sweeps WHERE sweep_id = ?').get(sweepId) as SlurmSweepRow | undefined;
}

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

export interface SlurmRunOptions {
  store: Store;
  sweepId: number;
  sweepName: string;
  settings: SlurmSettings;
  cluster: slurm.ClusterConfig;
  /** Folder for the sweep's run folders when the sweep is new on Slurm. */
  runDir: string;
  engine: TrialJob['engine'];
  threads: number;
  retries: number;
  reporter: RunReporter;
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
    private rep: RunReporter = {},
  ) {
    const row = slurmSweep(store, sweepId);
    if (!row) throw new Error(`sweep ${sweepId} has never run on Slurm`);
    this.row = row;
  }

  /** The sweep's Slurm record, created with a fresh token the first time. */
  static register(store: Store, sweepId: number, sweepName: string, baseDir: string): SlurmSweepRow {
    return store.tx(() => {
      const existing = slurmSweep(store, sweepId);
      if (existing) return existing;
      const token = randomBytes(4).toString('hex');
      const runDir = path.join(path.resolve(baseDir), `${sweepName}-${token}`);
      store.db.prepare('INSERT INTO slurm_sweeps (sweep_id, token, run_dir) VALUES (?, ?, ?)').run(sweepId, token, runDir);
      return slurmSweep(store, sweepId)!;
    });
  }

  /** Become the one process that settles this sweep's jobs; refused while another live one is attached. */
  attach(staleMs: number, opts: {quiet?: boolean} = {}): boolean {
    return this.store.tx(() => {
      const r = slurmSweep(this.store, this.sweepId)!;
      const me = ownerId();
      if (r.coordinator && r.coordinator !== me && this.alive(r, staleMs)) {
        if (opts.quiet) return false;
        throw new UsageError(`sweep ${this.sweepId} is followed by another ablate (${r.coordinator}); its jobs are in good hands`, {
          hint: `watch it with: ablate status ${this.sweepId}`,
        });
      }
      this.store.db.prepare('UPDATE slurm_sweeps SET coordinator = ?, attached_at = ? WHERE sweep_id = ?').run(me, Date.now(), this.sweepId);
      return true;
    });
  }

  private alive(r: SlurmSweepRow, staleMs: number): boolean {
    const [host, pid] = (r.coordinator ?? ':').split(':');
    if (host === os.hostname()) {
      try {
        process.kill(Number(pid), 0);
        return true;
      } catch (e) {
        return (e as NodeJS.ErrnoException).code === 'EPERM';
      }
    }
    return Date.now() - (r.attached_at ?? 0) < staleMs;
  }

  detachSelf(): void {
    this.store.tx(() => this.store.db.prepare('UPDATE slurm_sweeps SET coordinator = NULL WHERE sweep_id = ? AND coordinator = ?').run(this.sweepId, ownerId()));
  }

  touch(): void {
    this.store.tx(() => this.store.db.prepare('UPDATE slurm_sweeps SET attached_at = ? WHERE sweep_id = ? AND coordinator = ?').run(Date.now(), this.sweepId, ownerId()));
  }

  /** Pending trials that this process may submit (not those cancelled during this run). */
  submittable(): number {
    const rows = this.store.db.prepare("SELECT id FROM trials WHERE sweep_id = ? AND status = 'pending'").all(this.sweepId) as {id: number}[];
    return rows.filter((r) => !this.held.has(r.id)).length;
  }

  activeTasks(): TaskRow[] {
    return this.store.db
      .prepare(
        `SELECT t.*, s.name, s.job_id FROM slurm_tasks t JOIN slurm_submissions s ON s.id = t.submission_id
         WHERE s.sweep_id = ? AND t.outcome IS NULL AND s.state = 'submitted' ORDER BY t.trial_id`,
      )
      .all(this.sweepId) as TaskRow[];
  }

  private paths(name: string) {
    const dir = path.join(this.row.run_dir, 'submissions');
    return {manifest: path.join(dir, `${name}.json`), script: path.join(dir, `${name}.sh`), logs: path.join(this.row.run_dir, 'logs')};
  }

  // --- submission ------------------------------------------------------------------------------------

  /** Submit every pending trial (except those cancelled in this run), in arrays below MaxArraySize. */
  async submitPending(o: {settings: SlurmSettings; cluster: slurm.ClusterConfig; engine: TrialJob['engine']; threads: number}): Promise<string[]> {
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
  private prepare(size: number, o: {settings: SlurmSettings; engine: TrialJob['engine']; threads: number}): {id: number; name: string} | undefined {
    const held = [...this.held];
    const sub = this.store.tx(() => {
      const rows = this.store.db
        .prepare(
          `SELECT * FROM trials WHERE sweep_id = ? AND status = 'pending' ${held.length ? `AND id NOT IN (${held.map(() => '?').join(',')})` : ''} ORDER BY idx LIMIT ?`,
        )
        .all(this.sweepId, ...held, size) as TrialRow[];
      if (rows.length === 0) return undefined;
      const n = (this.store.db.prepare('SELECT count(*) AS n FROM slurm_submissions WHERE sweep_id = ?').get(this.sweepId) as {n: number}).n + 1;
      const name = `ablate-${this.row.token}-${n}`;
      const now = Date.now();
      const id = Number(
        this.store.db.prepare("INSERT INTO slurm_submissions (sweep_id, name, state, created_at) VALUES (?, ?, 'preparing', ?)").run(this.sweepId, name, now).lastInsertRowid,
      );
      const claim = this.store.db.prepare(
        `UPDATE trials SET status = 'running', owner = ?, slot = NULL, pid = NULL, attempt = attempt + 1, heartbeat_at = NULL,
           started_at = COALESCE(started_at, ?), error = NULL WHERE id = ? AND status = 'pending'`,
      );
      const task = this.store.db.prepare('INSERT INTO slurm_tasks (trial_id, attempt, submission_id, array_index, run_dir) VALUES (?, ?, ?, ?, ?)');
      rows.forEach((r, i) => {
        claim.run(SLURM_OWNER, now, r.id);
        task.run(r.id, r.attempt + 1, id, i, attemptFolder(this.row.run_dir, r.key, r.attempt + 1));
      });
      return {id, name};
    });
    if (sub) this.writeSubmission(sub, o);
    return sub;
  }

  /** Manifest and job script of a submission, from the store (also to redo them after a crash). */
  private writeSubmission(sub: {id: number; name: string}, o: {settings: SlurmSettings; engine: TrialJob['engine']; threads: number}, after?: string): void {
    const rows = this.store.db
      .prepare('SELECT t.*, tr.key, tr.spec_json FROM slurm_tasks t JOIN trials tr ON tr.id = t.trial_id WHERE t.submission_id = ? ORDER BY t.array_index')
      .all(sub.id) as (TaskRow & {key: string; spec_json: string})[];
    const tasks: ManifestTask[] = rows.map((r) => ({
      index: r.array_index,
      trialId: r.trial_id,
      key: r.key,
      attempt: r.attempt,
      dir: r.run_dir,
      job: {
        trialId: r.trial_id,
        spec: JSON.parse(r.spec_json) as TrialSpec,
        engine: o.engine,
        threads: o.threads,
        checkpointFile: path.join(trialFolder(this.row.run_dir, r.key), 'checkpoint.ckpt'),
      },
    }));
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
    if (after) this.writeSubmission(sub, {settings, ...this.jobDefaults(sub.id)}, after);
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
    this.abandon(sub.id, last);
    throw new EnvironmentError(`sbatch failed 3 times: ${last}`, {hint: 'the trials stay pending; fix the cluster problem and run ablate resume'});
  }

  private jobDefaults(subId: number): {engine: TrialJob['engine']; threads: number} {
    const m = readJson<Manifest>(this.paths(this.submissionName(subId)).manifest);
    return {engine: m?.tasks[0]?.job.engine ?? 'native-cpu', threads: m?.tasks[0]?.job.threads ?? 1};
  }

  private submissionName(id: number): string {
    return (this.store.db.prepare('SELECT name FROM slurm_submissions WHERE id = ?').get(id) as {name: string}).name;
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
    const tasks = this.store.db
      .prepare('SELECT t.run_dir FROM slurm_tasks t JOIN slurm_submissions s ON s.id = t.submission_id WHERE s.name = ?')
      .all(name) as {run_dir: string}[];
    for (const t of tasks) {
      const started = readEvents(t.run_dir, 0).events.find((e) => e.type === 'started');
      if (started && started.type === 'started') return started.job.split('_')[0];
    }
    return undefined;
  }

  private recordSubmitted(subId: number, jobId: string): void {
    this.store.tx(() => {
      this.store.db.prepare("UPDATE slurm_submissions SET job_id = ?, state = 'submitted', submitted_at = ? WHERE id = ?").run(jobId, Date.now(), subId);
      const tasks = this.store.db.prepare('SELECT trial_id, array_index FROM slurm_tasks WHERE submission_id = ?').all(subId) as {trial_id: number; array_index: number}[];
      const ev = this.store.db.prepare("INSERT INTO events (sweep_id, trial_id, at, kind, message) VALUES (?, ?, ?, 'submitted', ?)");
      for (const t of tasks) ev.run(this.sweepId, t.trial_id, Date.now(), `Slurm job ${jobId}_${t.array_index}`);
    });
    for (const t of this.store.db.prepare('SELECT trial_id, array_index FROM slurm_tasks WHERE submission_id = ?').all(subId) as {trial_id: number; array_index: number}[]) {
      this.rep.trialInfo?.(this.store.trial(t.trial_id), `submitted as Slurm job ${jobId}_${t.array_index}`);
    }
  }

  /** sbatch never took it: give the trials back. */
  private abandon(subId: number, why: string): void {
    this.store.tx(() => {
      this.store.db.prepare("UPDATE slurm_submissions SET state = 'abandoned' WHERE id = ?").run(subId);
      const tasks = this.store.db.prepare('SELECT trial_id FROM slurm_tasks WHERE submission_id = ?').all(subId) as {trial_id: number}[];
      this.store.db.prepare("UPDATE slurm_tasks SET outcome = 'unsubmitted', ended_at = ? WHERE submission_id = ?").run(Date.now(), subId);
      for (const t of tasks) {
        this.store.db.prepare("UPDATE trials SET status = 'pending', owner = NULL WHERE id = ? AND owner = ?").run(t.trial_id, SLURM_OWNER);
        this.store.db.prepare("INSERT INTO events (sweep_id, trial_id, at, kind, message) VALUES (?, ?, ?, 'unsubmitted', ?)").run(this.sweepId, t.trial_id, Date.now(), why);
      }
    });
  }

  /** Submissions a killed coordinator left between "recorded" and "sbatch answered": find them, or submit them now. */
  async recover(settings: SlurmSettings | undefined): Promise<void> {
    const open = this.store.db.prepare("SELECT id, name FROM slurm_submissions WHERE sweep_id = ? AND state = 'preparing'").all(this.sweepId) as {id: number; name: string}[];
    for (const sub of open) {
      const found = await this.findSubmitted(sub.name);
      if (found) this.recordSubmitted(sub.id, found);
      else if (settings) {
        const defaults = readJson<Manifest>(this.paths(sub.name).manifest) ? this.jobDefaults(sub.id) : undefined;
        if (!defaults) this.abandon(sub.id, 'its manifest was never written');
        else {
          this.writeSubmission(sub, {settings, ...defaults});
          await this.submitPrepared(sub, settings);
        }
      }
    }
  }

  // --- following ---------------------------------------------------------------------------------------

  /**
   * One look at the queue and the run folders: ingest what arrived and settle what ended.
   * `resubmit: false` (status, report) gives resubmittable trials back as pending instead of leaving that to a run.
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

  private follow(t: TaskRow, q: slurm.QueueEntry | undefined, queueKnown: boolean, o: {maxTimeouts: number; retries: number}): void {
    const id = `${t.job_id}_${t.array_index}`;
    const trial = this.store.trial(t.trial_id);
    // Where the task is.
    if (q && (q.state !== t.state || q.node !== (t.node ?? '') || q.reason !== (t.reason ?? ''))) {
      this.store.tx(() =>
        this.store.db.prepare('UPDATE slurm_tasks SET state = ?, reason = ?, node = ? WHERE trial_id = ? AND attempt = ?').run(q.state, q.reason, q.node || null, t.trial_id, t.attempt),
      );
      if (q.state === 'PENDING' && t.state !== 'PENDING') this.rep.trialInfo?.(trial, `waiting in the queue as job ${id}${q.reason && q.reason !== 'None' ? ` (${q.reason})` : ''}`);
    }
    // What it wrote.
    const {events, offset} = readEvents(t.run_dir, t.ingested);
    const fresh = events.filter((e) => e.seq > t.seq);
    if (fresh.length > 0 || offset !== t.ingested) {
      this.ingest(t, trial, fresh, offset);
      t.seq = Math.max(t.seq, ...fresh.map((e) => e.seq));
    }
    const hb = readJson<Heartbeat>(path.join(t.run_dir, 'heartbeat.json'));
    if (hb && trial.status === 'running' && this.announced.has(id) && hb.steps > 0) {
      this.rep.trialEvent?.(trial, {type: 'progress', epoch: hb.epoch, step: hb.step, steps: hb.steps, loss: hb.loss, imagesPerSec: hb.imagesPerSec});
      if (hb.at > (trial.heartbeat_at ?? 0)) this.store.tx(() => this.store.db.prepare('UPDATE trials SET heartbeat_at = ? WHERE id = ?').run(hb.at, trial.id));
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
      this.store.tx(() => this.store.db.prepare('UPDATE slurm_tasks SET ended_at = ? WHERE trial_id = ? AND attempt = ?').run(firstFinal, t.trial_id, t.attempt));
    }
    const past = this.store.db.prepare("SELECT outcome, count(*) AS n FROM slurm_tasks WHERE trial_id = ? AND outcome IS NOT NULL GROUP BY outcome").all(t.trial_id) as {outcome: string; n: number}[];
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
    const end = (trialStatus: 'pending' | 'done' | 'diverged' | 'failed', outcome: string, event: string, message: string | undefined, error?: string) =>
      this.store.tx(() => {
        this.store.db.prepare('UPDATE slurm_tasks SET outcome = ?, ended_at = ?, state = ? WHERE trial_id = ? AND attempt = ?').run(outcome, Date.now(), state ?? t.state, t.trial_id, t.attempt);
        this.store.finishTrial(t.trial_id, trialStatus, {error, event, eventMessage: message});
      });
    if (s.kind === 'finish') {
      end(s.status, s.outcome, s.status, s.error, s.error);
      this.rep.trialEnd?.(trial, s.status, s.error);
    } else if (s.kind === 'resubmit') {
      end('pending', s.outcome, s.outcome, s.message);
      this.rep.trialEnd?.(trial, s.outcome, s.message);
    } else {
      end('pending', 'cancelled', 'cancelled', s.message);
      this.held.add(t.trial_id);
      this.rep.trialEnd?.(trial, 'cancelled');
    }
    this.announced.delete(id);
  }

  /** New events of one attempt, with the read position, in one transaction: read once, stored once. */
  private ingest(t: TaskRow, trial: TrialRow, events: RunEvent[], offset: number): void {
    const id = `${t.job_id}_${t.array_index}`;
    const seq = Math.max(t.seq, ...events.map((e) => e.seq));
    this.store.tx(() => {
      for (const e of events) {
        if (e.type === 'epoch') this.store.recordEpochs(t.trial_id, [e.row]);
        else if (e.type === 'started') {
          this.store.db.prepare('UPDATE trials SET pid = ?, heartbeat_at = ? WHERE id = ?').run(e.pid, e.at, t.trial_id);
          this.store.db.prepare('UPDATE slurm_tasks SET node = ? WHERE trial_id = ? AND attempt = ?').run(e.node, t.trial_id, t.attempt);
          this.store.event(this.sweepId, t.trial_id, 'started', `attempt ${t.attempt} on node ${e.node} as Slurm job ${e.job}${e.restart ? ` (restart ${e.restart})` : ''}`);
          if (e.device !== null) this.store.event(this.sweepId, t.trial_id, 'device', `CUDA_VISIBLE_DEVICES=${e.device}`);
        } else if (e.type === 'stopped') {
          this.store.event(this.sweepId, t.trial_id, 'stopped', `${e.signal}: ${e.reason} after epoch ${e.epochs}; checkpointed`);
        }
      }
      this.store.db.prepare('UPDATE slurm_tasks SET ingested = ?, seq = ? WHERE trial_id = ? AND attempt = ?').run(offset, seq, t.trial_id, t.attempt);
    });
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
      } else if (e.type === 'engine' && e.engine.warning && !this.warnedEngine) {
        this.warnedEngine = true;
        this.rep.warn?.(e.engine.warning);
      }
    }
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
  if (o.handleSignals && !o.detach) {
    const onInt = () => requestStop('SIGINT');
    const onTerm = () => requestStop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    cleanups.push(() => process.off('SIGINT', onInt), () => process.off('SIGTERM', onTerm));
  }
  if (o.abort) {
    const onAbort = () => requestStop('SIGTERM');
    o.abort.addEventListener('abort', onAbort);
    cleanups.push(() => o.abort!.removeEventListener('abort', onAbort));
  }
  const submitOpts = {settings: o.settings, cluster: o.cluster, engine: o.engine, threads: o.threads};
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
  const hasTable = store.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'slurm_sweeps'").get();
  if (!hasTable) return;
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
