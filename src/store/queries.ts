/**
 * Read-only queries over the store for `report`, `status`, `show` and `compare`.
 * Nothing here writes: these run on a read-only connection while a sweep may be writing.
 * Rows come back in camelCase with JSON columns parsed; SQLite's NULL stays null.
 */
import type {Db, TrialStatus} from './db';
import {TRIAL_STATUSES} from './db';
import {closest, UsageError} from '../errors';

export interface SweepRow {
  id: number;
  name: string;
  configPath: string | null;
  configYaml: string;
  configHash: string;
  createdAt: number;
  status: string;
}

export type VariantValue = string | number | boolean | null;

export interface TrialRow {
  id: number;
  sweepId: number;
  key: string;
  idx: number;
  /** The swept values of this grid cell, e.g. {"model.depth": 20, "model.residual": true}. */
  variant: Record<string, VariantValue>;
  /** Canonical JSON of `variant` (sorted keys): trials with equal variantKey are seeds of one variant. */
  variantKey: string;
  seed: number;
  spec: unknown;
  status: TrialStatus;
  attempt: number;
  slot: number | null;
  pid: number | null;
  owner: string | null;
  heartbeatAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  error: string | null;
  params: number | null;
  macs: number | null;
}

export interface EpochRow {
  trialId: number;
  epoch: number;
  trainLoss: number | null;
  trainErr: number | null;
  testLoss: number | null;
  testErr: number | null;
  lr: number | null;
  seconds: number | null;
  imagesPerSec: number | null;
}

export interface EventRow {
  id: number;
  sweepId: number | null;
  trialId: number | null;
  at: number;
  kind: string;
  message: string | null;
}

export type StatusCounts = Record<TrialStatus, number>;

const SWEEP_COLUMNS = `id, name, config_path AS configPath, config_yaml AS configYaml, config_hash AS configHash,
  created_at AS createdAt, status`;

const TRIAL_COLUMNS = `id, sweep_id AS sweepId, key, idx, variant_json AS variantJson, seed, spec_json AS specJson, status,
  attempt, slot, pid, owner, heartbeat_at AS heartbeatAt, started_at AS startedAt, finished_at AS finishedAt,
  error, params, macs`;

const EPOCH_COLUMNS = `trial_id AS trialId, epoch, train_loss AS trainLoss, train_err AS trainErr, test_loss AS testLoss,
  test_err AS testErr, lr, seconds, images_per_sec AS imagesPerSec`;

/** JSON with object keys sorted at every level, so equal values give equal strings. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${what} is not valid JSON (${(e as Error).message})`, {hint: 'the database may have been edited by hand; rerun the sweep into a new --db'});
  }
}

interface RawTrial extends Omit<TrialRow, 'variant' | 'variantKey' | 'spec'> {
  variantJson: string;
  specJson: string;
}

function toTrial(raw: RawTrial): TrialRow {
  const {variantJson, specJson, ...rest} = raw;
  const variant = (parseJson(variantJson, `variant_json of trial ${raw.id}`) ?? {}) as Record<string, VariantValue>;
  return {...rest, variant, variantKey: canonicalJson(variant), spec: parseJson(specJson, `spec_json of trial ${raw.id}`)};
}

export function listSweeps(db: Db): SweepRow[] {
  return db.prepare(`SELECT ${SWEEP_COLUMNS} FROM sweeps ORDER BY created_at, id`).all() as SweepRow[];
}

export function getSweep(db: Db, id: number): SweepRow | undefined {
  return db.prepare(`SELECT ${SWEEP_COLUMNS} FROM sweeps WHERE id = ?`).get(id) as SweepRow | undefined;
}

/**
 * The sweep a user named: a number is a sweep id (falling back to a name), anything else a name
 * (the newest sweep of that name, since `run --new` may have made several). No reference: the newest sweep.
 */
export function resolveSweep(db: Db, ref?: string): SweepRow {
  const sweeps = listSweeps(db);
  if (sweeps.length === 0) {
    throw new UsageError('the database holds no sweeps yet', {hint: 'run a study first: ablate run configs/smoke.yaml'});
  }
  if (ref === undefined || ref === '') return sweeps[sweeps.length - 1];
  if (/^\d+$/.test(ref)) {
    const byId = sweeps.find((s) => s.id === Number(ref));
    if (byId) return byId;
  }
  const byName = sweeps.filter((s) => s.name === ref);
  if (byName.length > 0) return byName[byName.length - 1];
  const names = [...new Set(sweeps.map((s) => s.name))];
  const near = closest(ref, names);
  throw new UsageError(`no sweep named or numbered "${ref}"${near ? `; did you mean "${near}"?` : ''}`, {
    hint: `list the sweeps with: ablate status (known names: ${names.slice(-8).join(', ')})`,
  });
}

export function trialsOfSweep(db: Db, sweepId: number): TrialRow[] {
  const rows = db.prepare(`SELECT ${TRIAL_COLUMNS} FROM trials WHERE sweep_id = ? ORDER BY idx, seed, id`).all(sweepId) as RawTrial[];
  return rows.map(toTrial);
}

export function getTrial(db: Db, id: number): TrialRow | undefined {
  const raw = db.prepare(`SELECT ${TRIAL_COLUMNS} FROM trials WHERE id = ?`).get(id) as RawTrial | undefined;
  return raw && toTrial(raw);
}

/**
 * The trial a user named: a number is a trial id (falling back to a key prefix), anything else a
 * prefix of the trial key. An ambiguous prefix is refused with the candidates.
 */
export function findTrial(db: Db, ref: string): TrialRow {
  const trimmed = ref.trim();
  if (/^\d+$/.test(trimmed)) {
    const byId = getTrial(db, Number(trimmed));
    if (byId) return byId;
  }
  if (trimmed.length === 0) throw new UsageError('empty trial reference', {hint: 'name a trial id or a key prefix; ablate report lists them'});
  const escaped = trimmed.replace(/[\\%_]/g, (c) => `\\${c}`);
  const rows = db
    .prepare(`SELECT ${TRIAL_COLUMNS} FROM trials WHERE key LIKE ? ESCAPE '\\' ORDER BY id LIMIT 6`)
    .all(`${escaped}%`) as RawTrial[];
  if (rows.length === 1) return toTrial(rows[0]);
  if (rows.length === 0) {
    throw new UsageError(`no trial with id or key prefix "${trimmed}"`, {
      hint: 'list trial ids and keys with: ablate report --format json, or ablate status SWEEP',
    });
  }
  const shown = rows.slice(0, 5).map((r) => `${r.id} (${r.key.slice(0, 12)})`);
  throw new UsageError(`key prefix "${trimmed}" matches several trials: ${shown.join(', ')}${rows.length > 5 ? ', ...' : ''}`, {
    hint: 'give more characters of the key, or the trial id',
  });
}

export function epochsOfTrial(db: Db, trialId: number): EpochRow[] {
  return db.prepare(`SELECT ${EPOCH_COLUMNS} FROM epochs WHERE trial_id = ? ORDER BY epoch`).all(trialId) as EpochRow[];
}

/** Every epoch row of a sweep, grouped by trial id, each list in epoch order. */
export function epochsOfSweep(db: Db, sweepId: number): Map<number, EpochRow[]> {
  const rows = db
    .prepare(
      `SELECT ${EPOCH_COLUMNS} FROM epochs
       WHERE trial_id IN (SELECT id FROM trials WHERE sweep_id = ?) ORDER BY trial_id, epoch`,
    )
    .all(sweepId) as EpochRow[];
  const out = new Map<number, EpochRow[]>();
  for (const r of rows) {
    const list = out.get(r.trialId);
    if (list) list.push(r);
    else out.set(r.trialId, [r]);
  }
  return out;
}

/** The newest epoch row of each of the given trials. */
export function lastEpochs(db: Db, trialIds: number[]): Map<number, EpochRow> {
  const out = new Map<number, EpochRow>();
  if (trialIds.length === 0) return out;
  const stmt = db.prepare(`SELECT ${EPOCH_COLUMNS} FROM epochs WHERE trial_id = ? ORDER BY epoch DESC LIMIT 1`);
  for (const id of trialIds) {
    const row = stmt.get(id) as EpochRow | undefined;
    if (row) out.set(id, row);
  }
  return out;
}

export function eventsOfTrial(db: Db, trialId: number): EventRow[] {
  return db
    .prepare('SELECT id, sweep_id AS sweepId, trial_id AS trialId, at, kind, message FROM events WHERE trial_id = ? ORDER BY at, id')
    .all(trialId) as EventRow[];
}

export function emptyCounts(): StatusCounts {
  return Object.fromEntries(TRIAL_STATUSES.map((s) => [s, 0])) as StatusCounts;
}

/** Trials per state, per sweep id. */
export function statusCounts(db: Db): Map<number, StatusCounts> {
  const rows = db.prepare('SELECT sweep_id AS sweepId, status, count(*) AS n FROM trials GROUP BY sweep_id, status').all() as {
    sweepId: number;
    status: TrialStatus;
    n: number;
  }[];
  const out = new Map<number, StatusCounts>();
  for (const r of rows) {
    let c = out.get(r.sweepId);
    if (!c) out.set(r.sweepId, (c = emptyCounts()));
    c[r.status] = r.n;
  }
  return out;
}

export function trialsWithStatus(db: Db, sweepId: number, status: TrialStatus): TrialRow[] {
  const rows = db
    .prepare(`SELECT ${TRIAL_COLUMNS} FROM trials WHERE sweep_id = ? AND status = ? ORDER BY idx, seed, id`)
    .all(sweepId, status) as RawTrial[];
  return rows.map(toTrial);
}

/** Epoch rows and summed epoch seconds per trial of a sweep. */
export function epochCountsByTrial(db: Db, sweepId: number): Map<number, {epochs: number; seconds: number}> {
  const rows = db
    .prepare(
      `SELECT trial_id AS trialId, count(*) AS epochs, coalesce(sum(seconds), 0) AS seconds FROM epochs
       WHERE trial_id IN (SELECT id FROM trials WHERE sweep_id = ?) GROUP BY trial_id`,
    )
    .all(sweepId) as {trialId: number; epochs: number; seconds: number}[];
  return new Map(rows.map((r) => [r.trialId, {epochs: r.epochs, seconds: r.seconds}]));
}
