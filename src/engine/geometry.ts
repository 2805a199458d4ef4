/**
 * Geometry for the native kernels, pure functions of shapes and attributes: the packed parameter arrays the
 * addon's convolution and pooling take (with the padding oneDNN needs to reproduce tfjs' output sizes), and
 * broadcasting as element strides. Each returns undefined where oneDNN cannot express the case; the kernel
 * then runs the tfjs reference.
 */
import * as tf from '@tensorflow/tfjs-core';

export function sizeOf(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Packs the geometry the addon expects: N,H,W,C, OC, KH,KW, OH,OW, SH,SW, DH,DW, PT,PL,PB,PR, G.
 * Returns undefined when oneDNN cannot express it (the caller then uses the reference kernel).
 */
export function convParams(
  xShape: number[], filterShape: number[], strides: number | [number, number], dilations: number | [number, number],
  pad: unknown, dimRoundingMode: unknown, groups: number,
): Int32Array | undefined {
  if (xShape.length !== 4 || filterShape.length !== 4) return undefined;
  // computeConv2DInfo reads input channels from x; give it a filter shape with the full count.
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    [filterShape[0], filterShape[1], xShape[3], filterShape[3]],
    strides, dilations, pad as 'same', dimRoundingMode as 'floor' | undefined, false, 'channelsLast');
  if (filterShape[2] * groups !== xShape[3] || info.outChannels % groups !== 0) return undefined;
  const dims: Array<[number, number, number, number, number, number]> = [
    [info.inHeight, info.filterHeight, info.dilationHeight, info.strideHeight, info.padInfo.top, info.padInfo.bottom],
    [info.inWidth, info.filterWidth, info.dilationWidth, info.strideWidth, info.padInfo.left, info.padInfo.right],
  ];
  const out = [info.outHeight, info.outWidth];
  const padR: number[] = [];
  for (let i = 0; i < 2; i++) {
    const [size, k, d, s, lo, hi] = dims[i];
    const span = (k - 1) * d + 1;
    let r = hi;
    // oneDNN requires out == floor((in + lo + r - span) / s) + 1; tfjs' ceil/round modes may not satisfy it
    // with the padding they report, so derive the right padding from the output size.
    if (Math.floor((size + lo + r - span) / s) + 1 !== out[i]) r = (out[i] - 1) * s + span - size - lo;
    if (lo < 0 || r + s <= 0 || out[i] < 1) return undefined;
    padR.push(r);
  }
  if (info.batchSize < 1) return undefined;
  return Int32Array.from([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outChannels,
    info.filterHeight, info.filterWidth, info.outHeight, info.outWidth,
    info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    info.padInfo.top, info.padInfo.left, padR[0], padR[1], groups,
  ]);
}

export function isNHWC(dataFormat: unknown): boolean {
  return dataFormat === undefined || dataFormat === 'NHWC' || dataFormat === 'channelsLast';
}

/** Pooling geometry for the addon: N,H,W,C, KH,KW, OH,OW, SH,SW, PT,PL,PB,PR (undefined: not expressible). */
export function poolParams(xShape: number[], filterSize: unknown, strides: unknown, pad: unknown, dimRoundingMode: unknown): Int32Array | undefined {
  if (xShape.length !== 4) return undefined;
  const info = tf.backend_util.computePool2DInfo(xShape as [number, number, number, number], filterSize as number, strides as number, 1,
    pad as 'same', dimRoundingMode as 'floor' | undefined);
  const padR: number[] = [];
  const dims: Array<[number, number, number, number, number, number]> = [
    [info.inHeight, info.filterHeight, info.strideHeight, info.padInfo.top, info.padInfo.bottom, info.outHeight],
    [info.inWidth, info.filterWidth, info.strideWidth, info.padInfo.left, info.padInfo.right, info.outWidth],
  ];
  for (const [size, k, s, lo, hi, out] of dims) {
    let r = hi;
    if (Math.floor((size + lo + r - k) / s) + 1 !== out) r = (out - 1) * s + k - size - lo;
    // oneDNN needs each window to overlap the image; padding at least as large as the window is left to tfjs.
    if (lo < 0 || r < 0 || lo >= k || r >= k || out < 1) return undefined;
    padR.push(r);
  }
  return Int32Array.from([info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.filterHeight, info.filterWidth,
    info.outHeight, info.outWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left, padR[0], padR[1]]);
}

/**
 * Broadcasting as element strides: the output shape with size-1 dimensions dropped and neighbours that
 * broadcast alike merged, and for each operand the stride of every remaining dimension (0 = broadcast).
 */
export function broadcastPlan(aShape: number[], bShape: number[]): {shape: number[]; sa: number[]; sb: number[]; outShape: number[]} {
  const outShape = tf.backend_util.assertAndGetBroadcastShape(aShape, bShape);
  const rank = outShape.length;
  const pa = [...Array(rank - aShape.length).fill(1), ...aShape];
  const pb = [...Array(rank - bShape.length).fill(1), ...bShape];
  const groups: Array<{size: number; ba: boolean; bb: boolean}> = [];
  for (let d = 0; d < rank; d++) {
    if (outShape[d] === 1) continue;
    const ba = pa[d] === 1, bb = pb[d] === 1;
    const last = groups[groups.length - 1];
    if (last && last.ba === ba && last.bb === bb) last.size *= outShape[d];
    else groups.push({size: outShape[d], ba, bb});
  }
  if (groups.length === 0) groups.push({size: 1, ba: false, bb: false});
  const shape = groups.map((g) => g.size);
  const sa = new Array<number>(groups.length), sb = new Array<number>(groups.length);
  let ra = 1, rb = 1;
  for (let i = groups.length - 1; i >= 0; i--) {
    sa[i] = groups[i].ba ? 0 : ra;
    sb[i] = groups[i].bb ? 0 : rb;
    if (!groups[i].ba) ra *= groups[i].size;
    if (!groups[i].bb) rb *= groups[i].size;
  }
  return {shape, sa, sb, outShape};
}
