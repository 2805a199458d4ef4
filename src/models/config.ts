/**
 * The YAML `model:` section: schema, preset resolution, and the rules that make a combination possible.
 *
 * Resolution order (timm-style): defaults <- preset <- fields given next to the preset. The schema
 * itself reports impossible combinations (so a sweep cell such as `model.depth: 21` is rejected before
 * anything runs) and its output is the fully resolved config: every field explicit, no `preset` — two
 * spellings of the same network parse to the same object.
 */
import {z} from 'zod';
import {UsageError} from '../errors';
import {lookupPreset, PRESET_NAMES, PRESET_PATTERNS, suggestPreset, type PresetFields} from './presets';
import {
  BLOCKS, bottleneckWidth, conventionalShortcut, DEPTH_RULES, depthOf, FAMILIES, FAMILY_INFO, SHORTCUTS,
  stageOutChannels, stagePlanes, stagesForDepth, type ModelSpec,
} from './spec';

export const modelConfigObject = z
  .object({
    /** A named network (resnet20, wrn-28-10, resnext29-8x64d, ...); the other fields override it. */
    preset: z.string().optional(),
    family: z.enum(FAMILIES).optional(),
    block: z.enum(BLOCKS).optional(),
    depth: z.number().int().positive().optional(),
    /** Blocks per stage; an alternative to depth (both given: they must agree). */
    stages: z.array(z.number().int().positive()).min(1).optional(),
    /** First-stage planes before widening (ResNeXt-29: 64); default the family's (cifar 16, imagenet 64). */
    planes: z.number().int().positive().optional(),
    /** WRN's widening factor k: every stage's planes x k. */
    widen_factor: z.number().positive().optional(),
    /** The former name of widen_factor, accepted where it cannot mean anything else (not on bottleneck blocks). */
    width: z.number().positive().optional(),
    stem_width: z.number().int().positive().optional(),
    cardinality: z.number().int().positive().optional(),
    base_width: z.number().int().positive().optional(),
    residual: z.boolean().optional(),
    batch_norm: z.boolean().optional(),
    shortcut: z.enum(SHORTCUTS).optional(),
    dropout: z.number().min(0).lt(1).optional(),
    zero_init_residual: z.boolean().optional(),
  })
  .strict();

/** The `model:` section as written (every key optional). */
export type ModelConfigInput = z.input<typeof modelConfigObject>;

/** The `model:` section resolved: every key explicit, preset expanded. */
export interface ModelConfig {
  family: ModelSpec['family'];
  block: ModelSpec['block'];
  depth: number;
  stages: number[];
  planes: number;
  widen_factor: number;
  stem_width: number;
  cardinality: number;
  base_width: number;
  residual: boolean;
  batch_norm: boolean;
  shortcut: ModelSpec['shortcut'];
  dropout: number;
  zero_init_residual: boolean;
}

/** Defaults of a config that names nothing: He et al.'s ResNet-20 with option A shortcuts. */
export const MODEL_DEFAULTS = {
  family: 'cifar', block: 'basic', widen_factor: 1, cardinality: 1, base_width: 64,
  residual: true, batch_norm: true, dropout: 0, zero_init_residual: false,
} as const;

/** Depth when none is given (nor stages): the best-known member of each layout. */
const DEFAULT_DEPTH = {
  cifar: {basic: 20, bottleneck: 29, preact: 28},
  imagenet: {basic: 18, bottleneck: 50, preact: 18},
} as const;

export interface ModelConfigIssue {
  /** Zod-style path below the `model:` section. */
  path: (string | number)[];
  message: string;
}

type Key = keyof ModelConfig;
type Source = 'config' | 'preset' | 'default';

function show(value: unknown): string {
  return Array.isArray(value) ? `[${value.join(',')}]` : String(value);
}

/**
 * Checks a parsed (type-correct) config and resolves it. Returns every problem found, each with the
 * path of the field to change and the values received.
 */
export function checkModelConfig(cfg: ModelConfigInput): {spec?: ModelSpec; issues: ModelConfigIssue[]} {
  const issues: ModelConfigIssue[] = [];
  let preset: PresetFields = {};
  if (cfg.preset !== undefined) {
    const found = lookupPreset(cfg.preset);
    if (!found) {
      const guess = suggestPreset(cfg.preset);
      const message = guess
        ? `unknown preset "${cfg.preset}"; did you mean "${guess}"?`
        : `unknown preset "${cfg.preset}"; known: ${PRESET_NAMES.filter((n) => !/^(wrn|resnext|wide)/.test(n)).join(', ')}, ` +
          `and the forms ${PRESET_PATTERNS.join(', ')} (e.g. wrn-28-10, resnext29-8x64d)`;
      return {issues: [{path: ['preset'], message}]};
    }
    preset = found;
  }

  const source = {} as Record<Key, Source>;
  // `width` is read as widen_factor where that is its only meaning (checked below, once the block is known).
  const raw: Record<string, unknown> = {...cfg, widen_factor: cfg.widen_factor ?? cfg.width};
  const pick = <K extends Key>(key: K, fallback: () => ModelConfig[K] | undefined): ModelConfig[K] => {
    if (raw[key] !== undefined) {
      source[key] = 'config';
      return raw[key] as ModelConfig[K];
    }
    if ((preset as Record<string, unknown>)[key] !== undefined) {
      source[key] = 'preset';
      return (preset as Record<string, unknown>)[key] as ModelConfig[K];
    }
    source[key] = 'default';
    return fallback() as ModelConfig[K];
  };
  // Stages given without a depth replace the preset's depth rather than contradict it.
  if (cfg.stages !== undefined && cfg.depth === undefined) delete preset.depth;

  const family = pick('family', () => MODEL_DEFAULTS.family);
  const block = pick('block', () => MODEL_DEFAULTS.block);
  const widenFactor = pick('widen_factor', () => MODEL_DEFAULTS.widen_factor);
  const planes = pick('planes', () => FAMILY_INFO[family].firstPlanes);
  const cardinality = pick('cardinality', () => MODEL_DEFAULTS.cardinality);
  const baseWidth = pick('base_width', () => MODEL_DEFAULTS.base_width);
  const residual = pick('residual', () => MODEL_DEFAULTS.residual);
  const batchNorm = pick('batch_norm', () => MODEL_DEFAULTS.batch_norm);
  const dropout = pick('dropout', () => MODEL_DEFAULTS.dropout);
  const zeroInit = pick('zero_init_residual', () => MODEL_DEFAULTS.zero_init_residual);
  const shortcut = pick('shortcut', () => conventionalShortcut(family, block));
  // The family's stem, but never wider than the first stage (fractional widths keep option A possible).
  const stemWidth = pick('stem_width', () =>
    Math.max(1, Math.min(FAMILY_INFO[family].stemWidth, stageOutChannels({planes, widenFactor, block}, 0))));
  const givenStages = pick('stages', () => undefined) as number[] | undefined;
  const givenDepth = pick('depth', () => (givenStages ? undefined : DEFAULT_DEPTH[family][block]));

  const values: Record<string, unknown> = {
    family, block, planes, widen_factor: widenFactor, cardinality, base_width: baseWidth, residual, batch_norm: batchNorm, dropout,
    zero_init_residual: zeroInit, shortcut, stem_width: stemWidth, stages: givenStages, depth: givenDepth,
  };
  /** `depth=21`, or `depth=27 (from preset wrn-27-10)` when the value is the preset's. */
  const received = (...keys: Key[]) =>
    'received ' + keys.map((k) => `${k}=${show(values[k])}${source[k] === 'preset' ? ` (from preset ${cfg.preset})` : ''}`).join(', ');
  /** The path of the first of `keys` that the config sets, else of the preset that set it. */
  const pathOf = (...keys: Key[]): (string | number)[] => {
    const given = keys.find((k) => source[k] === 'config');
    if (given === 'widen_factor' && cfg.widen_factor === undefined) return ['width'];
    if (given) return [given];
    if (keys.some((k) => source[k] === 'preset')) return ['preset'];
    return [keys[0]];
  };
  const fail = (path: (string | number)[], message: string) => issues.push({path, message});

  if (cfg.width !== undefined) {
    if (cfg.widen_factor !== undefined) {
      fail(['width'], `width is the former name of widen_factor; give widen_factor only; received width=${cfg.width}, widen_factor=${cfg.widen_factor}`);
    } else if (block === 'bottleneck') {
      fail(
        ['width'],
        `width is ambiguous on bottleneck blocks; did you mean widen_factor (WRN's k: every stage's planes x k), ` +
          `planes (the first stage's planes: 64 in ResNeXt-29) or base_width (ResNeXt's bottleneck width d)? received width=${cfg.width}`,
      );
    }
  }

  const rule = DEPTH_RULES[family][block];
  if (!rule) fail(pathOf('block', 'family'), `${block} blocks (WRN) are built for the cifar family; ${received('family', 'block')}`);
  if (block !== 'bottleneck') {
    if (cardinality !== 1) fail(pathOf('cardinality', 'block'), `${block} block supports cardinality 1; ${received('cardinality')}`);
    if (baseWidth !== 64) fail(pathOf('base_width', 'block'), `${block} block supports base_width 64; ${received('base_width')}`);
  }
  if (dropout > 0 && block !== 'preact') {
    fail(pathOf('dropout', 'block'), `dropout sits between the convolutions of preact (WRN) blocks; ${received('block', 'dropout')}`);
  }
  if (zeroInit && !batchNorm) fail(pathOf('zero_init_residual', 'batch_norm'), `zero_init_residual needs batch_norm: true; ${received('batch_norm')}`);
  if (zeroInit && !residual) fail(pathOf('zero_init_residual', 'residual'), `zero_init_residual needs residual: true; ${received('residual')}`);

  let stages: number[] | undefined;
  if (rule) {
    const stageCount = FAMILY_INFO[family].stageCount;
    const label = family === 'cifar' ? `CIFAR ${block}-block${block === 'preact' ? ' (WRN)' : ''}` : `ImageNet ${block}-block`;
    if (givenStages && givenStages.length !== stageCount) {
      fail(pathOf('stages'), `${family} nets have ${stageCount} stages; ${received('stages')}`);
    } else if (givenStages) {
      stages = givenStages;
      const implied = depthOf(rule, givenStages);
      if (givenDepth !== undefined && givenDepth !== implied) {
        fail(pathOf('depth', 'stages'), `depth disagrees with stages (${block} blocks in stages=${show(givenStages)} make depth ${implied}); ${received('depth')}`);
      }
    } else if (givenDepth !== undefined) {
      stages = stagesForDepth(rule, stageCount, givenDepth);
      if (!stages) {
        const examples = rule.fixed ? ' (or give stages)' : ` (${rule.examples})`;
        fail(pathOf('depth', 'block', 'family'), `${label} depth must be ${rule.formula}${examples}; ${received('depth')}`);
      }
    }
  }

  // Widths that round to nothing (tiny multipliers, or base widths too small for the planes).
  const firstPlanes = stagePlanes({planes, widenFactor}, 0);
  if (firstPlanes < 1) {
    fail(pathOf('widen_factor', 'planes'), `widen_factor leaves the first stage without channels (planes x widen_factor < 0.5); ${received('planes', 'widen_factor')}`);
  } else if (block === 'bottleneck' && bottleneckWidth({planes, widenFactor, baseWidth, cardinality}, 0) < 1) {
    fail(
      pathOf('base_width', 'widen_factor', 'planes'),
      `bottleneck groups would be empty in the first stage (int(${firstPlanes} planes x base_width / 64) = 0); ${received('base_width', 'planes', 'widen_factor')}`,
    );
  }

  const firstOut = stageOutChannels({planes, widenFactor, block}, 0);
  if (residual && shortcut === 'A' && firstPlanes >= 1 && stemWidth > firstOut) {
    fail(
      pathOf('stem_width', 'shortcut'),
      `shortcut A zero-pads channels and cannot drop them: the stem's ${stemWidth} filters exceed the first stage's ${firstOut} channels; ` +
        `${received('stem_width', 'shortcut')}`,
    );
  }

  if (issues.length || !stages) return {issues};
  const spec: ModelSpec = {
    family, block, stages, depth: depthOf(rule!, stages), planes, widenFactor, stemWidth, cardinality, baseWidth,
    residual, batchNorm, shortcut, dropout, zeroInitResidual: zeroInit,
  };
  return {spec, issues};
}

/** Resolved spec -> explicit config (snake_case YAML keys). */
export function specToConfig(spec: ModelSpec): ModelConfig {
  return {
    family: spec.family, block: spec.block, depth: spec.depth, stages: spec.stages.slice(), planes: spec.planes,
    widen_factor: spec.widenFactor, stem_width: spec.stemWidth, cardinality: spec.cardinality, base_width: spec.baseWidth, residual: spec.residual,
    batch_norm: spec.batchNorm, shortcut: spec.shortcut, dropout: spec.dropout, zero_init_residual: spec.zeroInitResidual,
  };
}

/**
 * The YAML `model:` section. Output: the resolved config (every field explicit, preset expanded).
 * `modelConfigObject` is the same object schema without the combination rules (for key listings).
 */
export const modelConfigSchema = modelConfigObject
  .superRefine((cfg, ctx) => {
    for (const issue of checkModelConfig(cfg).issues) ctx.addIssue({code: z.ZodIssueCode.custom, path: issue.path, message: issue.message});
  })
  .transform((cfg): ModelConfig => specToConfig(checkModelConfig(cfg).spec!));

/** Preset + overrides -> the fully resolved spec. Throws a UsageError naming every problem. */
export function resolveModelSpec(cfg: ModelConfigInput | ModelConfig): ModelSpec {
  const parsed = modelConfigObject.safeParse(cfg);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `model${i.path.map((p) => `.${p}`).join('')}: ${i.message}`);
    throw new UsageError(`invalid model config: ${lines.join('; ')}`, {hint: 'check the model: section of the study file'});
  }
  const {spec, issues} = checkModelConfig(parsed.data);
  if (!spec) {
    const lines = issues.map((i) => `model.${i.path.join('.')}: ${i.message}`);
    throw new UsageError(`invalid model config: ${lines.join('; ')}`, {hint: 'check the model: section of the study file'});
  }
  return spec;
}

/** Planes in the first stage of a smoke net made from a net of the family's default planes. */
const SMOKE_PLANES = 4;

/**
 * The same architecture shrunk so that a `--smoke` run of any study trains in seconds: same family,
 * block, depth, stages, cardinality, shortcut, residual, batch norm, dropout and zero-init; only
 * channel counts change:
 *  - planes: the first stage gets 4 x sqrt(its planes / the family's default planes), at widen_factor 1
 *    (ResNet-20 -> 4 planes, WRN-16-10 -> 13, ResNeXt-29 -> 8), so nets that were wider stay wider and the cells of a width sweep stay distinct, yet all are tiny;
 *  - stem: 4 filters (fewer if the first stage has fewer channels);
 *  - bottlenecks: the group width d of the first stage becomes round(sqrt(d) / 2) (at least 1) with the
 *    cardinality kept, so ResNeXt-29 8x64d becomes 8 groups of 4 channels and ResNeXt-50 32x4d 32 groups of 1.
 * Returns the explicit config; throws a UsageError if `cfg` is not a valid model config.
 */
export function smokeModelConfig(cfg: ModelConfigInput | ModelConfig): ModelConfig {
  const spec = resolveModelSpec(cfg);
  const first = FAMILY_INFO[spec.family].firstPlanes;
  const planes = Math.max(1, Math.round(SMOKE_PLANES * Math.sqrt(stagePlanes(spec, 0) / first)));
  const smoke: ModelSpec = {...spec, planes, widenFactor: 1};
  // Option A cannot narrow the channels, so the stem never exceeds the first stage.
  smoke.stemWidth = Math.min(SMOKE_PLANES, stageOutChannels(smoke, 0));
  if (spec.block === 'bottleneck') {
    const groupWidth = bottleneckWidth(spec, 0) / spec.cardinality;
    const smokeGroupWidth = Math.max(1, Math.round(Math.sqrt(groupWidth) / 2));
    // The smallest base width that gives exactly that group width: int(planes * b / 64) = smokeGroupWidth.
    smoke.baseWidth = Math.ceil((64 * smokeGroupWidth) / planes);
  }
  return specToConfig(smoke);
}
