/**
 * The layer-by-layer layout of a network: every convolution, batch norm, shortcut and the classifier,
 * with the stable names that key the model's variables. Pure data derived from the spec; the builder
 * creates variables from it and the accounting counts it, so both always describe the same network.
 */
import {
  BOTTLENECK_EXPANSION, bottleneckWidth, stageOutChannels, stagePlanes, type BlockKind, type ModelSpec,
} from './spec';

export interface ConvDef {
  /** `stage2.block3.conv1`; the variables are `<name>.weight` and, without BN, `<name>.bias`. */
  name: string;
  kernel: number;
  stride: number;
  /** Symmetric zero padding on every side (PyTorch semantics). */
  pad: number;
  inChannels: number;
  outChannels: number;
  groups: number;
  bias: boolean;
  /** The weight starts at 0 (the last convolution of a pre-activation branch, when zero-init is asked for). */
  zeroInit: boolean;
}

export interface BnDef {
  /** `stage2.block3.bn1`; variables `<name>.gamma`, `<name>.beta`, state `<name>.running_mean`, `<name>.running_var`. */
  name: string;
  channels: number;
  /** gamma starts at 0 (the last BN of a post-activation residual branch, when zero-init is asked for). */
  zeroInit: boolean;
}

export type ShortcutDef =
  /** Plain network: no shortcut at all. */
  | {kind: 'none'}
  | {kind: 'identity'}
  /** Option A: subsample by `stride`, zero-pad the channels (`before` in front, `after` behind). */
  | {kind: 'pad'; stride: number; before: number; after: number}
  /** Options B/C: 1x1 convolution (+ BN, except in pre-activation blocks, whose input is already normalised). */
  | {kind: 'projection'; conv: ConvDef; bn?: BnDef};

export interface BlockDef {
  /** `stage2.block3` */
  name: string;
  kind: BlockKind;
  stride: number;
  inChannels: number;
  outChannels: number;
  /** The branch's convolutions in order. */
  convs: ConvDef[];
  /**
   * One BN per convolution (empty without BN): after conv i in basic and bottleneck blocks,
   * before conv i in pre-activation blocks (He et al. 2016b, "Identity mappings", Fig. 4e).
   */
  bns: BnDef[];
  shortcut: ShortcutDef;
  /** Pre-activation blocks: dropout rate between the two convolutions. */
  dropout: number;
}

export interface NetworkDef {
  stem: {
    conv: ConvDef;
    bn?: BnDef;
    /** BN-ReLU after the stem convolution (not in pre-activation nets, whose first block begins with it). */
    relu: boolean;
    /** ImageNet: 3x3 stride-2 max-pool with padding 1. */
    maxPool: boolean;
  };
  blocks: BlockDef[];
  /** Pre-activation nets end with BN-ReLU before pooling. */
  final?: {bn?: BnDef; relu: true};
  fc: {name: 'fc'; inFeatures: number; classes: number};
}

function conv(name: string, inChannels: number, outChannels: number, kernel: number, stride: number, bias: boolean, groups = 1): ConvDef {
  return {name, kernel, stride, pad: (kernel - 1) / 2, inChannels, outChannels, groups, bias, zeroInit: false};
}

function shortcutFor(spec: ModelSpec, name: string, inChannels: number, outChannels: number, stride: number): ShortcutDef {
  if (!spec.residual) return {kind: 'none'};
  const changes = stride !== 1 || inChannels !== outChannels;
  if (spec.shortcut === 'A') {
    if (!changes) return {kind: 'identity'};
    if (inChannels > outChannels) throw new Error(`${name}: option A cannot drop channels (${inChannels} -> ${outChannels})`);
    // As the reference (shared/bench/torch_reference.py): half the new channels in front, the rest behind.
    const extra = outChannels - inChannels;
    return {kind: 'pad', stride, before: Math.floor(extra / 2), after: extra - Math.floor(extra / 2)};
  }
  if (spec.shortcut !== 'C' && !changes) return {kind: 'identity'};
  const projection = conv(`${name}.shortcut.conv`, inChannels, outChannels, 1, stride, !spec.batchNorm);
  const withBn = spec.batchNorm && spec.block !== 'preact';
  return {kind: 'projection', conv: projection, ...(withBn ? {bn: {name: `${name}.shortcut.bn`, channels: outChannels, zeroInit: false}} : {})};
}

/**
 * Zero-init of a residual branch (Goyal et al. 2017; timm `zero_init_last`) sets the branch's last parameter
 * to 0 so that every block starts as its shortcut. Post-activation branches end with BN: its gamma. A
 * pre-activation branch ends with a convolution, and its last BN sits before a ReLU: a zero gamma there
 * would output relu(0) = 0 with zero gradient, and the branch would never learn. There: the last convolution.
 */
function bns(spec: ModelSpec, name: string, channels: number[], zeroLast: boolean): BnDef[] {
  if (!spec.batchNorm) return [];
  return channels.map((c, i) => ({name: `${name}.bn${i + 1}`, channels: c, zeroInit: zeroLast && i === channels.length - 1}));
}

/** One block of stage `stage` (0-based) in the shape the spec asks for. */
function blockDef(spec: ModelSpec, name: string, stage: number, inChannels: number, stride: number): BlockDef {
  const bias = !spec.batchNorm;
  const zero = spec.zeroInitResidual;
  const planes = stagePlanes(spec, stage);
  const base = {name, kind: spec.block, stride, inChannels, dropout: 0};
  switch (spec.block) {
    case 'basic': {
      // He et al. 2016 Fig. 5 left: 3x3 (stride here) -> 3x3.
      const convs = [conv(`${name}.conv1`, inChannels, planes, 3, stride, bias), conv(`${name}.conv2`, planes, planes, 3, 1, bias)];
      return {...base, outChannels: planes, convs, bns: bns(spec, name, [planes, planes], zero), shortcut: shortcutFor(spec, name, inChannels, planes, stride)};
    }
    case 'bottleneck': {
      // He et al. 2016 Fig. 5 right; stride on the 3x3 as torchvision ("ResNet v1.5");
      // the 3x3 is grouped with C groups of d channels (Xie et al. 2017 Fig. 3c).
      const inner = bottleneckWidth(spec, stage);
      const out = planes * BOTTLENECK_EXPANSION;
      const convs = [
        conv(`${name}.conv1`, inChannels, inner, 1, 1, bias),
        conv(`${name}.conv2`, inner, inner, 3, stride, bias, spec.cardinality),
        conv(`${name}.conv3`, inner, out, 1, 1, bias),
      ];
      return {...base, outChannels: out, convs, bns: bns(spec, name, [inner, inner, out], zero), shortcut: shortcutFor(spec, name, inChannels, out, stride)};
    }
    case 'preact': {
      // Zagoruyko & Komodakis 2016 Fig. 1d: BN-ReLU-conv3x3 (stride here) - dropout - BN-ReLU-conv3x3.
      const convs = [conv(`${name}.conv1`, inChannels, planes, 3, stride, bias), {...conv(`${name}.conv2`, planes, planes, 3, 1, bias), zeroInit: zero}];
      return {
        ...base, outChannels: planes, convs, bns: bns(spec, name, [inChannels, planes], false),
        shortcut: shortcutFor(spec, name, inChannels, planes, stride), dropout: spec.dropout,
      };
    }
  }
}

export function networkLayout(spec: ModelSpec, inChannels: number, classes: number): NetworkDef {
  const imagenet = spec.family === 'imagenet';
  const preact = spec.block === 'preact';
  const stemConv = imagenet
    ? conv('stem.conv', inChannels, spec.stemWidth, 7, 2, !spec.batchNorm)
    : conv('stem.conv', inChannels, spec.stemWidth, 3, 1, !spec.batchNorm);
  const stemBn = spec.batchNorm && !preact ? {name: 'stem.bn', channels: spec.stemWidth, zeroInit: false} : undefined;
  const blocks: BlockDef[] = [];
  let channels = spec.stemWidth;
  spec.stages.forEach((count, s) => {
    for (let b = 0; b < count; b++) {
      const stride = s > 0 && b === 0 ? 2 : 1;
      const block = blockDef(spec, `stage${s + 1}.block${b + 1}`, s, channels, stride);
      blocks.push(block);
      channels = block.outChannels;
    }
  });
  if (blocks.length && channels !== stageOutChannels(spec, spec.stages.length - 1)) throw new Error('layout: channel bookkeeping broke');
  return {
    stem: {conv: stemConv, ...(stemBn ? {bn: stemBn} : {}), relu: !preact, maxPool: imagenet},
    blocks,
    ...(preact ? {final: {...(spec.batchNorm ? {bn: {name: 'final.bn', channels, zeroInit: false}} : {}), relu: true as const}} : {}),
    fc: {name: 'fc', inFeatures: channels, classes},
  };
}
