/**
 * Study files: YAML -> validated StudyConfig, with every problem reported at once as
 * file:line:column, the dotted key path, what was expected, and "did you mean" for near misses.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Alias, type Document, type Node as YamlNode} from 'yaml';
import {z} from 'zod';
import {datasetConfigSchema} from '../data';
import {ENGINE_CHOICES, needsProcess} from '../engine/names';
import {modelConfigSchema} from '../models/config';
import {ConfigError, didYouMean, UsageError, type ConfigIssue} from '../errors';
import {slurmSchema} from './slurm/settings';

export const MAX_WORKERS = 256;

const positive = z.number().positive();
const nonNegative = z.number().nonnegative();

export const optimizerSchema = z
  .object({
    name: z.literal('sgd').default('sgd'),
    lr: positive.default(0.1),
    momentum: z.number().min(0).lt(1).default(0.9),
    weight_decay: nonNegative.default(1e-4),
    nesterov: z.boolean().default(false),
  })
  .strict();

export const scheduleSchema = z.discriminatedUnion('name', [
  z
    .object({
      name: z.literal('multistep'),
      /** Epochs (fractions allowed) at which the learning rate is multiplied by gamma; stepped per iteration. */
      milestones: z.array(positive).default([]),
      gamma: z.number().positive().max(1).default(0.1),
      warmup_epochs: nonNegative.default(0),
    })
    .strict(),
  z.object({name: z.literal('cosine'), min_lr: nonNegative.default(0), warmup_epochs: nonNegative.default(0)}).strict(),
  z.object({name: z.literal('constant'), warmup_epochs: nonNegative.default(0)}).strict(),
]);

export const trainSchema = z
  .object({
    epochs: z.number().int().min(1).default(10),
    batch_size: z.number().int().min(1).default(128),
    optimizer: optimizerSchema.default({}),
    schedule: scheduleSchema.default({name: 'multistep', milestones: []}),
    /** Save a checkpoint every N epochs (0: only when stopped by a signal). */
    checkpoint_every: z.number().int().min(0).default(1),
    /**
     * fp32, or bf16 with fp32 master weights: autocast on the torch engine, bf16 convolutions on native-cpu (CPUs
     * with AVX512-BF16 only; engine/precision.ts). Absent means fp32.
     */
    precision: z.enum(['fp32', 'bf16']).optional(),
  })
  .strict()
  .superRefine((train, ctx) => {
    if (!(train.epochs >= 1)) return; // reported by epochs itself
    if (train.schedule.name === 'multistep') {
      train.schedule.milestones.forEach((m, i) => {
        if (m >= train.epochs) {
          ctx.addIssue({code: 'custom', path: ['schedule', 'milestones', i], message: `milestone ${m} is not before the last epoch (epochs=${train.epochs}); it would never take effect`});
        }
      });
    }
    if (train.schedule.warmup_epochs >= train.epochs) {
      ctx.addIssue({code: 'custom', path: ['schedule', 'warmup_epochs'], message: `warm-up of ${train.schedule.warmup_epochs} epochs leaves no training (epochs=${train.epochs})`});
    }
  });

export const EXECUTORS = ['thread', 'process', 'slurm'] as const;

export const resourcesSchema = z
  .object({
    /** Trials that run at once (slots). Default: one per core, or one per GPU. */
    workers: z.number().int().min(1).max(MAX_WORKERS).optional(),
    /** CPU threads per slot. Default: cores / workers (at least 1). */
    threads: z.number().int().min(1).max(1024).optional(),
    /** auto: torch on CUDA when a GPU and torch are present, else native-cpu. */
    engine: z.enum(ENGINE_CHOICES).default('auto'),
    /** thread: piscina worker threads; process: one child process per slot (needed by tfjs-node and GPUs); slurm: one array task per trial. */
    executor: z.enum(EXECUTORS).optional(),
    /** GPU indices; each slot gets one through CUDA_VISIBLE_DEVICES. */
    gpus: z.array(z.number().int().min(0)).nonempty().optional(),
    /** Trials that share one GPU (slots per GPU). */
    trials_per_gpu: z.number().int().min(1).max(64).default(1),
    /** torch engine: compile the network with torch.compile (PyTorch 2). */
    compile: z.boolean().default(false),
    /**
     * native-cpu: choose each convolution's kernel by timing the candidates (faster on some machines). Off by
     * default, so that the same study, seed, engine and machine give bit-identical metrics; recorded per trial.
     */
    autotune: z.boolean().default(false),
    /** Extra attempts for a trial whose worker crashed (exit, out of memory). Diverged trials are results, never retried. */
    retries: z.number().int().min(0).max(100).default(1),
  })
  .strict();

const axisValues = z.array(z.unknown()).min(1, 'an axis needs at least one value');

export const sweepSchema = z
  .object({
    /** Groups of axes that vary together: the i-th values of each axis form one point. */
    zip: z.array(z.record(axisValues)).optional(),
    /** Cells to drop: every key of a rule must match for the cell to be dropped. */
    exclude: z.array(z.record(z.unknown())).optional(),
  })
  .catchall(axisValues);

export const studySchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'use letters, digits, ".", "_" and "-" (it names the sweep in the database)'),
    description: z.string().optional(),
    dataset: datasetConfigSchema,
    model: modelConfigSchema.default({}),
    train: trainSchema.default({}),
    seeds: z
      .array(z.number().int().min(0))
      .min(1, 'give at least one seed')
      .superRefine((seeds, ctx) => {
        seeds.forEach((seed, i) => {
          const j = seeds.indexOf(seed);
          if (j < i) ctx.addIssue({code: 'custom', path: [i], message: `seed ${seed} is listed twice (also at [${j}]); it would run every cell twice with the same numbers: remove the repeat`});
        });
      })
      .default([0]),
    sweep: sweepSchema.default({}),
    resources: resourcesSchema.default({}),
    /** Cluster settings for `executor: slurm`. */
    slurm: slurmSchema.optional(),
  })
  .strict();

export type StudyConfig = z.output<typeof studySchema>;
export type TrainConfig = z.output<typeof trainSchema>;
export type ResourcesConfig = z.output<typeof resourcesSchema>;

/** The top-level sections that a sweep axis may vary (dotted paths below them). */
export const SWEEPABLE_SECTIONS = ['dataset', 'model', 'train'] as const;

export interface LoadedStudy {
  file: string;
  text: string;
  config: StudyConfig;
  /** The parsed document, for positions of later (grid) errors. */
  locate: (path: (string | number)[]) => {line: number; column: number} | undefined;
  /** The document as written, before defaults (sweep cells override this, then validate). */
  raw: Record<string, unknown>;
}

/** The example studies that ship with ablate: configs/ of the package, found from any folder by name. */
export const EXAMPLE_STUDIES_DIR = path.resolve(__dirname, '..', '..', '..', 'configs');

/** Names of the example studies (`smoke`, `depth-sweep`, ...). */
export function exampleStudies(): string[] {
  try {
    return fs.readdirSync(EXAMPLE_STUDIES_DIR).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -'.yaml'.length)).sort();
  } catch {
    return [];
  }
}

const looksLikeName = (arg: string) => arg !== '' && !arg.includes('/') && !arg.includes(path.sep);

/**
 * What a study argument names: a file that exists is that file (a path works from any folder, as it
 * always did); otherwise a bare name (`depth-sweep`, `depth-sweep.yaml`) is the example study of that
 * name. Anything else is returned as given, for loadStudy to report.
 */
export function resolveStudyFile(arg: string): string {
  if (fs.existsSync(arg)) return arg;
  if (looksLikeName(arg)) {
    const example = path.join(EXAMPLE_STUDIES_DIR, `${arg.replace(/\.ya?ml$/, '')}.yaml`);
    if (fs.existsSync(example)) return example;
  }
  return arg;
}

/** Read and validate a study file, given as a path or as the name of an example study. Throws ConfigError with every problem found. */
export function loadStudy(arg: string): LoadedStudy {
  const file = resolveStudyFile(arg);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const examples = exampleStudies();
    throw new UsageError(
      code === 'ENOENT' ? `no study file at ${file}${looksLikeName(arg) ? ', and no example study of that name' : ''}` : `cannot read ${file}: ${(e as Error).message}`,
      {hint: `give the path of a YAML study, or the name of an example study (${examples.join(', ')}); ablate init writes one to start from`},
    );
  }
  return parseStudy(text, file);
}

export function parseStudy(text: string, file = '<study>'): LoadedStudy {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {lineCounter, uniqueKeys: true, prettyErrors: true});
  const locate = (p: (string | number)[]) => positionOf(doc, lineCounter, p);
  const locateNode = (node: YamlNode) => (node.range ? toPos(lineCounter, node.range[0]) : {});
  if (doc.errors.length > 0) {
    // A syntax error makes the parser see phantom duplicate keys after it: report the syntax errors alone then.
    const syntax = doc.errors.filter((e) => e.code !== 'DUPLICATE_KEY');
    throw new ConfigError(
      file,
      (syntax.length ? syntax : doc.errors).map((e) => ({
        path: '',
        message: yamlMessage(e.code, e.message, text, e.pos[0]),
        line: e.linePos?.[0].line,
        column: e.linePos?.[0].col,
      })),
    );
  }
  const raw = plainValue(doc, file, locateNode);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, [{path: '', message: 'a study file is a YAML mapping with at least `name` and `dataset` (see the example studies: ablate init writes one)', line: 1, column: 1}]);
  }
  const issues: ConfigIssue[] = [];
  const parsed = studySchema.safeParse(raw);
  if (!parsed.success) issues.push(...zodIssues(parsed.error, [], raw, locate));
  issues.push(...checkSweepPaths(raw as Record<string, unknown>, locate));
  if (issues.length > 0 || !parsed.success) throw new ConfigError(file, dedupe(issues));
  const config = parsed.data;
  const resourceIssues = checkResources(config.resources, locate);
  if (resourceIssues.length > 0) throw new ConfigError(file, resourceIssues);
  return {file, text, config, locate, raw: raw as Record<string, unknown>};
}

/** Copies of anchored values that aliases may make in all (`&a [...]`, `*a`): enough for real studies, not for an alias bomb. */
export const MAX_ALIAS_COPIES = 100;

/**
 * The document as plain values. An alias of an alias multiplies copies ("billion laughs": nine levels of
 * nine aliases are 9^9 values); the parser counts them and stops, and an alias before its anchor has no value.
 * Either becomes a located ConfigError.
 */
function plainValue(doc: Document, file: string, at: (node: YamlNode) => {line?: number; column?: number}): unknown {
  try {
    return doc.toJS({maxAliasCount: MAX_ALIAS_COPIES});
  } catch (e) {
    if (!(e instanceof ReferenceError)) throw e;
    const aliases: Alias[] = [];
    visit(doc, {Alias: (_key, node) => void aliases.push(node)});
    const unresolved = /^Unresolved alias.*: (.*)$/.exec(e.message)?.[1];
    if (unresolved !== undefined) {
      const node = aliases.find((a) => a.source === unresolved);
      const message = `alias *${unresolved} has no anchor &${unresolved} before it; define the anchor first (key: &${unresolved} value) or write the value out`;
      throw new ConfigError(file, [{path: '', message, ...(node ? at(node) : {})}]);
    }
    // Point at the first alias whose anchored value holds aliases itself: where the copies multiply.
    const nested = aliases.find((a) => {
      const source = a.resolve(doc);
      let inner = false;
      if (source) visit(source, {Alias: () => void (inner = true)});
      return inner;
    });
    const node = nested ?? aliases[0];
    const message =
      `aliases expand to more than ${MAX_ALIAS_COPIES} copies of anchored values${node ? ` (*${node.source} and the aliases inside &${node.source})` : ''}; ` +
      'aliases of aliases multiply: write the values out, or alias only plain values';
    throw new ConfigError(file, [{path: '', message, ...(node ? at(node) : {})}]);
  }
}

function yamlMessage(code: string, message: string, text: string, offset: number): string {
  const first = message.split(' at line ')[0];
  switch (code) {
    case 'RESOURCE_EXHAUSTION':
      return 'the YAML nests too deeply to be read (a study file needs a few levels); remove the extra brackets';
    case 'TAB_AS_INDENT':
      return 'tab used for indentation; YAML indents with spaces only';
    case 'DUPLICATE_KEY': {
      const key = /^[\s-]*([^:\s][^:]*?)\s*:/.exec(text.slice(offset).split('\n')[0])?.[1];
      return `duplicate key${key ? ` "${key}"` : ''}: each key may appear once in a mapping (the later one would silently win)`;
    }
    default:
      return `malformed YAML: ${first}`;
  }
}

function checkResources(r: ResourcesConfig, locate: LoadedStudy['locate']): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  if (r.gpus && r.workers !== undefined && r.workers > r.gpus.length * r.trials_per_gpu) {
    out.push({
      path: 'resources.workers',
      message: `${r.workers} workers but ${r.gpus.length} GPU(s) in resources.gpus x trials_per_gpu ${r.trials_per_gpu} = ${r.gpus.length * r.trials_per_gpu} slots; raise resources.trials_per_gpu or lower resources.workers`,
      ...locate(['resources', 'workers']),
    });
  }
  if (r.gpus && new Set(r.gpus).size !== r.gpus.length) {
    out.push({path: 'resources.gpus', message: `GPU indices repeat (${r.gpus.join(', ')}); to run several trials on one GPU, list it once and set resources.trials_per_gpu`, ...locate(['resources', 'gpus'])});
  }
  if (r.gpus && r.executor === 'thread') {
    out.push({path: 'resources.executor', message: 'GPUs are pinned per process (CUDA_VISIBLE_DEVICES); use executor: process or leave executor out', ...locate(['resources', 'executor'])});
  }
  if (r.gpus && r.executor === 'slurm') {
    out.push({path: 'resources.gpus', message: 'on Slurm, GPUs come from the cluster: set slurm.gpus_per_trial instead', ...locate(['resources', 'gpus'])});
  }
  if (needsProcess(r.engine) && r.executor === 'thread') {
    out.push({path: 'resources.executor', message: `${r.engine} does not survive worker threads; use executor: process or leave executor out`, ...locate(['resources', 'executor'])});
  }
  return out;
}

/** Every sweep axis must name an existing leaf below dataset/model/train. */
function checkSweepPaths(raw: Record<string, unknown>, locate: LoadedStudy['locate']): ConfigIssue[] {
  const sweep = raw.sweep;
  if (!sweep || typeof sweep !== 'object' || Array.isArray(sweep)) return [];
  const issues: ConfigIssue[] = [];
  const check = (axis: string, at: (string | number)[]) => {
    const problem = describeBadPath(axis);
    if (problem) issues.push({path: dotted(at), message: problem, ...locate(at)});
  };
  for (const [key, value] of Object.entries(sweep)) {
    if (key === 'zip') {
      if (Array.isArray(value)) {
        value.forEach((group, i) => {
          if (group && typeof group === 'object') for (const axis of Object.keys(group)) check(axis, ['sweep', 'zip', i, axis]);
        });
      }
    } else if (key === 'exclude') {
      if (Array.isArray(value)) {
        value.forEach((rule, i) => {
          if (rule && typeof rule === 'object') for (const axis of Object.keys(rule)) check(axis, ['sweep', 'exclude', i, axis]);
        });
      }
    } else {
      check(key, ['sweep', key]);
    }
  }
  return issues;
}

/** Why `dotted` is not a sweepable key, or undefined when it is. */
export function describeBadPath(dotted: string): string | undefined {
  const parts = dotted.split('.');
  const section = parts[0];
  if (!(SWEEPABLE_SECTIONS as readonly string[]).includes(section) || parts.length < 2) {
    if (section === 'seeds') return 'seeds are not an axis; list them under the top-level `seeds:` key';
    const fix = SWEEPABLE_SECTIONS.map((s) => `${s}.${dotted}`).find((full) => describeBadPath(full) === undefined);
    if (fix) return `a sweep axis starts with its section (did you mean "${fix}"?)`;
    return `a sweep axis is a dotted path below ${SWEEPABLE_SECTIONS.join(', ')} (e.g. model.depth, train.optimizer.lr)${didYouMean(section, [...SWEEPABLE_SECTIONS])}`;
  }
  let schema: z.ZodTypeAny = studySchema.shape[section as (typeof SWEEPABLE_SECTIONS)[number]];
  for (let i = 1; i < parts.length; i++) {
    const keys = objectKeys(schema);
    if (!keys) return `${parts.slice(0, i).join('.')} has no keys below it`;
    const part = parts[i];
    if (!keys.has(part)) return `unknown key ${parts.slice(0, i + 1).join('.')}${didYouMean(part, [...keys.keys()])}`;
    schema = keys.get(part)!;
  }
  return undefined;
}

/** The child schemas of an object schema (through defaults, optionals, refinements, unions). */
function objectKeys(schema: z.ZodTypeAny): Map<string, z.ZodTypeAny> | undefined {
  let s: z.ZodTypeAny = schema;
  for (;;) {
    if (s instanceof z.ZodDefault) s = s._def.innerType;
    else if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap();
    else if (s instanceof z.ZodEffects) s = s.innerType();
    else if (s instanceof z.ZodCatch) s = s._def.innerType;
    else break;
  }
  if (s instanceof z.ZodObject) return new Map(Object.entries(s.shape as Record<string, z.ZodTypeAny>));
  if (s instanceof z.ZodDiscriminatedUnion || s instanceof z.ZodUnion) {
    const merged = new Map<string, z.ZodTypeAny>();
    for (const option of s.options as z.ZodTypeAny[]) for (const [k, v] of objectKeys(option) ?? []) if (!merged.has(k)) merged.set(k, v);
    return merged.size ? merged : undefined;
  }
  return undefined;
}

/** Turn zod issues into located config issues. `prefix` is the path of the validated value in the file. */
export function zodIssues(
  error: z.ZodError,
  prefix: (string | number)[],
  raw: unknown,
  locate: LoadedStudy['locate'],
  prefixLabel?: string,
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const full = [...prefix, ...issue.path];
    const label = prefixLabel ? [prefixLabel, ...issue.path].join('.') : dotted(full);
    if (issue.code === 'unrecognized_keys') {
      const known = objectKeysAt(full);
      for (const key of issue.keys) {
        out.push({
          path: [label, key].filter(Boolean).join('.'),
          message: `unknown key "${key}"${didYouMean(key, known)}`,
          ...(locate([...full, key]) ?? locate(full)),
        });
      }
      continue;
    }
    out.push({path: label, message: describeZodIssue(issue, valueAt(raw, issue.path)), ...nearestPosition(full, locate)});
  }
  return out;
}

function objectKeysAt(path: (string | number)[]): string[] {
  let schema: z.ZodTypeAny | undefined = studySchema;
  for (const p of path) {
    if (typeof p === 'number') continue;
    schema = objectKeys(schema)?.get(p);
    if (!schema) return [];
  }
  return [...(objectKeys(schema)?.keys() ?? [])];
}

function describeZodIssue(issue: z.ZodIssue, received: unknown): string {
  const got = received === undefined ? 'nothing' : JSON.stringify(received);
  switch (issue.code) {
    case 'invalid_type':
      if (issue.received === 'undefined') return `required: expected ${issue.expected}`;
      if (issue.expected === 'integer') return `expected a whole number; received ${got}`;
      return `expected ${issue.expected}, received ${issue.received} ${got}`;
    case 'invalid_enum_value':
      return `expected one of ${issue.options.map((o) => JSON.stringify(o)).join(', ')}; received ${got}${didYouMean(String(received), issue.options.map(String))}`;
    case 'invalid_literal':
      return `expected ${JSON.stringify(issue.expected)}; received ${got}`;
    case 'invalid_union_discriminator':
      return `expected one of ${issue.options.map((o) => JSON.stringify(o)).join(', ')}; received ${got}${didYouMean(String(received), issue.options.map(String))}`;
    case 'too_small':
      if (issue.type === 'array') return `${issue.message === 'Required' ? '' : issue.message.startsWith('Array') ? `needs at least ${issue.minimum} item(s)` : issue.message}; received ${got}`.replace(/^; /, '');
      return `must be ${issue.inclusive ? '>=' : '>'} ${issue.minimum}; received ${got}`;
    case 'too_big':
      if (issue.type === 'array') return `at most ${issue.maximum} item(s); received ${got}`;
      return `must be ${issue.inclusive ? '<=' : '<'} ${issue.maximum}; received ${got}`;
    case 'invalid_string':
      return `${issue.message}; received ${got}`;
    default:
      return issue.message;
  }
}

function valueAt(raw: unknown, path: (string | number)[]): unknown {
  let v: unknown = raw;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

function nearestPosition(path: (string | number)[], locate: LoadedStudy['locate']) {
  for (let n = path.length; n >= 0; n--) {
    const pos = locate(path.slice(0, n));
    if (pos) return pos;
  }
  return {};
}

export function dotted(path: (string | number)[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (p.includes('.')) out += `["${p}"]`;
    else out += out ? `.${p}` : p;
  }
  return out;
}

function positionOf(doc: Document, lc: LineCounter, path: (string | number)[]): {line: number; column: number} | undefined {
  if (path.length === 0) return undefined;
  // A missing last segment that is a map key: point at the key itself when present.
  const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
  const last = path[path.length - 1];
  if (isMap(parent)) {
    const pair = parent.items.find((it) => isScalar(it.key) && String(it.key.value) === String(last));
    const node = (pair?.key as YamlNode | undefined) ?? undefined;
    if (node?.range) return toPos(lc, node.range[0]);
  }
  if (isSeq(parent) && typeof last === 'number') {
    const node = parent.items[last] as YamlNode | undefined;
    if (node?.range) return toPos(lc, node.range[0]);
  }
  const node = doc.getIn(path, true) as YamlNode | undefined;
  if (node && typeof node === 'object' && node.range) return toPos(lc, node.range[0]);
  return undefined;
}

function toPos(lc: LineCounter, offset: number) {
  const {line, col} = lc.linePos(offset);
  return {line, column: col};
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.line}:${i.column}:${i.path}:${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Slots and threads actually used, from the config and the machine. */
export function resolveResources(
  r: Omit<ResourcesConfig, 'trials_per_gpu' | 'compile' | 'gpus' | 'autotune'> & {trials_per_gpu?: number; gpus?: number[]},
  cores = os.availableParallelism(),
): {
  workers: number;
  threads: number;
  executor: (typeof EXECUTORS)[number];
  gpus?: number[];
} {
  const workers = r.workers ?? (r.gpus ? r.gpus.length * (r.trials_per_gpu ?? 1) : Math.max(1, cores));
  const threads = r.threads ?? Math.max(1, Math.floor(cores / workers));
  const executor = r.executor ?? (r.gpus || needsProcess(r.engine) ? 'process' : 'thread');
  return {workers, threads, executor, gpus: r.gpus};
}
