/**
 * Grid expansion: the base experiment x the cartesian product of the sweep axes (zip groups vary
 * together, exclude rules drop cells) x the seeds. Each trial has a stable key, the hash of its
 * resolved config, so a restart can never duplicate a grid cell.
 */
import {createHash} from 'node:crypto';
import {datasetConfigSchema, datasetInfo} from '../data';
import {modelConfigSchema, smokeModelConfig} from '../models';
import {ConfigError, type ConfigIssue} from '../errors';
import {dotted, trainSchema, zodIssues, type LoadedStudy, type StudyConfig, type TrainConfig} from './config';
import type {z} from 'zod';
import {DEFAULT_MAX_TRIALS} from './limits';

export {DEFAULT_MAX_TRIALS};

export type DatasetConfig = z.output<typeof datasetConfigSchema>;
export type ModelConfig = z.output<typeof modelConfigSchema>;

/** One fully resolved point of the grid plus a seed. */
export interface TrialSpec {
  key: string;
  /** Position in the expanded grid (cells in order, seeds innermost). */
  index: number;
  /** The swept values of this cell, by dotted path (seeds excluded). */
  variant: Record<string, unknown>;
  seed: number;
  dataset: DatasetConfig;
  model: ModelConfig;
  train: TrainConfig;
}

type Assignment = Record<string, unknown>;

export interface ExpandOptions {
  /** Shrink every trial to tiny size (synthetic data, one epoch, narrow nets). */
  smoke?: boolean;
  /** Refuse a grid of more trials than this (default DEFAULT_MAX_TRIALS); counted before anything is expanded. */
  maxTrials?: number;
}

export function expandStudy(study: LoadedStudy, opts: ExpandOptions = {}): TrialSpec[] {
  const {config, locate, file} = study;
  const raw = rawSections(study);
  const issues = checkSweepShape(study);
  const factors: Assignment[][] = [];
  for (const [axis, values] of plainAxes(config.sweep)) factors.push(values.map((v) => ({[axis]: v})));
  for (const group of config.sweep.zip ?? []) {
    const axes = Object.entries(group);
    if (axes.length === 0 || new Set(axes.map(([, vs]) => vs.length)).size > 1) continue; // reported above
    factors.push(Array.from({length: axes[0][1].length}, (_, i) => Object.fromEntries(axes.map(([a, vs]) => [a, vs[i]]))));
  }
  // Count before expanding: a typo such as a 50-value axis must not make `plan` run for minutes.
  const maxTrials = opts.maxTrials ?? DEFAULT_MAX_TRIALS;
  const sizes = factors.map((f) => BigInt(f.length));
  const total = sizes.reduce((a, b) => a * b, 1n) * BigInt(config.seeds.length);
  if (total > BigInt(maxTrials)) {
    const shape = [...sizes.map(String), ...(sizes.length ? [] : ['1'])].join(' x ');
    const excluded = config.sweep.exclude?.length ? ', before the exclude rules drop any' : '';
    issues.push({
      path: 'sweep',
      message:
        `the grid has ${count(total)} trials (${shape} cells x ${config.seeds.length} seed(s)${excluded}), more than the limit of ${count(maxTrials)}; ` +
        `sweep fewer values or seeds, or raise the limit with --max-trials ${total}`,
      ...(locate(['sweep']) ?? locate(['seeds'])),
    });
  }
  if (issues.length) throw new ConfigError(file, issues);

  let cells: Assignment[] = [{}];
  for (const f of factors) cells = cells.flatMap((c) => f.map((a) => ({...c, ...a})));
  const rules = config.sweep.exclude ?? [];
  const matched = rules.map(() => false);
  cells = cells.filter((cell) => {
    let keep = true;
    rules.forEach((rule, i) => {
      if (Object.entries(rule).every(([k, v]) => k in cell && deepEqual(cell[k], v))) [matched[i], keep] = [true, false];
    });
    return keep;
  });
  matched.forEach((hit, i) => {
    if (!hit) {
      issues.push({
        path: `sweep.exclude[${i}]`,
        message: 'this rule matches no cell of the grid (its values never occur together), so it drops nothing; fix its values or remove it',
        ...locate(['sweep', 'exclude', i]),
      });
    }
  });
  if (issues.length) throw new ConfigError(file, issues);
  if (cells.length === 0) {
    throw new ConfigError(file, [{path: 'sweep.exclude', message: 'the exclude rules drop every cell of the grid; nothing would run', ...locate(['sweep', 'exclude'])}]);
  }

  const trials: TrialSpec[] = [];
  const seen = new Set<string>();
  for (const cell of cells) {
    const sections = applyOverrides(raw, cell);
    if (opts.smoke) shrinkForSmoke(sections);
    const parsed = validateCell(sections, cell, study, issues);
    if (!parsed) continue;
    // Where the files are is not part of the experiment (the key), but the worker needs it.
    const dataPath = typeof sections.dataset.path === 'string' ? {path: sections.dataset.path} : {};
    for (const seed of config.seeds) {
      const resolved = {dataset: parsed.dataset, model: parsed.model, train: parsed.train, seed};
      const key = trialKey(resolved);
      if (seen.has(key)) continue; // two cells that resolve to the same experiment run once
      seen.add(key);
      trials.push({key, index: trials.length, variant: cell, ...resolved, dataset: {...parsed.dataset, ...dataPath}});
    }
  }
  if (issues.length) throw new ConfigError(file, dedupeByMessage(issues));
  return trials;
}

/** The plain axes of a sweep (not zip groups, not exclude rules), with their values. */
function plainAxes(sweep: StudyConfig['sweep']): [string, unknown[]][] {
  return Object.entries(sweep as Record<string, unknown>).filter(
    (e): e is [string, unknown[]] => e[0] !== 'zip' && e[0] !== 'exclude' && Array.isArray(e[1]),
  );
}

/** 1280000 -> "1,280,000". */
function count(n: number | bigint): string {
  return n.toLocaleString('en-US');
}

/**
 * Mistakes in the shape of a sweep, found before anything is expanded: zip groups that are empty or of
 * unequal length, values listed twice (a cell would run twice, or hide a typo), a key swept in two places
 * (one would silently override the other), and exclude rules that can never match.
 */
function checkSweepShape(study: LoadedStudy): ConfigIssue[] {
  const {config, locate} = study;
  const issues: ConfigIssue[] = [];
  const at = (path: (string | number)[], message: string) => issues.push({path: dotted(path), message, ...locate(path)});
  /** Where each axis is swept, as a path to its value list. */
  const places = new Map<string, (string | number)[][]>();
  const place = (axis: string, path: (string | number)[]) => places.set(axis, [...(places.get(axis) ?? []), path]);

  for (const [axis, values] of plainAxes(config.sweep)) {
    place(axis, ['sweep', axis]);
    const first = new Map<string, number>();
    values.forEach((v, i) => {
      const k = canonicalJson(v);
      const j = first.get(k);
      if (j === undefined) first.set(k, i);
      else at(['sweep', axis, i], `${JSON.stringify(v)} is listed twice (also at [${j}]); each value is one cell of the grid: remove the repeat`);
    });
  }
  (config.sweep.zip ?? []).forEach((group, gi) => {
    const axes = Object.entries(group);
    if (axes.length === 0) return at(['sweep', 'zip', gi], 'a zip group needs at least one axis with its values');
    for (const [axis] of axes) place(axis, ['sweep', 'zip', gi, axis]);
    if (new Set(axes.map(([, vs]) => vs.length)).size > 1) {
      return at(['sweep', 'zip', gi], `axes that vary together need the same number of values; received ${axes.map(([a, vs]) => `${a}: ${vs.length}`).join(', ')}`);
    }
    const first = new Map<string, number>();
    axes[0][1].forEach((_, i) => {
      const point = axes.map(([, vs]) => vs[i]);
      const k = canonicalJson(point);
      const j = first.get(k);
      if (j === undefined) return first.set(k, i);
      const shown = axes.map(([a], n) => `${a}=${JSON.stringify(point[n])}`).join(', ');
      at(['sweep', 'zip', gi, axes[0][0], i], `point ${i} (${shown}) repeats point ${j}; each point is one cell of the grid: remove the repeat`);
    });
  });

  const axes = [...places.keys()];
  for (const [axis, paths] of places) {
    if (paths.length > 1) at(paths[1], `${axis} is swept twice (also at ${dotted(paths[0])}); one would silently override the other: keep one`);
    const outer = axes.find((other) => axis.startsWith(`${other}.`));
    if (outer) at(paths[0], `${axis} lies inside ${outer}, which is swept too; one would silently override the other: sweep one of them`);
  }

  (config.sweep.exclude ?? []).forEach((rule, ri) => {
    for (const [key, value] of Object.entries(rule)) {
      const path = ['sweep', 'exclude', ri, key];
      if (!places.has(key)) {
        at(path, `${key} is not swept, so this rule can never match; exclude rules name swept axes${axes.length ? ` (${axes.join(', ')})` : ''}`);
        continue;
      }
      const values = valuesOf(config.sweep, key);
      if (!values.some((v) => deepEqual(v, value))) {
        at(path, `${JSON.stringify(value)} is not among the values of ${key} (${values.map((v) => JSON.stringify(v)).join(', ')}), so this rule can never match`);
      }
    }
  });
  return issues;
}

/** Every value an axis takes, wherever it is swept. */
function valuesOf(sweep: StudyConfig['sweep'], axis: string): unknown[] {
  const plain = plainAxes(sweep).find(([a]) => a === axis)?.[1] ?? [];
  return [...plain, ...(sweep.zip ?? []).flatMap((g) => g[axis] ?? [])];
}

interface Sections {
  dataset: Record<string, unknown>;
  model: Record<string, unknown>;
  train: Record<string, unknown>;
}

/** The sections as written (before defaults), so that overrides resolve exactly like hand-written values. */
function rawSections(study: LoadedStudy): Sections {
  const doc = study.raw;
  const obj = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
  return {dataset: obj(doc.dataset), model: obj(doc.model), train: obj(doc.train)};
}

function applyOverrides(raw: Sections, cell: Assignment): Sections {
  const out = structuredClone(raw);
  for (const [pathStr, value] of Object.entries(cell)) {
    const [section, ...rest] = pathStr.split('.');
    let node = out[section as keyof Sections] as Record<string, unknown>;
    for (const part of rest.slice(0, -1)) {
      if (!node[part] || typeof node[part] !== 'object') node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
    node[rest[rest.length - 1]] = structuredClone(value);
  }
  return out;
}

function validateCell(
  s: Sections,
  cell: Assignment,
  study: LoadedStudy,
  issues: ConfigIssue[],
): {dataset: DatasetConfig; model: ModelConfig; train: TrainConfig} | undefined {
  const label = Object.keys(cell).length ? ` (in the sweep cell ${Object.entries(cell).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')})` : '';
  const before = issues.length;
  const check = <T extends z.ZodTypeAny>(schema: T, value: unknown, section: keyof Sections): z.output<T> | undefined => {
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    for (const issue of zodIssues(r.error, [section], value, study.locate, section)) {
      // Point at the sweep value that produced the problem when the problem is in a swept key.
      const axis = Object.keys(cell).find((k) => issue.path === k || issue.path.startsWith(`${k}.`) || issue.path.startsWith(`${k}[`));
      const pos = axis ? sweepPosition(study, axis, cell[axis]) : undefined;
      issues.push({...issue, ...(pos ?? {}), message: issue.message + label});
    }
    return undefined;
  };
  const dataset = check(datasetConfigSchema, s.dataset, 'dataset');
  const model = check(modelConfigSchema, s.model, 'model');
  const train = check(trainSchema, s.train, 'train');
  if (issues.length > before || !dataset || !model || !train) return undefined;
  // The trainer would quietly shrink such a batch to the whole split (one step per epoch).
  const trainSize = datasetInfo(dataset).trainSize;
  if (train.batch_size > trainSize) {
    const axis = ['train.batch_size', 'dataset.train_size', 'dataset.name'].find((k) => k in cell);
    issues.push({
      path: 'train.batch_size',
      message: `batch_size=${train.batch_size} is larger than the training split (${trainSize} images), so every epoch would be one step over the whole split; use batch_size <= ${trainSize}${label}`,
      ...((axis ? sweepPosition(study, axis, cell[axis]) : undefined) ?? study.locate(['train', 'batch_size']) ?? study.locate(['dataset', 'train_size']) ?? study.locate(['train']) ?? {}),
    });
    return undefined;
  }
  return {dataset, model, train};
}

function sweepPosition(study: LoadedStudy, axis: string, value: unknown) {
  const sweep = study.config.sweep as Record<string, unknown>;
  const direct = sweep[axis];
  if (Array.isArray(direct)) {
    const i = direct.findIndex((v) => deepEqual(v, value));
    return study.locate(['sweep', axis, i]) ?? study.locate(['sweep', axis]);
  }
  const zi = (study.config.sweep.zip ?? []).findIndex((g) => axis in g);
  if (zi >= 0) {
    const i = study.config.sweep.zip![zi][axis].findIndex((v) => deepEqual(v, value));
    return study.locate(['sweep', 'zip', zi, axis, i]);
  }
  return undefined;
}

/**
 * --smoke: the same grid with every trial shrunk to tiny size: synthetic data of the same channels and
 * classes at 8x8 (16x16 for ImageNet-style nets), 64 training and 32 test images, one epoch, constant
 * learning rate, and the same architecture at a tiny width (models/smokeModelConfig).
 */
function shrinkForSmoke(s: Sections): void {
  const parsedData = datasetConfigSchema.safeParse(s.dataset);
  const parsedModel = modelConfigSchema.safeParse(s.model);
  if (!parsedData.success || !parsedModel.success) return; // validation reports the problem
  const info = datasetInfo(parsedData.data);
  const side = parsedModel.data.family === 'imagenet' ? 16 : 8;
  s.dataset = {name: 'synthetic', image: [side, side, info.shape.channels], classes: info.classes, train_size: 64, test_size: 32};
  s.model = smokeModelConfig(s.model as never) as unknown as Record<string, unknown>;
  s.train = {...s.train, epochs: 1, batch_size: Math.min(Number(s.train.batch_size ?? 16), 16), schedule: {name: 'constant'}};
}

export function trialKey(resolved: unknown): string {
  return createHash('sha256').update(canonicalJson(resolved)).digest('hex').slice(0, 16);
}

/** JSON with object keys sorted at every level: equal values give equal strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v,
  );
}

/** Identity of a sweep's content: what it trains, not how (resources) or what it is called. */
export function configHash(study: LoadedStudy, smoke = false): string {
  const {dataset, model, train, seeds, sweep} = study.config;
  return trialKey({dataset, model, train, seeds, sweep, smoke});
}

function deepEqual(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function dedupeByMessage(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.line}:${i.column}:${i.path}:${i.message}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
}
