import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import {batchNormTrain, conv2d} from '../../src/engine/ops';
import {
  buildModel, BN_EPS, BN_MOMENTUM, countParams, describeModel, networkLayout, PRESET_NAMES, resolveModelSpec,
  smokeModelConfig, type Model, type ModelConfigInput,
} from '../../src/models';
import {useCpuBackend} from './backend';

const SMALL = {height: 8, width: 8, channels: 3};
const CLASSES = 4;

function batch(input = SMALL, n = 2, seed = 7): {x: tf.Tensor4D; y: tf.Tensor2D} {
  return tf.tidy(() => ({
    x: tf.randomNormal([n, input.height, input.width, input.channels], 0, 1, 'float32', seed) as tf.Tensor4D,
    y: tf.oneHot(tf.tensor1d(Array.from({length: n}, (_, i) => i % CLASSES), 'int32'), CLASSES) as tf.Tensor2D,
  }));
}

function finite(values: Float32Array | Int32Array | Uint8Array): boolean {
  return values.every((v) => Number.isFinite(v));
}

async function snapshot(vars: Map<string, tf.Variable>): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [k, v] of vars) out.set(k, (await v.data()) as Float32Array);
  return out;
}

describe('forward and backward of tiny nets of every shape', () => {
  const nets: [string, ModelConfigInput][] = [
    ['basic, option A', {widen_factor: 0.25, depth: 8}],
    ['basic, option B', {widen_factor: 0.25, depth: 8, shortcut: 'B'}],
    ['basic, option C', {widen_factor: 0.25, depth: 8, shortcut: 'C'}],
    ['plain', {widen_factor: 0.25, depth: 14, residual: false}],
    ['no BN', {widen_factor: 0.25, depth: 8, batch_norm: false, shortcut: 'B'}],
    ['zero-init', {widen_factor: 0.25, depth: 8, zero_init_residual: true}],
    ['bottleneck', {block: 'bottleneck', depth: 11, widen_factor: 0.25}],
    ['bottleneck, cardinality 4', {block: 'bottleneck', depth: 11, widen_factor: 0.5, cardinality: 4, base_width: 32}],
    ['pre-activation with dropout', {block: 'preact', depth: 10, widen_factor: 0.5, dropout: 0.3}],
    ['pre-activation, option A, no BN', {block: 'preact', depth: 10, widen_factor: 0.5, shortcut: 'A', batch_norm: false}],
    ['ImageNet basic', {family: 'imagenet', depth: 18, widen_factor: 0.0625}],
    ['ImageNet ResNeXt', {preset: 'resnext50-32x4d', widen_factor: 0.0625, base_width: 16}],
  ];
  for (const [what, cfg] of nets) {
    test(what, async () => {
      await useCpuBackend();
      const spec = resolveModelSpec(cfg);
      const model = buildModel(spec, SMALL, CLASSES, {seed: 3});
      const {x, y} = batch();
      const vars = [...model.trainable.values()];
      const stateBefore = await snapshot(model.state);
      const {value, grads} = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(y, model.apply(x, {training: true, seed: 11})) as tf.Scalar, vars,
      );
      const loss = (await value.data())[0];
      // Running statistics move inside the gradient tape too (the trainer's step).
      for (const [key, v] of stateBefore) assert.notDeepEqual(await model.state.get(key)!.data(), v, `${key} updated`);
      assert.ok(Number.isFinite(loss) && loss > 0, `${describeModel(spec)}: loss ${loss}`);
      for (const [key, v] of model.trainable) {
        const g = grads[v.name];
        assert.ok(g, `${key} has a gradient`);
        assert.deepEqual(g.shape, v.shape, key);
        assert.ok(finite(await g.data()), `${key}: finite gradient`);
      }
      // Every weight influences the loss: each weight's gradient is non-zero somewhere. With zero-init the
      // residual branches start switched off: only their zeroed last parameter gets a gradient at first.
      for (const [key, v] of model.trainable) {
        if (!key.endsWith('.weight') && !key.endsWith('.gamma')) continue;
        const largest = tf.tidy(() => tf.max(tf.abs(grads[v.name])).dataSync()[0]);
        const inBranch = /^stage\d+\.block\d+\.(conv\d\.weight|bn\d\.gamma)$/.test(key);
        const zeroed = (await v.data()).every((g) => g === 0);
        if (spec.zeroInitResidual && inBranch && !zeroed) assert.equal(largest, 0, `${key}: branch switched off`);
        else assert.ok(largest > 0, `${key}: non-zero gradient`);
      }
      tf.dispose([value, x, y, ...Object.values(grads)]);
      model.dispose();
    });
  }
});

describe('zero_init_residual starts every branch at zero, and every branch learns', () => {
  const nets: [string, ModelConfigInput][] = [
    ['basic', {depth: 8, widen_factor: 0.25}],
    ['basic, option B', {depth: 8, widen_factor: 0.25, shortcut: 'B'}],
    ['bottleneck', {block: 'bottleneck', depth: 11, widen_factor: 0.25}],
    ['ResNeXt bottleneck', {block: 'bottleneck', depth: 11, widen_factor: 0.5, cardinality: 4, base_width: 32}],
    ['pre-activation', {block: 'preact', depth: 10, widen_factor: 0.5}],
    ['pre-activation with dropout, option A', {block: 'preact', depth: 10, widen_factor: 0.5, dropout: 0.3, shortcut: 'A'}],
    ['ImageNet basic', {family: 'imagenet', depth: 18, widen_factor: 0.0625}],
  ];
  for (const [what, cfg] of nets) {
    test(`${what}: one zero parameter per branch, a gradient in every branch at the first step, in all its weights at the second`, async () => {
      await useCpuBackend();
      const spec = resolveModelSpec({...cfg, zero_init_residual: true});
      const model = buildModel(spec, SMALL, CLASSES, {seed: 3});
      const {x, y} = batch(SMALL, 4);
      const vars = [...model.trainable.values()];
      const branches = networkLayout(spec, SMALL.channels, CLASSES).blocks.map((b) => ({
        name: b.name,
        keys: [...b.convs.map((c) => `${c.name}.weight`), ...b.bns.map((n) => `${n.name}.gamma`)],
        // The branch's last parameter: the BN after its last convolution, or in a pre-activation block (whose
        // last BN sits before a ReLU) the last convolution itself.
        last: spec.block === 'preact' ? `${b.name}.conv2.weight` : `${b.name}.bn${b.convs.length}.gamma`,
      }));
      for (const {name, keys, last} of branches) {
        const zero = [];
        for (const key of keys) if ((await model.trainable.get(key)!.data()).every((v) => v === 0)) zero.push(key);
        assert.deepEqual(zero, [last], `${name}: zeroed`);
      }
      const largest = async (seed: number) => {
        const {value, grads} = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, {training: true, seed})) as tf.Scalar, vars);
        const out = new Map<string, number>();
        for (const [key, v] of model.trainable) out.set(key, tf.tidy(() => tf.max(tf.abs(grads[v.name])).dataSync()[0]));
        // One plain SGD step, so that the second step sees the branches switched on.
        tf.tidy(() => vars.forEach((v) => v.assign(tf.sub(v, tf.mul(grads[v.name], 0.1)))));
        tf.dispose([value, ...Object.values(grads)]);
        return out;
      };
      const first = await largest(1);
      for (const {name, keys} of branches) assert.ok(Math.max(...keys.map((k) => first.get(k)!)) > 0, `${name}: no gradient at the first step`);
      const second = await largest(2);
      for (const {keys} of branches) for (const key of keys) assert.ok(second.get(key)! > 0, `${key}: no gradient at the second step`);
      tf.dispose([x, y]);
      model.dispose();
    });
  }
});

describe('variables', () => {
  test('are keyed by stable names in build order', async () => {
    await useCpuBackend();
    const model = buildModel(resolveModelSpec({preset: 'resnet20'}), {height: 32, width: 32, channels: 3}, 10, {seed: 0});
    const keys = [...model.trainable.keys()];
    assert.equal(keys[0], 'stem.conv.weight');
    assert.deepEqual(keys.slice(-2), ['fc.weight', 'fc.bias']);
    for (const k of ['stage2.block3.conv1.weight', 'stage2.block3.bn1.gamma', 'stage2.block3.bn1.beta', 'stage3.block1.conv2.weight']) {
      assert.ok(model.trainable.has(k), k);
    }
    assert.ok(!keys.some((k) => k.includes('shortcut')), 'option A has no shortcut parameters');
    assert.ok(!keys.some((k) => k.endsWith('.bias') && k !== 'fc.bias'), 'no convolution bias where BN follows');
    assert.deepEqual([...model.state.keys()].slice(0, 2), ['stem.bn.running_mean', 'stem.bn.running_var']);
    assert.deepEqual(model.trainable.get('stage2.block1.conv1.weight')!.shape, [3, 3, 16, 32]);
    assert.deepEqual(model.trainable.get('fc.weight')!.shape, [64, 10]);
    model.dispose();

    const noBn = buildModel(resolveModelSpec({depth: 8, batch_norm: false, shortcut: 'B'}), SMALL, CLASSES, {seed: 0});
    assert.ok(noBn.trainable.has('stage2.block1.conv1.bias') && noBn.trainable.has('stage2.block1.shortcut.conv.bias'));
    assert.equal(noBn.state.size, 0);
    noBn.dispose();

    const resnext = buildModel(resolveModelSpec({preset: 'resnext29-8x64d', planes: 8, base_width: 16, stem_width: 8}), SMALL, CLASSES, {seed: 0});
    // 8 groups of 2 channels in the first stage: filters [3, 3, 16 / 8, 16].
    assert.deepEqual(resnext.trainable.get('stage1.block1.conv2.weight')!.shape, [3, 3, 2, 16]);
    assert.deepEqual(resnext.trainable.get('stage1.block1.shortcut.conv.weight')!.shape, [1, 1, 8, 32]);
    assert.ok(resnext.trainable.has('stage1.block1.shortcut.bn.gamma'));
    resnext.dispose();

    const wrn = buildModel(resolveModelSpec({preset: 'wrn-16-4'}), SMALL, CLASSES, {seed: 0});
    assert.ok(wrn.trainable.has('final.bn.gamma') && wrn.trainable.has('stage1.block1.shortcut.conv.weight'));
    assert.ok(!wrn.trainable.has('stem.bn.gamma') && !wrn.trainable.has('stage1.block1.shortcut.bn.gamma'), 'pre-activation: no BN on stem or projections');
    wrn.dispose();
  });

  test('two builds with the same seed are identical, another seed differs, and both may live together', async () => {
    await useCpuBackend();
    const spec = resolveModelSpec({preset: 'wrn-16-2'});
    const a = buildModel(spec, SMALL, CLASSES, {seed: 42});
    const b = buildModel(spec, SMALL, CLASSES, {seed: 42});
    const c = buildModel(spec, SMALL, CLASSES, {seed: 43});
    const [sa, sb, sc] = await Promise.all([snapshot(a.trainable), snapshot(b.trainable), snapshot(c.trainable)]);
    assert.deepEqual([...sa.keys()], [...sb.keys()]);
    for (const [k, v] of sa) assert.deepEqual(sb.get(k), v, k);
    assert.notDeepEqual(sc.get('stage2.block1.conv1.weight'), sa.get('stage2.block1.conv1.weight'));
    // Different layers draw from different streams.
    assert.notDeepEqual(sa.get('stage1.block2.conv1.weight'), sa.get('stage1.block2.conv2.weight'));
    for (const m of [a, b, c]) m.dispose();
  });

  test('He-normal fan-out initialisation, BN gamma 1 / beta 0, zero-init of the last gamma of each branch', async () => {
    await useCpuBackend();
    const model = buildModel(resolveModelSpec({widen_factor: 4, depth: 8, zero_init_residual: true}), SMALL, CLASSES, {seed: 5});
    const w = (await model.trainable.get('stage3.block1.conv2.weight')!.data()) as Float32Array;
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    const expected = Math.sqrt(2 / (3 * 3 * 256));
    assert.ok(Math.abs(std - expected) / expected < 0.02, `std ${std} vs ${expected}`);
    assert.ok((await model.trainable.get('stage1.block1.bn1.gamma')!.data()).every((v) => v === 1));
    assert.ok((await model.trainable.get('stage1.block1.bn1.beta')!.data()).every((v) => v === 0));
    assert.ok((await model.trainable.get('stage1.block1.bn2.gamma')!.data()).every((v) => v === 0));
    assert.ok((await model.trainable.get('stem.bn.gamma')!.data()).every((v) => v === 1));
    model.dispose();
  });
});

describe('batch norm running statistics', () => {
  test('follow PyTorch (momentum 0.1, unbiased variance) in training mode and stay put in inference mode', async () => {
    await useCpuBackend();
    const model = buildModel(resolveModelSpec({depth: 8, widen_factor: 0.25}), SMALL, CLASSES, {seed: 2});
    const {x} = batch(SMALL, 3);
    const before = await snapshot(model.state);
    tf.tidy(() => model.apply(x, {training: false}));
    const afterInference = await snapshot(model.state);
    for (const [k, v] of before) assert.deepEqual(afterInference.get(k), v, `${k} unchanged by inference`);

    tf.tidy(() => model.apply(x, {training: true}));
    const after = await snapshot(model.state);
    for (const [k, v] of before) assert.notDeepEqual(after.get(k), v, `${k} updated by training`);

    // The stem BN sees conv(x): check its update against statistics computed here.
    const [mean, variance] = tf.tidy(() => {
      const h = conv2d(x, model.trainable.get('stem.conv.weight') as tf.Tensor as tf.Tensor4D, 1, 1);
      const m = tf.moments(h, [0, 1, 2]);
      const n = h.shape[0] * h.shape[1] * h.shape[2];
      return [m.mean, tf.mul(m.variance, n / (n - 1))];
    });
    const expectedMean = tf.mul(mean, BN_MOMENTUM);
    const expectedVar = tf.add(1 - BN_MOMENTUM, tf.mul(variance, BN_MOMENTUM));
    const gotMean = after.get('stem.bn.running_mean')!;
    const gotVar = after.get('stem.bn.running_var')!;
    (await expectedMean.data()).forEach((v, i) => assert.ok(Math.abs(v - gotMean[i]) < 1e-5, `mean[${i}]`));
    (await expectedVar.data()).forEach((v, i) => assert.ok(Math.abs(v - gotVar[i]) < 1e-4, `var[${i}]`));
    tf.dispose([x, mean, variance, expectedMean, expectedVar]);
    model.dispose();
  });

  test('the engine op normalises with the biased batch variance', async () => {
    await useCpuBackend();
    const x = tf.randomNormal([2, 3, 3, 2], 1, 2, 'float32', 1) as tf.Tensor4D;
    const {y} = batchNormTrain(x, tf.ones([2]) as tf.Tensor1D, tf.zeros([2]) as tf.Tensor1D, BN_EPS);
    const m = tf.moments(y, [0, 1, 2]);
    (await m.mean.data()).forEach((v) => assert.ok(Math.abs(v) < 1e-5));
    (await m.variance.data()).forEach((v) => assert.ok(Math.abs(v - 1) < 1e-3));
    tf.dispose([x, y, m.mean, m.variance]);
  });
});

describe('apply', () => {
  test('option A with zero-init is subsample + zero-pad all the way (He et al. 2016 §4.2)', async () => {
    await useCpuBackend();
    // With every branch's last gamma at 0, each block outputs relu(shortcut(x)); inference BN is x / sqrt(1 + eps).
    const spec = resolveModelSpec({depth: 8, zero_init_residual: true});
    const model = buildModel(spec, SMALL, CLASSES, {seed: 9});
    const {x} = batch(SMALL, 2);
    const got = model.apply(x, {training: false});
    const expected = tf.tidy(() => {
      let h = tf.relu(tf.div(conv2d(x, model.trainable.get('stem.conv.weight') as tf.Tensor as tf.Tensor4D, 1, 1), Math.sqrt(1 + BN_EPS)));
      // stage 2: 16 -> 32 channels, 8 zeros in front and 8 behind; stage 3: 32 -> 64, 16 and 16.
      h = tf.pad(tf.avgPool(h as tf.Tensor4D, 1, 2, 'valid') as tf.Tensor4D, [[0, 0], [0, 0], [0, 0], [8, 8]]);
      h = tf.pad(tf.avgPool(h as tf.Tensor4D, 1, 2, 'valid') as tf.Tensor4D, [[0, 0], [0, 0], [0, 0], [16, 16]]);
      const pooled = tf.mean(h, [1, 2]);
      return tf.add(tf.matMul(pooled as tf.Tensor2D, model.trainable.get('fc.weight')!), model.trainable.get('fc.bias')!);
    });
    const [g, e] = [await got.data(), await expected.data()];
    e.forEach((v, i) => assert.ok(Math.abs(v - g[i]) < 1e-4, `logit ${i}: ${g[i]} vs ${v}`));
    // The subsampling takes the even rows and columns: 8 -> 4 -> 2.
    const layout = networkLayout(spec, 3, CLASSES);
    assert.deepEqual(layout.blocks[1].shortcut, {kind: 'pad', stride: 2, before: 8, after: 8});
    tf.dispose([x, got, expected]);
    model.dispose();
  });

  test('dropout follows the step seed and is off in inference', async () => {
    await useCpuBackend();
    const model = buildModel(resolveModelSpec({block: 'preact', depth: 10, widen_factor: 0.5, dropout: 0.5}), SMALL, CLASSES, {seed: 1});
    const {x} = batch();
    const run = (training: boolean, seed?: number) => tf.tidy(() => model.apply(x, {training, seed}).arraySync());
    assert.deepEqual(run(true, 1), run(true, 1));
    assert.notDeepEqual(run(true, 1), run(true, 2));
    assert.deepEqual(run(false, 1), run(false, 2));
    x.dispose();
    model.dispose();
  });

  test('keeps no tensors beyond its output; dispose frees the variables', async () => {
    await useCpuBackend();
    const start = tf.memory().numTensors;
    const model = buildModel(resolveModelSpec({preset: 'resnext29-8x64d', planes: 4, base_width: 16, stem_width: 4}), SMALL, CLASSES, {seed: 1});
    const {x, y} = batch();
    const held = tf.memory().numTensors;
    const out = model.apply(x, {training: true, seed: 3});
    assert.equal(tf.memory().numTensors, held + 1);
    out.dispose();
    tf.dispose([x, y]);
    model.dispose();
    assert.equal(tf.memory().numTensors, start);
    assert.throws(() => model.apply(x, {training: false}), /after dispose/);
  });

  test('evaluation frees each block\'s tensors when the block ends, not when the network does', async () => {
    await useCpuBackend();
    // ResNet-20 layout: 9 blocks of about six tensors each.
    const model = buildModel(resolveModelSpec({depth: 20, widen_factor: 0.25}), SMALL, CLASSES, {seed: 1});
    const {x, y} = batch();
    const base = tf.memory().numTensors;
    let peak = 0, created = 0;
    const engine = tf.engine();
    const run = engine.runKernel.bind(engine);
    engine.runKernel = ((...args: Parameters<typeof run>) => {
      const r = run(...args);
      created += Array.isArray(r) ? r.length : 1;
      peak = Math.max(peak, tf.memory().numTensors - base);
      return r;
    }) as typeof engine.runKernel;
    try {
      model.apply(x, {training: false}).dispose();
    } finally {
      engine.runKernel = run;
    }
    // Held at once: the block outputs so far plus one block's intermediates, well under half of all created.
    assert.ok(created > 50, `${created} tensors created`);
    assert.ok(peak < created / 2, `${peak} of ${created} tensors alive at once`);
    tf.dispose([x, y]);
    model.dispose();
  });

  test('rejects input with the wrong channel count', async () => {
    await useCpuBackend();
    const model = buildModel(resolveModelSpec({depth: 8, widen_factor: 0.25}), SMALL, CLASSES, {seed: 1});
    const x = tf.zeros([1, 8, 8, 1]) as tf.Tensor4D;
    assert.throws(() => model.apply(x, {training: false}), /expects NHWC input with 3 channels; received shape \[1, 8, 8, 1\]/);
    x.dispose();
    model.dispose();
  });
});

describe('every preset builds and trains one step at smoke size', () => {
  for (const name of PRESET_NAMES) {
    // Every block shape trains above; here the deep presets (ResNet-1202: ~15 s a step on two cores) only
    // build in the fast suite, and train one step in the slow one.
    const buildOnly = resolveModelSpec({preset: name}).depth > 60 && !process.env.ABLATE_SLOW;
    test(name + (buildOnly ? ' (build only; the training step with ABLATE_SLOW=1)' : ''), async () => {
      await useCpuBackend();
      const spec = resolveModelSpec(smokeModelConfig({preset: name}));
      const input = spec.family === 'imagenet' ? {height: 16, width: 16, channels: 3} : SMALL;
      const model: Model = buildModel(spec, input, CLASSES, {seed: 1});
      let scalars = 0;
      for (const v of model.trainable.values()) scalars += v.size;
      assert.equal(scalars, countParams(spec, input, CLASSES));
      if (buildOnly) return model.dispose();
      const {x, y} = batch(input);
      const {value, grads} = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(y, model.apply(x, {training: true, seed: 1})) as tf.Scalar, [...model.trainable.values()],
      );
      assert.ok(Number.isFinite((await value.data())[0]));
      assert.equal(Object.keys(grads).length, model.trainable.size);
      tf.dispose([value, x, y, ...Object.values(grads)]);
      model.dispose();
    });
  }
});
