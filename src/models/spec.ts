/**
 * The resolved description of one network of the ResNet family, and the rules that tie its fields
 * together (depth <-> blocks per stage, channel widths per stage). Pure data: no tensors here.
 *
 * Families:
 *  - cifar: He et al. 2016 §4.2 — 3x3 stem, three stages of 16/32/64 planes (x k), strides 1/2/2.
 *    Also the Wide ResNets (Zagoruyko & Komodakis 2016, pre-activation blocks, depth 6n+4) and
 *    ResNeXt-29 (Xie et al. 2017 §5: 64-filter stem, 64/128/256 planes, bottleneck outputs 256/512/1024).
 *  - imagenet: He et al. 2016 Table 1 — 7x7/2 stem + 3x3/2 max-pool, four stages of 64/128/256/512 planes.
 */

export type Family = 'cifar' | 'imagenet';
export type BlockKind = 'basic' | 'bottleneck' | 'preact';
/** He et al. 2016 §4.1: A = zero-padding shortcuts, B = projections where the shape changes, C = projections everywhere. */
export type ShortcutOption = 'A' | 'B' | 'C';

export const FAMILIES = ['cifar', 'imagenet'] as const;
export const BLOCKS = ['basic', 'bottleneck', 'preact'] as const;
export const SHORTCUTS = ['A', 'B', 'C'] as const;

export interface ModelSpec {
  family: Family;
  block: BlockKind;
  /** Residual blocks per stage (3 stages for cifar, 4 for imagenet). */
  stages: number[];
  /** Layer count in the papers' convention (derived from stages; see DEPTH_RULES). */
  depth: number;
  /** Planes of the first stage before widening (doubled at every later stage); the family's 16 or 64, ResNeXt-29's 64. */
  planes: number;
  /** Widening factor k of Zagoruyko & Komodakis 2016 §2: every stage's planes x k (fractions allowed). */
  widenFactor: number;
  /** Filters of the stem convolution. */
  stemWidth: number;
  /** Groups of the bottleneck's 3x3 convolution (ResNeXt's C). */
  cardinality: number;
  /** Channels per group for 64 planes (torchvision `base_width`; ResNeXt's d in the first stage). */
  baseWidth: number;
  /** false: the plain network of He et al. 2016 (no shortcuts at all). */
  residual: boolean;
  batchNorm: boolean;
  shortcut: ShortcutOption;
  /** Dropout rate between the two convolutions of a pre-activation block (WRN §2). */
  dropout: number;
  /** Start every residual branch at zero by zero-initialising its last BN gamma. */
  zeroInitResidual: boolean;
}

export interface FamilyInfo {
  /** Planes of the first stage unless `planes` says otherwise. */
  firstPlanes: number;
  stageCount: number;
  stemWidth: number;
  /** The input the papers use, for presets and `plan`. */
  input: {height: number; width: number; channels: number};
  classes: number;
}

export const FAMILY_INFO: Record<Family, FamilyInfo> = {
  cifar: {firstPlanes: 16, stageCount: 3, stemWidth: 16, input: {height: 32, width: 32, channels: 3}, classes: 10},
  imagenet: {firstPlanes: 64, stageCount: 4, stemWidth: 64, input: {height: 224, width: 224, channels: 3}, classes: 1000},
};

/** Output channels of a bottleneck block per plane (He et al. 2016 Fig. 5). */
export const BOTTLENECK_EXPANSION = 4;

export interface DepthRule {
  /** Weighted layers per block. */
  perBlock: number;
  /** Layers outside the blocks counted in the name (stem + classifier; WRN also counts its two extra projections). */
  extra: number;
  /** How the rule is written in messages. */
  formula: string;
  /** Valid depths, for messages. */
  examples: string;
  /** ImageNet nets use fixed stage lists rather than n blocks per stage. */
  fixed?: Record<number, number[]>;
}

export const DEPTH_RULES: Record<Family, Partial<Record<BlockKind, DepthRule>>> = {
  cifar: {
    basic: {perBlock: 2, extra: 2, formula: '6n+2', examples: '8, 14, 20, 32, 44, 56, 110, ...'},
    bottleneck: {perBlock: 3, extra: 2, formula: '9n+2', examples: '11, 20, 29, 38, 56, 110, 164, ...'},
    preact: {perBlock: 2, extra: 4, formula: '6n+4', examples: '10, 16, 22, 28, 40, ...'},
  },
  imagenet: {
    basic: {perBlock: 2, extra: 2, formula: '18 or 34', examples: '18, 34', fixed: {18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}},
    bottleneck: {
      perBlock: 3, extra: 2, formula: '50, 101 or 152', examples: '50, 101, 152',
      fixed: {50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]},
    },
  },
};

export function depthOf(rule: DepthRule, stages: number[]): number {
  return rule.perBlock * stages.reduce((a, b) => a + b, 0) + rule.extra;
}

/** Blocks per stage for a depth, or undefined when the depth does not fit the rule. */
export function stagesForDepth(rule: DepthRule, stageCount: number, depth: number): number[] | undefined {
  if (rule.fixed) return rule.fixed[depth]?.slice();
  const n = (depth - rule.extra) / (rule.perBlock * stageCount);
  return Number.isInteger(n) && n >= 1 ? Array(stageCount).fill(n) : undefined;
}

/** Planes of stage i (0-based): the first stage's planes x k, doubled at every stage. */
export function stagePlanes(spec: Pick<ModelSpec, 'planes' | 'widenFactor'>, i: number): number {
  return Math.round(spec.planes * spec.widenFactor) * 2 ** i;
}

/** Output channels of the blocks of stage i. */
export function stageOutChannels(spec: Pick<ModelSpec, 'planes' | 'widenFactor' | 'block'>, i: number): number {
  return stagePlanes(spec, i) * (spec.block === 'bottleneck' ? BOTTLENECK_EXPANSION : 1);
}

/**
 * Channels of the grouped 3x3 convolution of a bottleneck in stage i, as torchvision computes it:
 * `int(planes * base_width / 64) * groups` — ResNeXt's C x d, with d doubling per stage (Xie et al. 2017 Table 1).
 */
export function bottleneckWidth(spec: Pick<ModelSpec, 'planes' | 'widenFactor' | 'baseWidth' | 'cardinality'>, i: number): number {
  return Math.floor((stagePlanes(spec, i) * spec.baseWidth) / 64) * spec.cardinality;
}

function fmt(x: number): string {
  return String(Number(x.toPrecision(6)));
}

/** First-stage planes of the papers' nets: ResNeXt-29's 64 (Xie et al. 2017 §5) for grouped CIFAR bottlenecks, else the family's. */
export function standardPlanes(family: Family, block: BlockKind, cardinality: number): number {
  return family === 'cifar' && block === 'bottleneck' && cardinality > 1 ? 64 : FAMILY_INFO[family].firstPlanes;
}

/** The conventional shortcut of a layout: option A for He et al.'s CIFAR nets, projections elsewhere. */
export function conventionalShortcut(family: Family, block: BlockKind): ShortcutOption {
  return family === 'cifar' && block === 'basic' ? 'A' : 'B';
}

/**
 * A short name in the papers' words: "ResNet-20", "plain-20", "WRN-28-10", "ResNeXt-29 8x64d",
 * "ResNeXt-50 32x4d", "WRN-50-2", followed by the options that differ from the layout's convention,
 * e.g. "ResNet-20 (option B, no BN)".
 */
export function describeModel(spec: ModelSpec): string {
  const resnextCifar = spec.family === 'cifar' && spec.block === 'bottleneck' && spec.cardinality > 1;
  let name: string;
  if (spec.block === 'preact') name = `WRN-${spec.depth}-${fmt(spec.widenFactor)}`;
  else if (spec.cardinality > 1) name = `ResNeXt-${spec.depth} ${spec.cardinality}x${bottleneckWidth(spec, 0) / spec.cardinality}d`;
  else if (spec.block === 'bottleneck' && spec.baseWidth !== 64) name = `WRN-${spec.depth}-${fmt(spec.baseWidth / 64)}`;
  else name = `ResNet-${spec.depth}`;
  if (!spec.residual) name = name.startsWith('ResNet-') ? `plain-${spec.depth}` : `plain ${name}`;

  const tags: string[] = [];
  if (spec.block !== 'preact' && spec.widenFactor !== 1) tags.push(`widen_factor ${fmt(spec.widenFactor)}`);
  if (spec.planes !== standardPlanes(spec.family, spec.block, spec.cardinality)) tags.push(`planes ${spec.planes}`);
  const standardStem = resnextCifar ? 64 : FAMILY_INFO[spec.family].stemWidth;
  if (spec.stemWidth !== standardStem) tags.push(`stem ${spec.stemWidth}`);
  if (spec.residual && spec.shortcut !== conventionalShortcut(spec.family, spec.block)) tags.push(`option ${spec.shortcut}`);
  if (!spec.batchNorm) tags.push('no BN');
  if (spec.dropout > 0) tags.push(`dropout ${fmt(spec.dropout)}`);
  if (spec.zeroInitResidual) tags.push('zero-init');
  return tags.length ? `${name} (${tags.join(', ')})` : name;
}
