/**
 * The torch engine trains as ablate does: the same data order and augmentation (bit for bit), the same SGD,
 * schedule, loss and batch norm, so from identical initial weights and identical batches its losses agree
 * with native-cpu's in fp32; and it stops, checkpoints, resumes mid-epoch, diverges and fails like every engine.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {test} from 'node:test';
import {augmentDraw, epochOrder, hashSeed} from '../../src/data';
import {saveCheckpoint, loadCheckpoint, type CheckpointState} from '../../src/experiments/checkpoint';
import {TrialFailure} from '../../src/experiments/executor';
import {planStudy} from '../../src/experiments/runner';
import type {TrialSpec} from '../../src/experiments/sweep';
import {createTorchExecutor} from '../../src/experiments/torch-executor';
import {ensureEngine, runTrial, type TrialEvent, type TrialOutcome} from '../../src/experiments/trial';
import {buildModel, resolveModelSpec} from '../../src/models';
import {writeIdxDataset} from '../data/fixtures';
import {tmpDir, writeFile} from '../helpers';
import {NO_TORCH, probe, runPython} from './torch-helpers';

function specsOf(dir: string, body: string): TrialSpec[] {
  return planStudy(writeFile(dir, 'study.yaml', body), {engine: 'torch'}).trials.map((t) => t.spec);
}

const DATA = 'dataset: {name: synthetic, image: [8, 8, 3], classes: 4, train_size: 96, test_size: 48, augment: {crop_padding: 2, flip: true}}';

async function runTorch(spec: TrialSpec, checkpointFile: string | undefined, opts: {device?: 'cuda' | 'cpu'; stopAfter?: number; signalAfter?: NodeJS.Signals} = {}) {
  const executor = createTorchExecutor({workers: 1, python: probe.python, device: opts.device ?? 'cpu', progressEveryMs: 0});
  const events: TrialEvent[] = [];
  let progress = 0;
  try {
    let pid = 0;
    const handle = executor.start({trialId: 1, spec, engine: 'torch', threads: 2, checkpointFile}, 0, (e) => {
      events.push(e);
      if (e.type === 'engine') pid = e.pid;
      if (e.type === 'progress' && ++progress === opts.stopAfter) {
        if (opts.signalAfter) process.kill(pid, opts.signalAfter);
        else handle.stop();
      }
    });
    const outcome = await handle.done;
    return {events, outcome};
  } finally {
    await executor.close();
  }
}

async function runNative(spec: TrialSpec, checkpointFile: string) {
  const events: TrialEvent[] = [];
  const outcome = await runTrial(spec, {engine: 'native-cpu', threads: 2, checkpointFile, emit: (e) => events.push(e), progressEveryMs: 0});
  return {events, outcome};
}

/** A fresh checkpoint at epoch 0, step 0 holding the TypeScript builder's initial weights (and zero momentum). */
async function initialCheckpoint(spec: TrialSpec, file: string): Promise<void> {
  await ensureEngine('native-cpu', 2);
  const model = buildModel(resolveModelSpec(spec.model), {height: 8, width: 8, channels: 3}, 4, {seed: spec.seed});
  const tensors: CheckpointState['tensors'] = new Map();
  for (const [k, v] of model.trainable) tensors.set(`param/${k}`, {shape: v.shape, data: v.dataSync() as Float32Array});
  for (const [k, v] of model.state) tensors.set(`state/${k}`, {shape: v.shape, data: v.dataSync() as Float32Array});
  for (const [k, v] of model.trainable) tensors.set(`momentum/${k}`, {shape: v.shape, data: new Float32Array(v.size)});
  model.dispose();
  saveCheckpoint(file, {epoch: 0, step: 0, history: [], tensors});
}

const losses = (events: TrialEvent[]) => events.flatMap((e) => (e.type === 'progress' ? [e.loss] : []));
const rows = (events: TrialEvent[]) => events.flatMap((e) => (e.type === 'epoch' ? [e.row] : []));
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1e-12, Math.abs(b));

test('data order and augmentation draws: the Python worker reproduces src/data/batches.ts exactly', {skip: NO_TORCH}, () => {
  const cases = [
    {seed: 0, epoch: 0, n: 1000, padding: 4},
    {seed: 1, epoch: 3, n: 257, padding: 2},
    {seed: 12345, epoch: 17, n: 50, padding: 0},
    {seed: 2 ** 32 + 7, epoch: 1, n: 60, padding: 4},
  ];
  const py = runPython('ablate_torch.rngdump', {cases}) as {order: number[]; dy: number[]; dx: number[]; flip: boolean[]; hash: number}[];
  cases.forEach((c, i) => {
    assert.equal(py[i].hash, hashSeed(c.seed, c.epoch, 'order'));
    assert.deepEqual(py[i].order, Array.from(epochOrder(c.n, {shuffle: true, seed: c.seed, epoch: c.epoch})), `order ${JSON.stringify(c)}`);
    const draws = Array.from({length: c.n}, (_, p) => augmentDraw(c.seed, c.epoch, p, c.padding));
    assert.deepEqual({dy: py[i].dy, dx: py[i].dx, flip: py[i].flip}, {dy: draws.map((d) => d.dy), dx: draws.map((d) => d.dx), flip: draws.map((d) => d.flip)});
  });
});

/** fp32 tolerances of the parity test: summation order differs between oneDNN-in-tfjs and PyTorch. */
const FIRST_STEP_REL = 1e-6;
const STEP_REL = 1e-5;
const WEIGHT_ABS = 1e-5;

for (const [label, model] of [
  ['ResNet-8 option A with BN', '{family: cifar, depth: 8, widen_factor: 1, shortcut: A}'],
  ['ResNeXt bottleneck C=2, option B', '{family: cifar, block: bottleneck, depth: 11, widen_factor: 0.5, cardinality: 2, base_width: 16, shortcut: B}'],
  ['WRN-10 pre-activation, option C, no BN', '{family: cifar, block: preact, depth: 10, widen_factor: 1, shortcut: C, batch_norm: false}'],
] as const) {
  test(`training parity with native-cpu from identical weights and batches: ${label}`, {skip: NO_TORCH}, async () => {
    const dir = tmpDir();
    const [spec] = specsOf(
      dir,
      `name: parity\n${DATA}\nmodel: ${model}\ntrain: {epochs: 2, batch_size: 32, optimizer: {lr: 0.05, momentum: 0.9, weight_decay: 5.0e-4}, schedule: {name: multistep, milestones: [1.5], gamma: 0.1}}\nseeds: [3]\n`,
    );
    const init = path.join(dir, 'init.ckpt');
    await initialCheckpoint(spec, init);
    fs.copyFileSync(init, path.join(dir, 'native.ckpt'));
    fs.copyFileSync(init, path.join(dir, 'torch.ckpt'));
    const native = await runNative(spec, path.join(dir, 'native.ckpt'));
    const torch = await runTorch(spec, path.join(dir, 'torch.ckpt'));
    assert.deepEqual(torch.outcome, native.outcome);
    const [a, b] = [losses(torch.events), losses(native.events)];
    assert.equal(a.length, 6, 'one loss per step: 3 steps x 2 epochs');
    assert.equal(a.length, b.length);
    assert.ok(rel(a[0], b[0]) < FIRST_STEP_REL, `first step: torch ${a[0]} vs native ${b[0]}`);
    a.forEach((l, i) => assert.ok(rel(l, b[i]) < STEP_REL, `step ${i + 1}: torch ${l} vs native ${b[i]}`));
    const [ra, rb] = [rows(torch.events), rows(native.events)];
    ra.forEach((r, i) => {
      assert.equal(r.lr, rb[i].lr);
      assert.ok(rel(r.train_loss!, rb[i].train_loss!) < STEP_REL && rel(r.test_loss!, rb[i].test_loss!) < STEP_REL, `epoch ${i + 1}: ${JSON.stringify([r, rb[i]])}`);
    });
    // The same updates (momentum, weight decay, BN running statistics): the final weights agree too.
    const [wa, wb] = [loadCheckpoint(path.join(dir, 'torch.ckpt')).state!, loadCheckpoint(path.join(dir, 'native.ckpt')).state!];
    assert.deepEqual([...wa.tensors.keys()].sort(), [...wb.tensors.keys()].sort());
    let worst = 0;
    for (const [k, t] of wa.tensors) {
      const u = wb.tensors.get(k)!;
      for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i] - u.data[i]));
    }
    assert.ok(worst < WEIGHT_ABS, `largest weight difference ${worst}`);
    console.log(`# parity ${label}: first loss ${a[0]} vs ${b[0]} (rel ${rel(a[0], b[0]).toExponential(1)}), worst step rel ${Math.max(...a.map((l, i) => rel(l, b[i]))).toExponential(1)}, worst weight ${worst.toExponential(1)}`);
  });
}

test('stop mid-epoch, then resume from the checkpoint: the same epochs as an uninterrupted run', {skip: NO_TORCH}, async () => {
  const dir = tmpDir();
  const [spec] = specsOf(dir, `name: stop\n${DATA}\nmodel: {family: cifar, depth: 8, widen_factor: 0.5}\ntrain: {epochs: 2, batch_size: 16, optimizer: {lr: 0.05}}\nseeds: [1]\n`);
  const whole = await runTorch(spec, path.join(dir, 'whole.ckpt'));
  assert.equal(whole.outcome.status, 'done');
  const file = path.join(dir, 'stopped.ckpt');
  const first = await runTorch(spec, file, {stopAfter: 2});
  assert.deepEqual(first.outcome, {status: 'stopped', epochs: 0} satisfies TrialOutcome);
  const ckpt = loadCheckpoint(file).state!;
  assert.equal(ckpt.epoch, 0);
  assert.ok(ckpt.step >= 2 && ckpt.step < 6, `stopped mid-epoch at step ${ckpt.step}`);
  const resumed = await runTorch(spec, file);
  assert.equal(resumed.outcome.status, 'done');
  const [ra, rb] = [rows(resumed.events), rows(whole.events)];
  assert.equal(ra.length, 2);
  ra.forEach((r, i) => {
    for (const k of ['train_loss', 'train_err', 'test_loss', 'test_err', 'lr'] as const) {
      assert.ok(Math.abs(r[k]! - rb[i][k]!) < 1e-6, `epoch ${i + 1} ${k}: resumed ${r[k]} vs uninterrupted ${rb[i][k]}`);
    }
  });
});

for (const signal of ['SIGUSR1', 'SIGTERM'] as const) {
  test(`${signal} to the worker means stop: it checkpoints mid-epoch and reports stopped`, {skip: NO_TORCH}, async () => {
    const dir = tmpDir();
    const [spec] = specsOf(dir, `name: sig\n${DATA}\nmodel: {family: cifar, depth: 8, widen_factor: 0.5}\ntrain: {epochs: 2, batch_size: 16, optimizer: {lr: 0.05}}\nseeds: [1]\n`);
    const file = path.join(dir, 'sig.ckpt');
    const r = await runTorch(spec, file, {stopAfter: 2, signalAfter: signal});
    assert.deepEqual(r.outcome, {status: 'stopped', epochs: 0});
    assert.ok(loadCheckpoint(file).state!.step >= 2);
  });
}

test('train.precision bf16 (autocast, fp32 master weights) trains on the torch engine with finite losses near fp32', {skip: NO_TORCH}, async () => {
  const dir = tmpDir();
  const body = (p: string) => `name: bf\n${DATA}\nmodel: {family: cifar, depth: 8, widen_factor: 1}\ntrain: {epochs: 1, batch_size: 32, precision: ${p}}\nseeds: [2]\n`;
  const [bf] = specsOf(dir, body('bf16'));
  const [fp] = specsOf(dir, body('fp32'));
  const [a, b] = [await runTorch(bf, undefined), await runTorch(fp, undefined)];
  assert.equal(a.outcome.status, 'done');
  const [la, lb] = [losses(a.events), losses(b.events)];
  assert.ok(rel(la[0], lb[0]) > 0 && rel(la[0], lb[0]) < 0.05, `first loss bf16 ${la[0]} vs fp32 ${lb[0]}`);
});

test('a NaN loss ends the trial as diverged, with a row of nulls, as on native-cpu', {skip: NO_TORCH}, async () => {
  const dir = tmpDir();
  const [spec] = specsOf(dir, `name: nan\n${DATA}\nmodel: {family: cifar, depth: 8, widen_factor: 0.5, batch_norm: false}\ntrain: {epochs: 2, batch_size: 16, optimizer: {lr: 1.0e+12}}\nseeds: [1]\n`);
  const r = await runTorch(spec, undefined);
  assert.equal(r.outcome.status, 'diverged');
  assert.match(r.outcome.error!, /^loss became (NaN|Infinity) at epoch 1, step \d+$/);
  assert.equal(rows(r.events).at(-1)!.train_loss, null);
});

test('a relative dataset.path names a folder beside the study file (the job\'s dataDir), not the working directory', {skip: NO_TORCH}, async () => {
  const dir = tmpDir();
  fs.mkdirSync(path.join(dir, 'digits'));
  writeIdxDataset(path.join(dir, 'digits'), {nTrain: 32, nTest: 16, gzip: false});
  const [spec] = specsOf(dir, 'name: rel\ndataset: {name: mnist, path: digits, train_size: 32, test_size: 16}\nmodel: {family: cifar, depth: 8, widen_factor: 0.5}\ntrain: {epochs: 1, batch_size: 16}\nseeds: [1]\n');
  assert.ok(!fs.existsSync(path.resolve('digits')));
  const executor = createTorchExecutor({workers: 1, python: probe.python, device: 'cpu'});
  try {
    const outcome = await executor.start({trialId: 1, spec, engine: 'torch', threads: 1, dataDir: dir}, 0, () => undefined).done;
    assert.equal(outcome.status, 'done');
  } finally {
    await executor.close();
  }
});

test('a CUDA device where torch sees none: one clear engine error, the traceback only in the trial log', {skip: NO_TORCH || (probe.cudaAvailable && 'this machine has a GPU')}, async () => {
  const dir = tmpDir();
  const [spec] = specsOf(dir, `name: dev\n${DATA}\nmodel: {family: cifar, depth: 8, widen_factor: 0.5}\ntrain: {epochs: 1, batch_size: 16}\nseeds: [1]\n`);
  const events: TrialEvent[] = [];
  const executor = createTorchExecutor({workers: 1, python: probe.python, device: 'cuda'});
  try {
    const handle = executor.start({trialId: 1, spec, engine: 'torch', threads: 1}, 0, (e) => events.push(e));
    await assert.rejects(handle.done, (e: unknown) => {
      assert.ok(e instanceof TrialFailure);
      assert.equal(e.code, 'EENGINE');
      assert.match(e.message, /^the torch engine was asked for a CUDA GPU but torch \S+ sees none/);
      assert.doesNotMatch(e.message, /Traceback|\n/);
      return true;
    });
  } finally {
    await executor.close();
  }
  const log = events.flatMap((e) => (e.type === 'log' ? [e.message] : [])).join('\n');
  assert.match(log, /Traceback/);
});
