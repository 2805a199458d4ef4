/**
 * train.precision bf16 on the native engine: bf16 convolutions (fp32 tensors between layers) against the fp32
 * reference, a few training steps against fp32, the precision recorded with the engine, and the refusal where
 * the CPU has no bf16 instructions. On such a CPU the same tests check that each path refuses instead.
 *
 * Tolerance of a convolution: |bf16 - reference| <= 2e-2 * max|reference| elementwise. bf16 keeps 8 bits of
 * mantissa, so each input is rounded by up to 2^-9 relative and each output, a sum of products of rounded
 * values, lands within a few 2^-9 of the largest values (observed: about 2e-3); a wrong index or a missing
 * term gives differences of the order of the values themselves.
 */
import {before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import {compositeConv2d, conv2d} from '../../src/engine/ops';
import {installNativeKernels, loadAddon, nativeStats, resetNativeStats, uninstallNativeKernels} from '../../src/engine/native';
import {nativeBf16Refusal} from '../../src/engine/precision';
import {parseStudy} from '../../src/experiments/config';
import {expandStudy} from '../../src/experiments/sweep';
import {runTrial, type TrialEvent} from '../../src/experiments/trial';
import {cli, tmpDir, writeFile} from '../helpers';
import {convWithGrads, cpuBackend, nativeSkipReason} from './backend';

const RTOL = 2e-2;
const skip = nativeSkipReason();
const addon = loadAddon();
/** Whether this CPU, as oneDNN sees it, has bf16 instructions; without them every bf16 path must refuse. */
const hasBf16 = addon.ok && addon.addon.info().bf16;

before(async () => {
  await cpuBackend();
});

describe('the bf16 refusal is decided from the ISA oneDNN reports', () => {
  test('a CPU without AVX512-BF16 is refused, naming the missing feature and the ISA found', () => {
    const why = nativeBf16Refusal({isa: 'avx512_core_vnni', bf16: false});
    assert.match(why ?? '', /no AVX512-BF16 instructions \(oneDNN runs on avx512_core_vnni\)/);
    assert.match(nativeBf16Refusal({isa: 'avx2', bf16: false}) ?? '', /oneDNN runs on avx2/);
  });

  test('AVX512-BF16 and AMX are accepted; an unusable addon is a refusal with its reason', () => {
    assert.equal(nativeBf16Refusal({isa: 'avx512_core_bf16', bf16: true}), undefined);
    assert.equal(nativeBf16Refusal({isa: 'avx512_core_amx', bf16: true}), undefined);
    assert.match(nativeBf16Refusal({reason: 'the native addon is not built'}) ?? '', /needs the native addon, and the native addon is not built/);
  });

  test('ablate plan accepts bf16 on native-cpu with bf16 instructions, and refuses it when ONEDNN_MAX_CPU_ISA caps oneDNN below', {skip}, () => {
    const dir = tmpDir();
    const study = writeFile(dir, 'bf.yaml', 'name: bf\ndataset: {name: synthetic, image: [8, 8, 3], classes: 4, train_size: 64, test_size: 32}\n' +
      'train: {precision: bf16, batch_size: 16}\nresources: {engine: native-cpu}\n');
    const plain = cli(['plan', study]);
    assert.equal(plain.code, hasBf16 ? 0 : 2, plain.stderr);
    const capped = cli(['plan', study], {env: {ONEDNN_MAX_CPU_ISA: 'AVX512_CORE_VNNI'}});
    assert.equal(capped.code, 2);
    assert.match(capped.stderr, /train\.precision bf16 cannot run on native-cpu \(resources\.engine of the study\): this CPU has no AVX512-BF16 instructions \(oneDNN runs on \w+\)/);
    assert.match(capped.stderr, /Try this: use train\.precision: fp32, or the torch engine/);
  });
});

interface ConvCase {
  n: number; h: number; c: number; oc: number; k: number; stride: number; pad: number; groups: number;
}

const CASES: ConvCase[] = [
  {n: 4, h: 8, c: 16, oc: 16, k: 3, stride: 1, pad: 1, groups: 1},
  {n: 3, h: 9, c: 3, oc: 8, k: 3, stride: 1, pad: 1, groups: 1},
  {n: 3, h: 8, c: 16, oc: 32, k: 3, stride: 2, pad: 1, groups: 1},
  {n: 2, h: 8, c: 16, oc: 32, k: 1, stride: 2, pad: 0, groups: 1},
  {n: 1, h: 6, c: 8, oc: 8, k: 3, stride: 1, pad: 1, groups: 1},
  {n: 2, h: 8, c: 8, oc: 8, k: 3, stride: 1, pad: 1, groups: 2},
];

/** Largest |got - ref| relative to max|ref|. */
function relDiff(got: tf.Tensor, ref: tf.Tensor): number {
  const g = got.dataSync(), r = ref.dataSync();
  let scale = 0, worst = 0;
  for (let i = 0; i < r.length; i++) {
    scale = Math.max(scale, Math.abs(r[i]));
    worst = Math.max(worst, Math.abs(g[i] - r[i]));
  }
  return worst / scale;
}

describe('bf16 convolutions', {skip}, () => {
  test('without bf16 instructions the kernels refuse bf16 rather than emulate it', (t) => {
    if (hasBf16) return void t.skip('this CPU has them');
    assert.throws(() => installNativeKernels(2, {precision: 'bf16'}), /bf16 convolutions need a CPU with AVX512-BF16/);
    uninstallNativeKernels();
  });

  for (const [i, c] of CASES.entries()) {
    test(`forward and gradients within bf16 rounding of fp32: ${c.n}x${c.h}x${c.h}x${c.c} -> ${c.oc}, ${c.k}x${c.k}/${c.stride} groups ${c.groups}`, (t) => {
      if (!hasBf16) return void t.skip('no bf16 instructions: refused (above)');
      const x = tf.randomNormal([c.n, c.h, c.h, c.c], 0, 1, 'float32', 10 + i);
      const f = tf.randomNormal([c.k, c.k, c.c / c.groups, c.oc], 0, 1, 'float32', 100 + i);
      const oh = Math.floor((c.h + 2 * c.pad - c.k) / c.stride) + 1;
      const r = tf.randomNormal([c.n, oh, oh, c.oc], 0, 1, 'float32', 1000 + i);
      const run = (impl: typeof compositeConv2d) => convWithGrads(impl, x, f, r, c.stride, c.pad, c.groups);
      uninstallNativeKernels();
      const ref = run(compositeConv2d);
      assert.ok(installNativeKernels(2, {precision: 'bf16'}).ok);
      resetNativeStats();
      let got: tf.Tensor[];
      try {
        got = run(conv2d);
      } finally {
        uninstallNativeKernels();
      }
      assert.deepEqual(Object.keys(nativeStats().fallback).filter((k) => k.includes('Conv')), [], 'no convolution fell back');
      ['y', 'dx', 'dfilter'].forEach((what, j) => {
        const d = relDiff(got[j], ref[j]);
        assert.ok(d <= RTOL, `${what}: max |diff| ${d} of max |reference| exceeds ${RTOL}`);
        // Rounding to bf16 shows: the convolution did not run in fp32.
        assert.ok(d > 1e-5, `${what}: max |diff| ${d} is fp32 rounding, not bf16`);
      });
      tf.dispose([x, f, r, ...ref, ...got]);
    });
  }
});

describe('training in bf16', {skip}, () => {
  const body = (precision: string) => [
    'name: bf',
    'dataset: {name: synthetic, image: [16, 16, 3], classes: 4, train_size: 192, test_size: 64}',
    'model: {family: cifar, depth: 8, shortcut: A}',
    `train: {epochs: 3, batch_size: 32, checkpoint_every: 0, precision: ${precision}, optimizer: {name: sgd, lr: 0.05, momentum: 0.9}}`,
    'seeds: [3]',
  ].join('\n');

  async function train(precision: string): Promise<{losses: number[]; engine: Record<string, unknown>}> {
    const [spec] = expandStudy(parseStudy(body(precision), 'bf.yaml'));
    const losses: number[] = [];
    let engine: Record<string, unknown> = {};
    const outcome = await runTrial(spec, {engine: 'native-cpu', threads: 2, emit: (e: TrialEvent) => {
      if (e.type === 'engine') engine = e.engine as unknown as Record<string, unknown>;
      if (e.type === 'epoch') losses.push(e.row.train_loss!);
    }});
    assert.equal(outcome.status, 'done', outcome.error);
    return {losses, engine};
  }

  test('ResNet-8 trains: the loss falls and stays near fp32, and the engine records bf16', async () => {
    if (!hasBf16) {
      await assert.rejects(train('bf16'), /train\.precision bf16 cannot run on native-cpu: this CPU has no AVX512-BF16 instructions/);
      return;
    }
    const fp32 = await train('fp32');
    const bf16 = await train('bf16');
    assert.equal(fp32.engine.precision, 'fp32');
    assert.equal(bf16.engine.precision, 'bf16');
    assert.equal(bf16.engine.name, 'native-cpu');
    assert.ok(bf16.losses[2] < bf16.losses[0], `bf16 loss did not fall: ${bf16.losses}`);
    for (let i = 0; i < 3; i++) {
      const d = Math.abs(bf16.losses[i] - fp32.losses[i]);
      assert.ok(d <= 0.05 * fp32.losses[i], `epoch ${i + 1}: bf16 loss ${bf16.losses[i]} vs fp32 ${fp32.losses[i]} (all: ${bf16.losses} vs ${fp32.losses})`);
    }
  });
});
