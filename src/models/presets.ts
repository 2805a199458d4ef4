/**
 * Named networks of the four papers as data: each preset is a partial model config (snake_case, the
 * YAML keys) that fields given next to it override, as timm spreads `dict(model_args, **kwargs)`.
 * Their parameter counts are pinned against the papers' tables in test/models/accounting.test.ts.
 */
import {closest} from '../errors';
import type {Family} from './spec';
import {FAMILY_INFO} from './spec';

/** The model keys a preset may set (a subset of the YAML `model:` section). */
export interface PresetFields {
  family?: Family;
  block?: 'basic' | 'bottleneck' | 'preact';
  depth?: number;
  planes?: number;
  widen_factor?: number;
  stem_width?: number;
  cardinality?: number;
  base_width?: number;
  shortcut?: 'A' | 'B' | 'C';
  residual?: boolean;
  batch_norm?: boolean;
  dropout?: number;
}

const cifarResNet = (depth: number): PresetFields => ({family: 'cifar', block: 'basic', depth, shortcut: 'A'});
const imagenetResNet = (depth: number): PresetFields =>
  ({family: 'imagenet', block: depth < 50 ? 'basic' : 'bottleneck', depth, shortcut: 'B'});

/** Fixed names: He et al. 2016 Table 6 (CIFAR-10, option A) and Table 1 (ImageNet, option B as torchvision). */
const FIXED: Record<string, PresetFields> = {
  resnet20: cifarResNet(20),
  resnet32: cifarResNet(32),
  resnet44: cifarResNet(44),
  resnet56: cifarResNet(56),
  resnet110: cifarResNet(110),
  resnet1202: cifarResNet(1202),
  resnet18: imagenetResNet(18),
  resnet34: imagenetResNet(34),
  resnet50: imagenetResNet(50),
  resnet101: imagenetResNet(101),
  resnet152: imagenetResNet(152),
};

interface Pattern {
  /** How the pattern is written in help and messages. */
  form: string;
  regex: RegExp;
  build(m: RegExpMatchArray): PresetFields;
}

/**
 * Parametric names. The depth of a parsed name is checked by the same rules as any config,
 * so `wrn-27-10` is reported as a WRN depth that is not 6n+4.
 */
const PATTERNS: Pattern[] = [
  {
    // Zagoruyko & Komodakis 2016: WRN-d-k, pre-activation basic blocks with widening factor k (16k/32k/64k
    // planes), projection where the width changes.
    form: 'wrn-D-K',
    regex: /^wrn-(\d+)-(\d+)$/,
    build: (m) => ({family: 'cifar', block: 'preact', depth: Number(m[1]), widen_factor: Number(m[2]), shortcut: 'B'}),
  },
  {
    // Xie et al. 2017 §5 (CIFAR): 64-filter stem, the bottleneck template [1x1, 64; 3x3, 64; 1x1, 256] (planes 64,
    // doubled per stage: outputs 256/512/1024), cardinality C and bottleneck width d in the first stage.
    form: 'resnext29-CxDd',
    regex: /^resnext29-(\d+)x(\d+)d$/,
    build: (m) => ({
      family: 'cifar', block: 'bottleneck', depth: 29, planes: 64, stem_width: 64,
      cardinality: Number(m[1]), base_width: Number(m[2]), shortcut: 'B',
    }),
  },
  {
    // Xie et al. 2017 Table 1-3 (ImageNet): ResNet-50/101/152 layouts with grouped bottlenecks.
    form: 'resnext{50,101,152}-CxDd',
    regex: /^resnext(50|101|152)-(\d+)x(\d+)d$/,
    build: (m) => ({
      family: 'imagenet', block: 'bottleneck', depth: Number(m[1]),
      cardinality: Number(m[2]), base_width: Number(m[3]), shortcut: 'B',
    }),
  },
  {
    // Zagoruyko & Komodakis 2016 §4 (ImageNet), torchvision wide_resnet50_2: the bottleneck's inner width
    // is K times wider (base width 64K), its outputs are not.
    form: 'wide-resnet{50,101,152}-K',
    regex: /^wide-resnet(50|101|152)-(\d+)$/,
    build: (m) => ({family: 'imagenet', block: 'bottleneck', depth: Number(m[1]), base_width: 64 * Number(m[2]), shortcut: 'B'}),
  },
];

/** Names listed in help and exercised by the tests: the fixed names and the papers' instances of the patterns. */
export const PRESET_NAMES: readonly string[] = [
  ...Object.keys(FIXED),
  'wrn-16-4', 'wrn-16-8', 'wrn-16-10', 'wrn-22-8', 'wrn-28-10', 'wrn-28-12', 'wrn-40-1', 'wrn-40-2', 'wrn-40-4', 'wrn-40-8',
  'resnext29-8x64d', 'resnext29-16x64d',
  'resnext50-32x4d', 'resnext101-32x4d', 'resnext101-32x8d',
  'wide-resnet50-2', 'wide-resnet101-2',
];

/** The parametric forms, for help text. */
export const PRESET_PATTERNS: readonly string[] = PATTERNS.map((p) => p.form);

/** The fields of a preset, or undefined for an unknown name. */
export function lookupPreset(name: string): PresetFields | undefined {
  if (Object.prototype.hasOwnProperty.call(FIXED, name)) return {...FIXED[name]};
  for (const p of PATTERNS) {
    const m = name.match(p.regex);
    if (m) return p.build(m);
  }
  return undefined;
}

/** Native input shape and class count of a preset (the dataset its paper reports on). */
export function presetInput(name: string): {input: {height: number; width: number; channels: number}; classes: number} {
  const preset = lookupPreset(name);
  if (!preset) throw new Error(`unknown preset ${JSON.stringify(name)}`);
  const info = FAMILY_INFO[preset.family ?? 'cifar'];
  return {input: {...info.input}, classes: info.classes};
}

/** The known name a mistyped one most likely means (`resnet-20` -> `resnet20`, `WRN-28-10` -> `wrn-28-10`). */
export function suggestPreset(name: string): string | undefined {
  const lower = name.toLowerCase();
  if (lower !== name && lookupPreset(lower)) return lower;
  return closest(name, PRESET_NAMES);
}
