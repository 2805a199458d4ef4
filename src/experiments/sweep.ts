/**
 * Grid expansion: the base experiment x the cartesian product of the sweep axes (zip groups vary
 * together, exclude rules drop cells) x the seeds. Each trial has a stable key, the hash of its
 * resolved config, so a restart can never duplicate a grid cell.
 */
import {createHash} from 'node:crypto';
import {datasetConfigSchema, datasetInfo} from '../data';
import {modelConfigSchema, smokeModelConfig} from '../models/config';
import {ConfigError, type ConfigIssue} from '../errors';
import {trainSchema, zodIssues, type LoadedStudy, type TrainConfig} from './config';
import type {z} from 'zod';

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
}

export function expandStudy(study: LoadedStudy, opts: ExpandOptions = {}): TrialSpec[] {
  const {config, locate, file} = study;
  const raw = rawSections(study);
  const issues: ConfigIssue[] = [];
  const factors: {assignments: Assignment[]}[] = [];
  const sweep = config.sweep as Record<string, unknown>;
  for (const [axis, values] of Object.entries(sweep)) {
    if (axis === 'zip' || axis === 'exclude' || values === undefined) continue;
    factors.push({assignments: (values as unknown[]).map((v) => ({[axis]: v}))});
  }
  (config.sweep.zip ?? []).forEach((group, gi) => {
    const axes = Object.entries(group);
    const lengths = new Set(axes.map(([, vs]) => vs.length));
    if (lengths.size > 1) {
      issues.push({
        path: `sweep.zip[${gi}]`,
        message: `axes that vary together need the same number of values; received ${axes.map(([a, vs]) => `${a}: ${vs.length}`).join(', ')}`,
        ...locate(['sweep', 'zip', gi]),
      });
      return;
    }
    const n = axes[0]?.[1].length ?? 0;
    factors.push({assignments: Array.from({length: n}, (_, i) => Object.fromEntries(axes.map(([a, vs]) => [a, vs[i]])))});
  });
  if (issues.length) throw new ConfigError(file, issues);

  let cells: Assignment[] = [{}];
  for (const f of factors) cells = cells.flatMap((c) => f.assignments.map((a) => ({...c, ...a})));
  const rules = config.sweep.exclude ?? [];
  cells = cells.filter((cell) => !rules.some((rule) => Object.entries(rule).every(([k, v]) => k in cell && deepEqual(cell[k], v))));
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
