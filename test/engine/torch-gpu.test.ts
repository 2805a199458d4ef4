/**
 * The torch engine on a CUDA GPU (skipped elsewhere; the GPU check, bench/gpu-check.sh, runs these with
 * ABLATE_REQUIRE_GPU=1): full batches replay one captured CUDA graph of the whole training step, and a trial's
 * numbers are those of eager steps, bit for bit, in fp32 and bf16, through an epoch's short last batch, a
 * mid-epoch stop and a resume. Needs no TensorFlow.js.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import {test} from 'node:test';
import {planStudy} from '../../src/experiments/runner';
import type {TrialSpec} from '../../src/experiments/sweep';
import {createTorchExecutor} from '../../src/experiments/torch-executor';
import type {TrialEvent} from '../../src/experiments/trial';
import type {EpochRow} from '../../src/store/store';
import {requires, tmpDir, writeFile} from '../helpers';
import {probe} from './torch-helpers';

const NO_GPU = requires('GPU', probe.error ? `needs PyTorch: ${probe.error}` : !probe.cudaAvailable ? `needs a CUDA GPU (torch ${probe.torch} in ${probe.python} sees none)` : false);

// 200 images in batches of 32: six full batches (the graph) and one of 8 (eager) per epoch.
const study = (precision: string) => `name: graphs
dataset: {name: synthetic, image: [16, 16, 3], classes: 4, train_size: 200, test_size: 64, augment: {crop_padding: 2, flip: true}}
model: {family: cifar, depth: 8, shortcut: B}
train: {epochs: 3, batch_size: 32, precision: ${precision}, optimizer: {name: sgd, lr: 0.1, momentum: 0.9, weight_decay: 5.0e-4}, schedule: {name: cosine, warmup_epochs: 1}}
seeds: [7]
`;

function specOf(precision: string): TrialSpec {
  return planStudy(writeFile(tmpDir(), 'study.yaml', study(precision)), {engine: 'torch'}).trials[0].spec;
}

/** One trial on GPU 0 with cuDNN's deterministic kernels (as `ablate run` without --autotune); `graphs` false sets ABLATE_CUDA_GRAPHS=0. */
async function runGpu(spec: TrialSpec, graphs: boolean, opts: {checkpointFile?: string; stopAfter?: number} = {}) {
  const before = process.env.ABLATE_CUDA_GRAPHS;
  if (graphs) delete process.env.ABLATE_CUDA_GRAPHS;
  else process.env.ABLATE_CUDA_GRAPHS = '0';
  const executor = createTorchExecutor({workers: 1, gpus: [0], python: probe.python, device: 'cuda', deterministic: true, progressEveryMs: 0});
  const events: TrialEvent[] = [];
  let progress = 0;
  try {
    const handle = executor.start({trialId: 1, spec, engine: 'torch', threads: 2, checkpointFile: opts.checkpointFile}, 0, (e) => {
      events.push(e);
      if (e.type === 'progress' && ++progress === opts.stopAfter) handle.stop();
    });
    const outcome = await handle.done;
    const engine = events.find((e) => e.type === 'engine');
    const step = engine?.type === 'engine' ? engine.engine.versions['training step'] : undefined;
    return {outcome, step, rows: events.flatMap((e) => (e.type === 'epoch' ? [e.row] : []))};
  } finally {
    await executor.close();
    if (before === undefined) delete process.env.ABLATE_CUDA_GRAPHS;
    else process.env.ABLATE_CUDA_GRAPHS = before;
  }
}

/** The numbers of an epoch row (not its seconds). */
const numbers = (rows: EpochRow[]) => rows.map((r) => [r.epoch, r.train_loss, r.train_err, r.test_loss, r.test_err, r.lr]);

for (const precision of ['fp32', 'bf16']) {
  test(`${precision}: CUDA-graph steps give the eager steps' epochs bit for bit`, {skip: NO_GPU}, async () => {
    const spec = specOf(precision);
    const eager = await runGpu(spec, false);
    const graph = await runGpu(spec, true);
    assert.equal(eager.step, 'eager');
    assert.equal(graph.step, 'CUDA graph');
    assert.equal(eager.outcome.status, 'done');
    assert.equal(graph.outcome.status, 'done');
    assert.equal(graph.rows.length, 3);
    assert.ok(graph.rows.every((r) => Number.isFinite(r.train_loss)), 'finite losses');
    assert.deepEqual(numbers(graph.rows), numbers(eager.rows));
  });
}

test('CUDA graphs: stopped mid-epoch and resumed, the same epochs as a trial that ran through', {skip: NO_GPU}, async () => {
  const spec = specOf('fp32');
  const through = await runGpu(spec, true);
  const file = path.join(tmpDir(), 'trial.ckpt');
  // Step 10 is in the second epoch, after the capture: the resumed worker warms up and captures anew.
  const stopped = await runGpu(spec, true, {checkpointFile: file, stopAfter: 10});
  assert.equal(stopped.outcome.status, 'stopped');
  const resumed = await runGpu(spec, true, {checkpointFile: file});
  assert.equal(resumed.outcome.status, 'done');
  assert.deepEqual(numbers(resumed.rows), numbers(through.rows));
});
