/**
 * Writes of the coordinator: sweeps, trials, leases, heartbeats, epoch rows, events.
 * Every write is one `BEGIN IMMEDIATE` transaction, so two coordinators on one database serialise
 * instead of failing with "database is locked", and a lease is taken with compare-and-set.
 */
import * as os from 'node:os';
import {openDb, storeId, type Db, type TrialStatus} from './db';
import {UsageError} from '../errors';

export interface SweepRow {
  id: number;
  name: string;
  config_path: string | null;
  config_yaml: string;
  config_hash: string;
  created_at: number;
  status: string;
  smoke: number;
  /** The engine the sweep trains on (asked for); null for sweeps stored before engines were recorded. */
  engine: string | null;
}

export interface TrialRow {
  id: number;
  sweep_id: number;
  key: string;
  idx: number;
  variant_json: string;
  seed: number;
  spec_json: string;
  status: TrialStatus;
  /** Times the trial was started (claimed), resumes included. */
  attempt: number;
  /** Times its worker crashed; `resources.retries` bounds these. */
  crashes: number;
  slot: number | null;
  pid: number | null;
  owner: string | null;
  heartbeat_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  error: string | null;
  params: number | null;
  macs: number | null;
  /** The engine that ran it (after any fallback) and that engine's description as JSON. */
  engine: string | null;
  engine_json: string | null;
}

/**
 * What an engine says about itself (its `engine` event): stored whole, as JSON, so that every engine fits
 * without schema changes; only the name of the engine that actually ran has a column of its own.
 */
export interface EngineRecord {
  name: string;
}

export interface NewTrial {
  key: string;
  idx: number;
  variant: Record<string, unknown>;
  seed: number;
  spec: unknown;
  params: number;
  macs: number;
}

export interface EpochRow {
  epoch: number;
  train_loss: number | null;
  train_err: number | null;
  test_loss: number | null;
  test_err: number | null;
  lr: number | null;
  seconds: number | null;
  images_per_sec: number | null;
}

/** Lease holder of trials submitted to Slurm: any coordinator attached to the sweep may settle them. */
export const SLURM_OWNER = 'slurm';

export interface SlurmSweepRow {
  sweep_id: number;
  token: string;
  run_dir: string;
  coordinator: string | null;
  attached_at: number | null;
}

/** One attempt of a trial on Slurm. */
export interface SlurmTaskKey {
  trial_id: number;
  attempt: number;
}

export interface SlurmTaskRow extends SlurmTaskKey {
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
  /** The submission's job name and array job id. */
  name: string;
  job_id: string | null;
}

/** What one read of an attempt's run folder brings (see Store.ingestSlurm). */
export interface SlurmIngest {
  /** The read position after this batch: bytes of events.jsonl, last sequence number. */
  offset: number;
  seq: number;
  epochs: EpochRow[];
  /** The attempt started (or Slurm restarted it) on a node. */
  started?: {pid: number; at: number; node: string};
  /** The engine that ran it. */
  engine?: {pid: number; engine: EngineRecord};
  events: {kind: string; message: string | null}[];
}

/** Identity of this coordinator: host and pid, so a dead owner on this host is detected, not guessed. */
export function ownerId(pid = process.pid): string {
  return `${os.hostname()}:${pid}`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the holder `host:pid` of a lease is gone: its process no longer exists on this host, or (another
 * host) its last sign of life is older than `staleMs`.
 */
function holderGone(holder: string | null, lastSeen: number | null, staleMs: number, now = Date.now()): boolean {
  const [host, pid] = (holder ?? ':').split(':');
  return host === os.hostname() ? !isAlive(Number(pid)) : now - (lastSeen ?? 0) > staleMs;
}

/**
 * ABLATE_FAILPOINT=commit:K kills this process with SIGKILL inside the K-th write transaction, before it
 * commits — the fault-injection tests walk K to prove that a crash at any commit loses nothing.
 */
function failpoint(): {commitsLeft: number} | undefined {
  const m = /^commit:(\d+)$/.exec(process.env.ABLATE_FAILPOINT ?? '');
  return m ? {commitsLeft: Number(m[1])} : undefined;
}

export class Store {
  readonly db: Db;
  readonly owner: string;
  /** This database's own id: part of every checkpoint's identity. */
  readonly id: string;
  private fail = failpoint();

  constructor(file: string, owner = ownerId()) {
    this.db = openDb(file);
    this.owner = owner;
    this.id = storeId(this.db);
  }

  close(): void {
    this.db.close();
  }

  /**
   * One immediate write transaction. Its commit waits for the disk (synchronous=FULL) unless `durable` is
   * false: then a crash of the process still loses nothing (WAL), and only a crash of the machine can lose
   * it until the next durable commit. That is right for heartbeats and epoch rows (a resumed trial writes
   * its epochs again from its checkpoint) and saves a disk flush per write; state changes stay durable.
   */
  tx<T>(fn: () => T, opts: {durable?: boolean} = {}): T {
    const relaxed = opts.durable === false;
    if (relaxed) this.db.pragma('synchronous = NORMAL');
    try {
      return this.db
        .transaction(() => {
          const out = fn();
          if (this.fail && --this.fail.commitsLeft === 0) process.kill(process.pid, 'SIGKILL');
          return out;
        })
        .immediate();
    } finally {
      if (relaxed) this.db.pragma('synchronous = FULL');
    }
  }

  /**
   * The sweep of this name, config and engine, created if new. A different config or engine under an existing
   * name is refused unless `forceNew`, because resuming it would mix results of two experiments (or engines).
   * A sweep stored before engines were recorded takes the engine it is first resumed with.
   */
  openSweep(opts: {name: string; configPath: string; yaml: string; hash: string; engine: string; smoke?: boolean; forceNew?: boolean}): {sweep: SweepRow; created: boolean} {
    return this.tx(() => {
      const find = (sql: string, ...args: unknown[]) => this.db.prepare(`SELECT * FROM sweeps WHERE ${sql} ORDER BY id DESC LIMIT 1`).get(...args) as SweepRow | undefined;
      const same = find('name = ? AND config_hash = ? AND engine = ?', opts.name, opts.hash, opts.engine);
      if (same) return {sweep: same, created: false};
      const unrecorded = find('name = ? AND config_hash = ? AND engine IS NULL', opts.name, opts.hash);
      if (unrecorded) {
        this.db.prepare('UPDATE sweeps SET engine = ? WHERE id = ?').run(opts.engine, unrecorded.id);
        return {sweep: {...unrecorded, engine: opts.engine}, created: false};
      }
      const otherEngine = find('name = ? AND config_hash = ?', opts.name, opts.hash);
      const other = otherEngine ?? find('name = ?', opts.name);
      if (other && !opts.forceNew) {
        if (otherEngine) {
          throw new UsageError(
            `sweep "${opts.name}" (id ${otherEngine.id}) trains on engine ${otherEngine.engine}; running it on ${opts.engine} would mix two engines in one sweep`,
            {hint: `run it with --engine ${otherEngine.engine} to continue it, or add --new to start a new sweep "${opts.name}" on ${opts.engine} (ablate compare ${otherEngine.id} NEW compares them)`},
          );
        }
        throw new UsageError(
          `sweep "${opts.name}" already exists (id ${other.id}, created ${new Date(other.created_at).toISOString()}) with a different config; resuming it would mix two experiments`,
          {hint: `run again with --new to start a new sweep under the same name, or give the study another name (ablate report ${other.id} shows the old one)`},
        );
      }
      const info = this.db
        .prepare('INSERT INTO sweeps (name, config_path, config_yaml, config_hash, created_at, status, smoke, engine) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(opts.name, opts.configPath, opts.yaml, opts.hash, Date.now(), 'pending', opts.smoke ? 1 : 0, opts.engine);
      return {sweep: this.db.prepare('SELECT * FROM sweeps WHERE id = ?').get(info.lastInsertRowid) as SweepRow, created: true};
    });
  }

  /** Insert the grid; trials already present (same key) are left as they are. */
  addTrials(sweepId: number, trials: NewTrial[]): number {
    const insert = this.db.prepare(
      `INSERT INTO trials (sweep_id, key, idx, variant_json, seed, spec_json, params, macs)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sweep_id, key) DO NOTHING`,
    );
    return this.tx(() => {
      let added = 0;
      for (const t of trials) {
        added += insert.run(sweepId, t.key, t.idx, JSON.stringify(t.variant), t.seed, JSON.stringify(t.spec), t.params, t.macs).changes;
      }
      return added;
    });
  }

  /**
   * Give back trials left `running` by a coordinator that is gone: its process no longer exists on this
   * host, or (another host) its heartbeat is older than `staleMs`. Returns how many were reclaimed.
   */
  reclaim(sweepId: number, staleMs: number): TrialRow[] {
    return this.tx(() => {
      const rows = this.db.prepare("SELECT * FROM trials WHERE sweep_id = ? AND status = 'running'").all(sweepId) as TrialRow[];
      const now = Date.now();
      const reclaimed: TrialRow[] = [];
      for (const r of rows) {
        // Trials on Slurm run on without their coordinator; the Slurm coordinator settles them from the queue.
        if (r.owner === this.owner || r.owner === SLURM_OWNER) continue;
        if (!holderGone(r.owner, r.heartbeat_at, staleMs, now)) continue;
        const res = this.db
          .prepare("UPDATE trials SET status = 'pending', owner = NULL, pid = NULL, slot = NULL WHERE id = ? AND status = 'running' AND owner IS ?")
          .run(r.id, r.owner);
        if (res.changes) {
          this.insertEvent(sweepId, r.id, 'reclaimed', `left running by ${r.owner} (attempt ${r.attempt}); its coordinator is gone`);
          reclaimed.push(r);
        }
      }
      return reclaimed;
    });
  }

  /** Put failed trials back in the queue (--retry-failed). */
  requeueFailed(sweepId: number): number {
    return this.tx(() => {
      const ids = this.db.prepare("SELECT id FROM trials WHERE sweep_id = ? AND status = 'failed'").all(sweepId) as {id: number}[];
      for (const {id} of ids) this.insertEvent(sweepId, id, 'requeued', 'failed trial queued again (--retry-failed)');
      this.db.prepare("UPDATE trials SET status = 'pending', crashes = 0, error = NULL WHERE sweep_id = ? AND status = 'failed'").run(sweepId);
      return ids.length;
    });
  }

  /** Take the next pending trial (FIFO by grid position) with a compare-and-set lease. */
  claimNext(sweepId: number, slot: number, pid: number): TrialRow | undefined {
    return this.tx(() => {
      const next = this.db
        .prepare("SELECT id FROM trials WHERE sweep_id = ? AND status = 'pending' ORDER BY idx LIMIT 1")
        .get(sweepId) as {id: number} | undefined;
      if (!next) return undefined;
      const now = Date.now();
      const res = this.db
        .prepare(
          `UPDATE trials SET status = 'running', owner = ?, slot = ?, pid = ?, attempt = attempt + 1,
             heartbeat_at = ?, started_at = COALESCE(started_at, ?), error = NULL
           WHERE id = ? AND status = 'pending'`,
        )
        .run(this.owner, slot, pid, now, now, next.id);
      if (res.changes !== 1) return undefined;
      const row = this.db.prepare('SELECT * FROM trials WHERE id = ?').get(next.id) as TrialRow;
      this.insertEvent(sweepId, row.id, 'started', `attempt ${row.attempt} on slot ${slot}`);
      return row;
    });
  }

  /** Refresh the lease of every trial this coordinator runs. */
  heartbeat(trialIds: number[]): void {
    if (trialIds.length === 0) return;
    this.tx(() => {
      const stmt = this.db.prepare("UPDATE trials SET heartbeat_at = ? WHERE id = ? AND owner = ? AND status = 'running'");
      const now = Date.now();
      for (const id of trialIds) stmt.run(now, id, this.owner);
    }, {durable: false});
  }

  /** Whether this coordinator holds the trial's lease (the compare in every compare-and-set below). */
  private holds(trialId: number): {sweep_id: number; crashes: number; engine: string | null; variant_json: string} | undefined {
    return this.db
      .prepare("SELECT sweep_id, crashes, engine, variant_json FROM trials WHERE id = ? AND owner = ? AND status = 'running'")
      .get(trialId, this.owner) as {sweep_id: number; crashes: number; engine: string | null; variant_json: string} | undefined;
  }

  /**
   * Epoch rows are keyed by (trial, epoch): a replayed epoch overwrites, never duplicates. Written only
   * while this coordinator holds the trial; returns whether they were.
   */
  recordEpochs(trialId: number, rows: EpochRow[]): boolean {
    return this.tx(() => {
      if (!this.holds(trialId)) return false;
      this.writeEpochs(trialId, rows);
      this.db.prepare('UPDATE trials SET heartbeat_at = ? WHERE id = ?').run(Date.now(), trialId);
      return true;
    }, {durable: false});
  }

  private writeEpochs(trialId: number, rows: EpochRow[]): void {
    const stmt = this.db.prepare(
      `INSERT INTO epochs (trial_id, epoch, train_loss, train_err, test_loss, test_err, lr, seconds, images_per_sec)
       VALUES (@trial_id, @epoch, @train_loss, @train_err, @test_loss, @test_err, @lr, @seconds, @images_per_sec)
       ON CONFLICT (trial_id, epoch) DO UPDATE SET train_loss = excluded.train_loss, train_err = excluded.train_err,
         test_loss = excluded.test_loss, test_err = excluded.test_err, lr = excluded.lr, seconds = excluded.seconds,
         images_per_sec = excluded.images_per_sec`,
    );
    for (const r of rows) stmt.run({...r, trial_id: trialId});
  }

  /**
   * Record the engine a running trial actually got (after any fallback) and the worker's pid. Returns the
   * other engines its variant (earlier attempts of this trial included) already ran on; when there are any, a
   * `engine-mixed` event says so. Undefined when this coordinator no longer holds the trial.
   */
  recordEngine(trialId: number, info: {pid: number; engine: EngineRecord; device: string | null; slot: number | null}): string[] | undefined {
    return this.tx(() => {
      const held = this.holds(trialId);
      if (!held) return undefined;
      const mixed = this.writeEngine(held, trialId, info);
      if (info.device !== null) this.insertEvent(held.sweep_id, trialId, 'device', `slot ${info.slot} CUDA_VISIBLE_DEVICES=${info.device}`);
      return mixed;
    }, {durable: false});
  }

  /** The engine columns of a held trial, and the `engine-mixed` event; returns the other engines of its variant. */
  private writeEngine(held: {sweep_id: number; engine: string | null; variant_json: string}, trialId: number, info: {pid: number; engine: EngineRecord}): string[] {
    const name = info.engine.name;
    const mixed = new Set<string>();
    if (held.engine !== null && held.engine !== name) mixed.add(held.engine);
    const others = this.db
      .prepare('SELECT DISTINCT engine FROM trials WHERE sweep_id = ? AND variant_json = ? AND id != ? AND engine IS NOT NULL AND engine != ?')
      .all(held.sweep_id, held.variant_json, trialId, name) as {engine: string}[];
    for (const o of others) mixed.add(o.engine);
    this.db.prepare('UPDATE trials SET pid = ?, engine = ?, engine_json = ? WHERE id = ?').run(info.pid, name, JSON.stringify(info.engine), trialId);
    if (mixed.size > 0) {
      this.insertEvent(held.sweep_id, trialId, 'engine-mixed', `runs on ${name}; its variant (or an earlier attempt of it) ran on ${[...mixed].join(', ')}`);
    }
    return [...mixed];
  }

  /**
   * End a trial this coordinator holds. `pending` gives it back (stopped by a signal, or to be retried).
   * Returns false, and writes nothing, when the lease is no longer this coordinator's.
   */
  finishTrial(trialId: number, status: TrialStatus, opts: {error?: string; event?: string; eventMessage?: string} = {}): boolean {
    return this.tx(() => {
      const held = this.holds(trialId);
      if (!held) return false;
      this.endTrial(held.sweep_id, trialId, status, opts);
      return true;
    });
  }

  private endTrial(sweepId: number, trialId: number, status: TrialStatus, opts: {error?: string; event?: string; eventMessage?: string}): void {
    const done = status === 'done' || status === 'failed' || status === 'diverged';
    this.db
      .prepare(
        `UPDATE trials SET status = ?, error = ?, finished_at = ?, owner = CASE WHEN ? THEN owner ELSE NULL END,
           pid = CASE WHEN ? THEN pid ELSE NULL END WHERE id = ?`,
      )
      .run(status, opts.error ?? null, done ? Date.now() : null, done ? 1 : 0, done ? 1 : 0, trialId);
    this.insertEvent(sweepId, trialId, opts.event ?? status, opts.eventMessage ?? opts.error ?? null);
  }

  /**
   * A trial's worker crashed: count the crash and queue the trial again while crashes stay within `retries`
   * (stops and resumes do not count), else end it `failed`. Undefined when the lease is no longer ours.
   */
  crashTrial(trialId: number, message: string, retries: number): {outcome: 'retry' | 'failed'; crashes: number} | undefined {
    return this.tx(() => {
      const held = this.holds(trialId);
      if (!held) return undefined;
      const crashes = held.crashes + 1;
      if (crashes <= retries) {
        this.db.prepare("UPDATE trials SET status = 'pending', crashes = ?, owner = NULL, pid = NULL WHERE id = ?").run(crashes, trialId);
        this.insertEvent(held.sweep_id, trialId, 'retry', `${message}; retrying (crash ${crashes}, ${retries} retr${retries === 1 ? 'y' : 'ies'} allowed)`);
        return {outcome: 'retry' as const, crashes};
      }
      this.db.prepare("UPDATE trials SET status = 'failed', crashes = ?, error = ?, finished_at = ? WHERE id = ?").run(crashes, message, Date.now(), trialId);
      this.insertEvent(held.sweep_id, trialId, 'failed', `${message} (crash ${crashes}; ${retries} retr${retries === 1 ? 'y' : 'ies'} allowed)`);
      return {outcome: 'failed' as const, crashes};
    });
  }

  event(sweepId: number, trialId: number | null, kind: string, message: string | null = null): void {
    this.tx(() => this.insertEvent(sweepId, trialId, kind, message));
  }

  setSweepStatus(sweepId: number, status: string): void {
    this.tx(() => this.db.prepare('UPDATE sweeps SET status = ? WHERE id = ?').run(status, sweepId));
  }

  counts(sweepId: number): Record<TrialStatus, number> {
    const out: Record<TrialStatus, number> = {pending: 0, running: 0, done: 0, failed: 0, diverged: 0};
    for (const r of this.db.prepare('SELECT status, count(*) AS n FROM trials WHERE sweep_id = ? GROUP BY status').all(sweepId) as {status: TrialStatus; n: number}[]) {
      out[r.status] = r.n;
    }
    return out;
  }

  trial(id: number): TrialRow {
    return this.db.prepare('SELECT * FROM trials WHERE id = ?').get(id) as TrialRow;
  }

  // --- Slurm ----------------------------------------------------------------------------------------------
  // Trials submitted to Slurm are leased to SLURM_OWNER (the cluster runs them, not this process). The lease
  // of the sweep's Slurm records is `slurm_sweeps.coordinator`: the one ablate attached to the sweep. Every
  // write below checks it (and, for a trial, that the trial is still the running attempt of the task), and
  // writes its events only when the compare-and-set matched.

  slurmSweep(sweepId: number): SlurmSweepRow | undefined {
    return this.db.prepare('SELECT * FROM slurm_sweeps WHERE sweep_id = ?').get(sweepId) as SlurmSweepRow | undefined;
  }

  /** The sweep's Slurm record, created from `create()` (token and run folder) the first time. */
  registerSlurmSweep(sweepId: number, create: () => {token: string; runDir: string}): SlurmSweepRow {
    return this.tx(() => {
      const existing = this.slurmSweep(sweepId);
      if (existing) return existing;
      const {token, runDir} = create();
      this.db.prepare('INSERT INTO slurm_sweeps (sweep_id, token, run_dir) VALUES (?, ?, ?)').run(sweepId, token, runDir);
      return this.slurmSweep(sweepId)!;
    });
  }

  /**
   * Become the one process that settles the sweep's jobs. Refused (returns the holder) while another ablate
   * is attached and alive: same host, its process exists; another host, it touched the sweep within `staleMs`.
   */
  attachSlurm(sweepId: number, staleMs: number): {attached: true} | {attached: false; holder: string} {
    return this.tx(() => {
      const r = this.slurmSweep(sweepId);
      if (!r) throw new Error(`sweep ${sweepId} has never run on Slurm`);
      const me = ownerId();
      if (r.coordinator && r.coordinator !== me && !holderGone(r.coordinator, r.attached_at, staleMs)) return {attached: false as const, holder: r.coordinator};
      this.db.prepare('UPDATE slurm_sweeps SET coordinator = ?, attached_at = ? WHERE sweep_id = ? AND coordinator IS ?').run(me, Date.now(), sweepId, r.coordinator);
      return {attached: true as const};
    });
  }

  detachSlurm(sweepId: number): void {
    this.tx(() => this.db.prepare('UPDATE slurm_sweeps SET coordinator = NULL WHERE sweep_id = ? AND coordinator = ?').run(sweepId, ownerId()));
  }

  /** The attached coordinator's sign of life. */
  touchSlurm(sweepId: number): void {
    this.tx(() => this.db.prepare('UPDATE slurm_sweeps SET attached_at = ? WHERE sweep_id = ? AND coordinator = ?').run(Date.now(), sweepId, ownerId()), {durable: false});
  }

  private attachedToSlurm(sweepId: number): boolean {
    return !!this.db.prepare('SELECT 1 FROM slurm_sweeps WHERE sweep_id = ? AND coordinator = ?').get(sweepId, ownerId());
  }

  /** The sweep of an active task whose sweep this process is attached to; undefined when the task ended or the lease is another's. */
  private heldSlurmTask(t: SlurmTaskKey): {sweep_id: number} | undefined {
    return this.db
      .prepare(
        `SELECT s.sweep_id FROM slurm_tasks t JOIN slurm_submissions s ON s.id = t.submission_id JOIN slurm_sweeps w ON w.sweep_id = s.sweep_id
         WHERE t.trial_id = ? AND t.attempt = ? AND t.outcome IS NULL AND w.coordinator = ?`,
      )
      .get(t.trial_id, t.attempt, ownerId()) as {sweep_id: number} | undefined;
  }

  /** The trial of a held task, while it is still running as that attempt under the Slurm lease. */
  private heldSlurmTrial(t: SlurmTaskKey) {
    const held = this.heldSlurmTask(t) && this.holds(t.trial_id);
    return held && this.trial(t.trial_id).attempt === t.attempt ? held : undefined;
  }

  /** Submitted tasks of the sweep that have not ended, with their submission's name and job id. */
  activeSlurmTasks(sweepId: number): SlurmTaskRow[] {
    return this.db
      .prepare(
        `SELECT t.*, s.name, s.job_id FROM slurm_tasks t JOIN slurm_submissions s ON s.id = t.submission_id
         WHERE s.sweep_id = ? AND t.outcome IS NULL AND s.state = 'submitted' ORDER BY t.trial_id`,
      )
      .all(sweepId) as SlurmTaskRow[];
  }

  /** The tasks of one submission in array order, with their trial's key and spec. */
  slurmSubmissionTasks(submissionId: number): (SlurmTaskRow & {key: string; spec_json: string})[] {
    return this.db
      .prepare(
        `SELECT t.*, s.name, s.job_id, tr.key, tr.spec_json FROM slurm_tasks t JOIN slurm_submissions s ON s.id = t.submission_id
         JOIN trials tr ON tr.id = t.trial_id WHERE t.submission_id = ? ORDER BY t.array_index`,
      )
      .all(submissionId) as (SlurmTaskRow & {key: string; spec_json: string})[];
  }

  /** Submissions recorded but not known to be in Slurm's hands (a coordinator was killed around sbatch). */
  preparingSlurmSubmissions(sweepId: number): {id: number; name: string}[] {
    return this.db.prepare("SELECT id, name FROM slurm_submissions WHERE sweep_id = ? AND state = 'preparing'").all(sweepId) as {id: number; name: string}[];
  }

  /** Outcomes of a trial's ended attempts, counted. */
  slurmOutcomes(trialId: number): {outcome: string; n: number}[] {
    return this.db.prepare('SELECT outcome, count(*) AS n FROM slurm_tasks WHERE trial_id = ? AND outcome IS NOT NULL GROUP BY outcome').all(trialId) as {outcome: string; n: number}[];
  }

  /**
   * Lease up to `size` pending trials (grid order, except `exclude`) to a new submission named
   * `ablate-<token>-<n>`, one array task each, in state `preparing`: recorded before sbatch runs, so that a
   * crash in between is found by the next coordinator. `folder` names an attempt's run folder.
   */
  prepareSlurmSubmission(sweepId: number, o: {size: number; exclude: number[]; folder: (key: string, attempt: number) => string}): {id: number; name: string} | undefined {
    return this.tx(() => {
      const sweep = this.slurmSweep(sweepId);
      if (!sweep || !this.attachedToSlurm(sweepId)) return undefined;
      const exclude = o.exclude.length ? `AND id NOT IN (${o.exclude.map(() => '?').join(',')})` : '';
      const rows = this.db
        .prepare(`SELECT id, key, attempt FROM trials WHERE sweep_id = ? AND status = 'pending' ${exclude} ORDER BY idx LIMIT ?`)
        .all(sweepId, ...o.exclude, o.size) as {id: number; key: string; attempt: number}[];
      if (rows.length === 0) return undefined;
      const n = (this.db.prepare('SELECT count(*) AS n FROM slurm_submissions WHERE sweep_id = ?').get(sweepId) as {n: number}).n + 1;
      const name = `ablate-${sweep.token}-${n}`;
      const now = Date.now();
      const id = Number(this.db.prepare("INSERT INTO slurm_submissions (sweep_id, name, state, created_at) VALUES (?, ?, 'preparing', ?)").run(sweepId, name, now).lastInsertRowid);
      const claim = this.db.prepare(
        `UPDATE trials SET status = 'running', owner = ?, slot = NULL, pid = NULL, attempt = attempt + 1, heartbeat_at = NULL,
           started_at = COALESCE(started_at, ?), error = NULL WHERE id = ? AND status = 'pending' AND attempt = ?`,
      );
      const task = this.db.prepare('INSERT INTO slurm_tasks (trial_id, attempt, submission_id, array_index, run_dir) VALUES (?, ?, ?, ?, ?)');
      let index = 0;
      for (const r of rows) {
        if (claim.run(SLURM_OWNER, now, r.id, r.attempt).changes !== 1) continue;
        task.run(r.id, r.attempt + 1, id, index++, o.folder(r.key, r.attempt + 1));
      }
      return {id, name};
    });
  }

  /** sbatch took the submission: record its job id (once) and a `submitted` event per trial. */
  recordSlurmSubmitted(submissionId: number, jobId: string): boolean {
    return this.tx(() => {
      const res = this.db
        .prepare(
          `UPDATE slurm_submissions SET job_id = ?, state = 'submitted', submitted_at = ? WHERE id = ? AND state = 'preparing'
             AND sweep_id IN (SELECT sweep_id FROM slurm_sweeps WHERE coordinator = ?)`,
        )
        .run(jobId, Date.now(), submissionId, ownerId());
      if (res.changes !== 1) return false;
      for (const t of this.slurmSubmissionTasks(submissionId)) this.insertEvent(this.trial(t.trial_id).sweep_id, t.trial_id, 'submitted', `Slurm job ${jobId}_${t.array_index}`);
      return true;
    });
  }

  /** sbatch never took the submission: its trials go back to pending, each with an `unsubmitted` event. */
  abandonSlurmSubmission(submissionId: number, why: string): boolean {
    return this.tx(() => {
      const res = this.db
        .prepare(
          `UPDATE slurm_submissions SET state = 'abandoned' WHERE id = ? AND state = 'preparing'
             AND sweep_id IN (SELECT sweep_id FROM slurm_sweeps WHERE coordinator = ?)`,
        )
        .run(submissionId, ownerId());
      if (res.changes !== 1) return false;
      const now = Date.now();
      for (const t of this.slurmSubmissionTasks(submissionId)) {
        this.db.prepare("UPDATE slurm_tasks SET outcome = 'unsubmitted', ended_at = ? WHERE trial_id = ? AND attempt = ? AND outcome IS NULL").run(now, t.trial_id, t.attempt);
        const back = this.db
          .prepare("UPDATE trials SET status = 'pending', owner = NULL WHERE id = ? AND owner = ? AND status = 'running' AND attempt = ?")
          .run(t.trial_id, SLURM_OWNER, t.attempt);
        if (back.changes === 1) this.insertEvent(this.trial(t.trial_id).sweep_id, t.trial_id, 'unsubmitted', why);
      }
      return true;
    });
  }

  /** Where the queue says a task is. */
  recordSlurmTaskState(t: SlurmTaskKey, q: {state: string; reason: string | null; node: string | null}): boolean {
    return this.tx(() => {
      if (!this.heldSlurmTask(t)) return false;
      this.db.prepare('UPDATE slurm_tasks SET state = ?, reason = ?, node = ? WHERE trial_id = ? AND attempt = ?').run(q.state, q.reason, q.node, t.trial_id, t.attempt);
      return true;
    }, {durable: false});
  }

  /** When the task was first seen in a final state (the grace time for late files counts from there). */
  recordSlurmTaskFinal(t: SlurmTaskKey, at: number): boolean {
    return this.tx(() => {
      if (!this.heldSlurmTask(t)) return false;
      return this.db.prepare('UPDATE slurm_tasks SET ended_at = ? WHERE trial_id = ? AND attempt = ? AND ended_at IS NULL').run(at, t.trial_id, t.attempt).changes === 1;
    });
  }

  /** The task's heartbeat file, as the trial's heartbeat (only forward). */
  recordSlurmHeartbeat(t: SlurmTaskKey, at: number): boolean {
    return this.tx(() => {
      if (!this.heldSlurmTrial(t)) return false;
      return this.db.prepare('UPDATE trials SET heartbeat_at = ? WHERE id = ? AND (heartbeat_at IS NULL OR heartbeat_at < ?)').run(at, t.trial_id, at).changes === 1;
    }, {durable: false});
  }

  /**
   * What an attempt's run folder said since the last read, stored at once with the new read position. The
   * position is a compare-and-set (`from` is the offset the batch was read from): a batch is stored once,
   * or not at all. Returns undefined when nothing was written; else the other engines of the trial's variant.
   */
  ingestSlurm(t: SlurmTaskKey, from: number, batch: SlurmIngest): {mixed: string[]} | undefined {
    return this.tx(() => {
      const held = this.heldSlurmTrial(t);
      if (!held) return undefined;
      const moved = this.db
        .prepare('UPDATE slurm_tasks SET ingested = ?, seq = max(seq, ?) WHERE trial_id = ? AND attempt = ? AND ingested = ?')
        .run(batch.offset, batch.seq, t.trial_id, t.attempt, from);
      if (moved.changes !== 1) return undefined;
      if (batch.started) {
        this.db.prepare('UPDATE trials SET pid = ?, heartbeat_at = ? WHERE id = ?').run(batch.started.pid, batch.started.at, t.trial_id);
        this.db.prepare('UPDATE slurm_tasks SET node = ? WHERE trial_id = ? AND attempt = ?').run(batch.started.node, t.trial_id, t.attempt);
      }
      this.writeEpochs(t.trial_id, batch.epochs);
      const mixed = batch.engine ? this.writeEngine(held, t.trial_id, batch.engine) : [];
      for (const e of batch.events) this.insertEvent(held.sweep_id, t.trial_id, e.kind, e.message);
      return {mixed};
    });
  }

  /**
   * End an attempt: the task's outcome and the trial's new status in one transaction (`pending` gives the
   * trial back for resubmission). `crash` counts a crash (node failure, lost job) against resources.retries.
   */
  settleSlurmTask(
    t: SlurmTaskKey,
    o: {outcome: string; state: string; status: TrialStatus; crash?: boolean; error?: string; event?: string; eventMessage?: string},
  ): boolean {
    return this.tx(() => {
      const held = this.heldSlurmTrial(t);
      if (!held) return false;
      this.db.prepare('UPDATE slurm_tasks SET outcome = ?, ended_at = ?, state = ? WHERE trial_id = ? AND attempt = ? AND outcome IS NULL').run(o.outcome, Date.now(), o.state, t.trial_id, t.attempt);
      if (o.crash) this.db.prepare('UPDATE trials SET crashes = crashes + 1 WHERE id = ?').run(t.trial_id);
      this.endTrial(held.sweep_id, t.trial_id, o.status, o);
      return true;
    });
  }

  private insertEvent(sweepId: number, trialId: number | null, kind: string, message: string | null): void {
    this.db.prepare('INSERT INTO events (sweep_id, trial_id, at, kind, message) VALUES (?, ?, ?, ?, ?)').run(sweepId, trialId, Date.now(), kind, message);
  }
}
