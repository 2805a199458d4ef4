/**
 * Read-only queries over the store for `report`, `status`, `show` and `compare`.
 * Nothing here writes: these run on a read-only connection while a sweep may be writing.
 * Rows come back in camelCase with JSON columns parsed; SQLite's NULL stays null.
 */
import type {Db, TrialStatus} from './db';
import {closest, UsageError} from '../errors';

export interface SweepRow {
  id: number;
  name: string;
  configPath: string | null;
  configYaml: string;
  configHash: string;
  createdAt: number;
  status: string;
  /** The engine the sweep trains on; null for sweeps stored before engines were recorded. */
  engine: string | null;
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
  /** Times started (resumes included). */
  attempt: number;
  /** Times its worker crashed (what `resources.retries` bounds). */
  crashes: number;
  slot: number | null;
  pid: number | null;
  owner: string | null;
  heartbeatAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  error: string | null;
  params: number | null;
  macs: number | null;
  /** The engine that ran it, after any fallback; null until it started (or stored before engines were recorded). */
  engine: string | null;
  /** That engine's own description (versions, threads, device, ...), as the engine reported it. */
  engineInfo: Record<string, unknown> | null;
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
  created_at AS createdAt, status, engine`;

const TRIAL_COLUMNS = `id, sweep_id AS sweepId, key, idx, variant_json AS variantJson, seed, spec_json AS specJson, status,
  attempt, slot, pid, owner, heartbeat_at AS heartbeatAt, started_at AS startedAt, finished_at AS finishedAt,
  error, params, macs, crashes, engine, engine_json AS engineJson`;

const EPOCH_COLUMNS = `trial_id AS trialId, epoch, train_loss AS trainLoss, train_err AS trainErr, test_loss AS testLoss,
  test_err AS testErr, lr, seconds, images_per_sec AS imagesPerSec`;

/** JSON with object keys sorted at every level, so equal values give equal strings. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (flatAndSorted(obj)) return JSON.stringify(obj);
    return `{${Object.keys(obj)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A plain object with its keys already in sorted order and only strings, numbers, booleans and null as values (a variant, mostly). */
function flatAndSorted(obj: Record<string, unknown>): boolean {
  const proto = Object.getPrototypeOf(obj);
  if (proto !== Object.prototype && proto !== null) return false;
  let previous: string | undefined;
  for (const k in obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, k)) return false;
    if (previous !== undefined && !(previous < k)) return false;
    previous = k;
    const v = obj[k];
    const t = typeof v;
    if (!(v === null || t === 'string' || t === 'number' || t === 'boolean')) return false;
  }
  return true;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${what} is not valid JSON (${(e as Error).message})`, {hint: 'the database may have been edited by hand; rerun the sweep into a new --db'});
  }
}

interface RawTrial extends Omit<TrialRow, 'variant' | 'variantKey' | 'spec' | 'engineInfo'> {
  variantJson: string;
  specJson: string;
  engineJson: string | null;
}

function toTrial(raw: RawTrial): TrialRow {
  const {variantJson, specJson, engineJson, ...rest} = raw;
  const variant = (parseJson(variantJson, `variant_json of trial ${raw.id}`) ?? {}) as Record<string, VariantValue>;
  const engineInfo = engineJson === null ? null : (parseJson(engineJson, `engine_json of trial ${raw.id}`) as Record<string, unknown>);
  return {...rest, variant, variantKey: canonicalJson(variant), spec: parseJson(specJson, `spec_json of trial ${raw.id}`), engineInfo};
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
    throw new UsageError('the database holds no sweeps yet', {hint: 'run a study first: ablate run smoke'});
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

/** A trial with its epoch rows folded in SQL: what the report needs without reading every epoch row. */
export interface TrialSummary
  extends Pick<
    TrialRow,
    'id' | 'sweepId' | 'key' | 'idx' | 'variant' | 'variantKey' | 'seed' | 'status' | 'attempt' | 'crashes' | 'error' | 'params' | 'macs' | 'startedAt' | 'finishedAt' | 'engine' | 'engineInfo'
  > {
  /** `train.epochs` of the spec, when it is a number. */
  plannedEpochs: number | null;
  /** Epoch rows recorded. */
  epochs: number;
  /** The newest epoch row (null before the first). */
  last: {trainLoss: number | null; trainErr: number | null; testLoss: number | null; testErr: number | null} | null;
  /** Lowest finite test error over the epochs. */
  bestTestErr: number | null;
  /** Sum of the finite epoch times (null when none). */
  seconds: number | null;
  /** Mean of the finite images/s (null when none). */
  imagesPerSec: number | null;
}

/** Finite REALs only: SQLite keeps ±Infinity (NaN is stored as NULL). */
const finiteSql = (col: string) => `CASE WHEN ${col} BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308 THEN ${col} END`;

/**
 * Every trial of a sweep with its epochs folded into counts, the last row, the best test error, the time
 * and the mean speed, in one query (grid order). Specs stay in the database (see `specsOfSweep`).
 *
 * Rows come back one at a time as arrays (better-sqlite3's raw mode): building a 27-key object per row in
 * the driver, all rows at once, took longer than the query itself on a 10,000-trial sweep. They are put in
 * grid order here: SQLite sorting the wide rows took a third of the query.
 */
export function trialSummariesOfSweep(db: Db, sweepId: number): TrialSummary[] {
  const invalidSpecs = new Set<number>();
  const out = readTrialSummaries(db, sweepId, invalidSpecs).sort((a, b) => a.idx - b.idx || a.seed - b.seed || a.id - b.id);
  if (invalidSpecs.size > 0) {
    const first = out.find((t) => invalidSpecs.has(t.id))!;
    throw new UsageError(`spec_json of trial ${first.id} is not valid JSON`, {hint: 'the database may have been edited by hand; rerun the sweep into a new --db'});
  }
  return out;
}

/** A value json_extract never returns: marks a spec that is not JSON. */
const NOT_JSON = "x'00'";

function readTrialSummaries(db: Db, sweepId: number, invalidSpecs: Set<number>): TrialSummary[] {
  const rows = db
    .prepare(
      `WITH agg AS (
         SELECT trial_id, count(*) AS epochs, max(epoch) AS lastEpoch, min(${finiteSql('test_err')}) AS bestTestErr,
           sum(${finiteSql('seconds')}) AS seconds, avg(${finiteSql('images_per_sec')}) AS imagesPerSec
         FROM epochs WHERE trial_id IN (SELECT id FROM trials WHERE sweep_id = ?) GROUP BY trial_id
       )
       SELECT t.id, t.key, t.idx, t.variant_json, t.seed, t.status, t.attempt, t.crashes, t.error,
         t.params, t.macs, t.started_at, t.finished_at, t.engine, t.engine_json,
         CASE WHEN json_valid(t.spec_json) THEN json_extract(t.spec_json, '$.train.epochs') ELSE ${NOT_JSON} END,
         coalesce(a.epochs, 0), a.bestTestErr, a.seconds, a.imagesPerSec,
         l.epoch, l.train_loss, l.train_err, l.test_loss, l.test_err
       FROM trials t
       LEFT JOIN agg a ON a.trial_id = t.id
       LEFT JOIN epochs l ON l.trial_id = t.id AND l.epoch = a.lastEpoch
       WHERE t.sweep_id = ?`,
    )
    .raw(true)
    .iterate(sweepId, sweepId) as IterableIterator<unknown[]>;
  // Seeds of one variant share their variant text, and trials of one engine their engine text: parse each once.
  const variants = new Map<string, {variant: Record<string, VariantValue>; variantKey: string}>();
  const engines = new Map<string, Record<string, unknown>>();
  const out: TrialSummary[] = [];
  for (const r of rows) {
    const id = r[0] as number;
    const variantJson = r[3] as string;
    let v = variants.get(variantJson);
    if (!v) {
      const variant = (parseJson(variantJson, `variant_json of trial ${id}`) ?? {}) as Record<string, VariantValue>;
      variants.set(variantJson, (v = {variant, variantKey: canonicalJson(variant)}));
    }
    const engineJson = r[14] as string | null;
    let engineInfo: Record<string, unknown> | null = null;
    if (engineJson !== null) {
      engineInfo = engines.get(engineJson) ?? null;
      if (engineInfo === null) engines.set(engineJson, (engineInfo = parseJson(engineJson, `engine_json of trial ${id}`) as Record<string, unknown>));
    }
    const planned = r[15];
    if (planned instanceof Uint8Array) invalidSpecs.add(id);
    out.push({
      id,
      sweepId,
      key: r[1] as string,
      idx: r[2] as number,
      variant: v.variant,
      variantKey: v.variantKey,
      seed: r[4] as number,
      status: r[5] as TrialStatus,
      attempt: r[6] as number,
      crashes: r[7] as number,
      error: r[8] as string | null,
      params: r[9] as number | null,
      macs: r[10] as number | null,
      startedAt: r[11] as number | null,
      finishedAt: r[12] as number | null,
      engine: r[13] as string | null,
      engineInfo,
      plannedEpochs: typeof planned === 'number' ? planned : null,
      epochs: r[16] as number,
      last:
        r[20] === null
          ? null
          : {trainLoss: r[21] as number | null, trainErr: r[22] as number | null, testLoss: r[23] as number | null, testErr: r[24] as number | null},
      bestTestErr: r[17] as number | null,
      seconds: r[18] as number | null,
      imagesPerSec: r[19] as number | null,
    });
  }
  return out;
}

/** The parsed specs of a sweep's trials, by trial id (for filters on spec values). */
export function specsOfSweep(db: Db, sweepId: number): Map<number, unknown> {
  const rows = db.prepare('SELECT id, spec_json AS specJson FROM trials WHERE sweep_id = ?').all(sweepId) as {id: number; specJson: string}[];
  return new Map(rows.map((r) => [r.id, parseJson(r.specJson, `spec_json of trial ${r.id}`)]));
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
  // Arrays from the driver, objects built here (as in trialSummariesOfSweep): 30,000 rows in two thirds of the time.
  const rows = db
    .prepare(
      `SELECT trial_id, epoch, train_loss, train_err, test_loss, test_err, lr, seconds, images_per_sec FROM epochs
       WHERE trial_id IN (SELECT id FROM trials WHERE sweep_id = ?) ORDER BY trial_id, epoch`,
    )
    .raw(true)
    .iterate(sweepId) as IterableIterator<unknown[]>;
  const out = new Map<number, EpochRow[]>();
  let list: EpochRow[] | undefined;
  let current: number | undefined;
  for (const r of rows) {
    const row: EpochRow = {
      trialId: r[0] as number,
      epoch: r[1] as number,
      trainLoss: r[2] as number | null,
      trainErr: r[3] as number | null,
      testLoss: r[4] as number | null,
      testErr: r[5] as number | null,
      lr: r[6] as number | null,
      seconds: r[7] as number | null,
      imagesPerSec: r[8] as number | null,
    };
    if (row.trialId !== current) {
      current = row.trialId;
      out.set(current, (list = []));
    }
    list!.push(row);
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

/** A literal, not built from TRIAL_STATUSES: one shape for every count object, and a test keeps the two in step. */
export function emptyCounts(): StatusCounts {
  return {pending: 0, running: 0, done: 0, failed: 0, diverged: 0};
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

/** Epoch rows and summed epoch seconds of a whole sweep. */
export function sweepEpochTotals(db: Db, sweepId: number): {epochs: number; seconds: number} {
  return db
    .prepare(
      `SELECT count(*) AS epochs, coalesce(sum(seconds), 0) AS seconds FROM epochs
       WHERE trial_id IN (SELECT id FROM trials WHERE sweep_id = ?)`,
    )
    .get(sweepId) as {epochs: number; seconds: number};
}

/** Unfinished (pending or running) trials of a sweep: epochs planned (`train.epochs`) and epochs recorded. */
export function unfinishedProgress(db: Db, sweepId: number): {id: number; plannedEpochs: number | null; epochs: number}[] {
  const rows = db
    .prepare(
      `SELECT t.id, CASE WHEN json_valid(t.spec_json) THEN json_extract(t.spec_json, '$.train.epochs') END AS plannedEpochs,
         (SELECT count(*) FROM epochs e WHERE e.trial_id = t.id) AS epochs
       FROM trials t WHERE t.sweep_id = ? AND t.status IN ('pending', 'running') ORDER BY t.idx, t.seed, t.id`,
    )
    .all(sweepId) as {id: number; plannedEpochs: unknown; epochs: number}[];
  return rows.map((r) => ({...r, plannedEpochs: typeof r.plannedEpochs === 'number' ? r.plannedEpochs : null}));
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
