/**
 * Trainable parameters and multiply-accumulates, as pure functions of the spec (no tensors).
 * MACs count the convolutions and the fully connected layer for one image — the convention of the
 * papers' FLOPs columns and of fvcore/ptflops; BN, ReLU, additions and pooling are not counted.
 */
import type {InputShape} from './types';
import {networkLayout, type BnDef, type ConvDef, type NetworkDef} from './layout';
import type {ModelSpec} from './spec';

export interface Accounting {
  params: number;
  macs: number;
}

function convParams(c: ConvDef): number {
  return c.kernel * c.kernel * (c.inChannels / c.groups) * c.outChannels + (c.bias ? c.outChannels : 0);
}

function bnParams(b: BnDef | undefined): number {
  return b ? 2 * b.channels : 0;
}

/** Output side of a convolution or pooling window (floor, as PyTorch and tfjs with explicit padding). */
export function outputSize(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

function countLayout(net: NetworkDef, input: InputShape): Accounting {
  let params = 0;
  let macs = 0;
  let h = input.height;
  let w = input.width;
  /** Counts a convolution applied at the current size and returns its output size. */
  const conv = (c: ConvDef, inH: number, inW: number): [number, number] => {
    const oh = outputSize(inH, c.kernel, c.stride, c.pad);
    const ow = outputSize(inW, c.kernel, c.stride, c.pad);
    params += convParams(c);
    macs += oh * ow * c.kernel * c.kernel * (c.inChannels / c.groups) * c.outChannels;
    return [oh, ow];
  };

  [h, w] = conv(net.stem.conv, h, w);
  params += bnParams(net.stem.bn);
  if (net.stem.maxPool) [h, w] = [outputSize(h, 3, 2, 1), outputSize(w, 3, 2, 1)];
  for (const block of net.blocks) {
    let bh = h;
    let bw = w;
    for (const c of block.convs) [bh, bw] = conv(c, bh, bw);
    for (const b of block.bns) params += bnParams(b);
    if (block.shortcut.kind === 'projection') {
      conv(block.shortcut.conv, h, w);
      params += bnParams(block.shortcut.bn);
    }
    [h, w] = [bh, bw];
  }
  params += bnParams(net.final?.bn);
  params += net.fc.inFeatures * net.fc.classes + net.fc.classes;
  macs += net.fc.inFeatures * net.fc.classes;
  return {params, macs};
}

/** Parameters and MACs of the network for one image of `input`. */
export function accountModel(spec: ModelSpec, input: InputShape, classes: number): Accounting {
  return countLayout(networkLayout(spec, input.channels, classes), input);
}

/** Trainable parameters (weights, biases, BN gamma and beta; not the running statistics). */
export function countParams(spec: ModelSpec, input: InputShape, classes: number): number {
  return accountModel(spec, input, classes).params;
}

/** Multiply-accumulates of the convolutions and the classifier for one image. */
export function countMacs(spec: ModelSpec, input: InputShape, classes: number): number {
  return accountModel(spec, input, classes).macs;
}
