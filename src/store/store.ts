/**
 * Writes of the coordinator: sweeps, trials, leases, heartbeats, epoch rows, events.
 * Every write is one `BEGIN IMMEDIATE` transaction, so two coordinators on one database serialise
 * instead of failing with "database is locked", and a lease is taken with compare-and-set.
 */
import * as os from 'node:os';
import {openDb, type Db, type TrialStatus} from './db';
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
  attempt: number;
  slot: number | null;
  pid: number | null;
  owner: string | null;
  heartbeat_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  error: string | null;
  params: number | null;
  macs: number | null;
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
  private fail = failpoint();

  constructor(file: string, owner = ownerId()) {
    this.db = openDb(file);
    this.owner = owner;
  }

  close(): void {
    this.db.close();
  }

  /** One immediate write transaction. */
  tx<T>(fn: () => T): T {
    return this.db
      .transaction(() => {
        const out = fn();
        if (this.fail && --this.fail.commitsLeft === 0) process.kill(process.pid, 'SIGKILL');
        return out;
      })
      .immediate();
  }

  /**
   * The sweep of this name and config, created if new. A different config under an existing name is refused
   * unless `forceNew`, because resuming it would mix results of two experiments.
   */
  openSweep(opts: {name: string; configPath: string; yaml: string; hash: string; smoke?: boolean; forceNew?: boolean}): {sweep: SweepRow; created: boolean} {
    return this.tx(() => {
      const same = this.db.prepare('SELECT * FROM sweeps WHERE name = ? AND config_hash = ?').get(opts.name, opts.hash) as SweepRow | undefined;
      if (same) return {sweep: same, created: false};
      const other = this.db.prepare('SELECT * FROM sweeps WHERE name = ? ORDER BY id DESC LIMIT 1').get(opts.name) as SweepRow | undefined;
      if (other && !opts.forceNew) {
        throw new UsageError(
          `sweep "${opts.name}" already exists (id ${other.id}, created ${new Date(other.created_at).toISOString()}) with a different config; resuming it would mix two experiments`,
          {hint: `run again with --new to start a new sweep under the same name, or give the study another name (ablate report ${other.id} shows the old one)`},
        );
      }
      const info = this.db
        .prepare('INSERT INTO sweeps (name, config_path, config_yaml, config_hash, created_at, status, smoke) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(opts.name, opts.configPath, opts.yaml, opts.hash, Date.now(), 'pending', opts.smoke ? 1 : 0);
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
      const host = os.hostname();
      const now = Date.now();
      const reclaimed: TrialRow[] = [];
      for (const r of rows) {
        // Trials on Slurm run on without their coordinator; the Slurm coordinator settles them from the queue.
        if (r.owner === this.owner || r.owner === SLURM_OWNER) continue;
        const [ownerHost, ownerPid] = (r.owner ?? ':').split(':');
        const dead = ownerHost === host ? !isAlive(Number(ownerPid)) : now - (r.heartbeat_at ?? 0) > staleMs;
        if (!dead) continue;
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
      this.db.prepare("UPDATE trials SET status = 'pending', attempt = 0, error = NULL WHERE sweep_id = ? AND status = 'failed'").run(sweepId);
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
    });
  }

  /** Epoch rows are keyed by (trial, epoch): a replayed epoch overwrites, never duplicates. */
  recordEpochs(trialId: number, rows: EpochRow[]): void {
    const stmt = this.db.prepare(
      `INSERT INTO epochs (trial_id, epoch, train_loss, train_err, test_loss, test_err, lr, seconds, images_per_sec)
       VALUES (@trial_id, @epoch, @train_loss, @train_err, @test_loss, @test_err, @lr, @seconds, @images_per_sec)
       ON CONFLICT (trial_id, epoch) DO UPDATE SET train_loss = excluded.train_loss, train_err = excluded.train_err,
         test_loss = excluded.test_loss, test_err = excluded.test_err, lr = excluded.lr, seconds = excluded.seconds,
         images_per_sec = excluded.images_per_sec`,
    );
    this.tx(() => {
      for (const r of rows) stmt.run({...r, trial_id: trialId});
      this.db.prepare('UPDATE trials SET heartbeat_at = ? WHERE id = ? AND owner = ?').run(Date.now(), trialId, this.owner);
    });
  }

  /** End a trial this coordinator holds. `pending` gives it back (stopped by a signal, or to be retried). */
  finishTrial(trialId: number, status: TrialStatus, opts: {error?: string; event?: string; eventMessage?: string} = {}): void {
    this.tx(() => {
      const row = this.db.prepare('SELECT sweep_id FROM trials WHERE id = ?').get(trialId) as {sweep_id: number};
      const done = status === 'done' || status === 'failed' || status === 'diverged';
      this.db
        .prepare(
          `UPDATE trials SET status = ?, error = ?, finished_at = ?, owner = CASE WHEN ? THEN owner ELSE NULL END,
             pid = CASE WHEN ? THEN pid ELSE NULL END WHERE id = ? AND owner = ?`,
        )
        .run(status, opts.error ?? null, done ? Date.now() : null, done ? 1 : 0, done ? 1 : 0, trialId, this.owner);
      this.insertEvent(row.sweep_id, trialId, opts.event ?? status, opts.eventMessage ?? opts.error ?? null);
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

  private insertEvent(sweepId: number, trialId: number | null, kind: string, message: string | null): void {
    this.db.prepare('INSERT INTO events (sweep_id, trial_id, at, kind, message) VALUES (?, ?, ?, ?, ?)').run(sweepId, trialId, Date.now(), kind, message);
  }
}
