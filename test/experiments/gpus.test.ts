/** GPU scheduling: slots round-robin over resources.gpus, at most trials_per_gpu per GPU, a scheduler's CUDA_VISIBLE_DEVICES kept. */
import assert from 'node:assert/strict';
import {test} from 'node:test';
import {ConfigError, UsageError} from '../../src/errors';
import {parseStudy, resolveResources} from '../../src/experiments/config';
import {gpuEnv} from '../../src/experiments/executor';
import {planStudy} from '../../src/experiments/runner';
import {tmpDir, writeFile} from '../helpers';

const BASE = 'name: g\ndataset: {name: synthetic, image: [8, 8, 3], classes: 4, train_size: 64, test_size: 32}\ntrain: {batch_size: 16}\n';

test('trials_per_gpu k: k slots per GPU by default, and no GPU ever gets more than k', () => {
  const r = parseStudy(`${BASE}resources: {gpus: [0, 1], trials_per_gpu: 2}\n`).config.resources;
  const {workers, executor} = resolveResources(r);
  assert.deepEqual([workers, executor], [4, 'process']);
  const perGpu = new Map<string, number>();
  for (let slot = 0; slot < workers; slot++) {
    const d = gpuEnv(r.gpus, slot, undefined).CUDA_VISIBLE_DEVICES;
    perGpu.set(d, (perGpu.get(d) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(perGpu), {0: 2, 1: 2});
  // Fewer workers than slots still spread over the GPUs first.
  assert.deepEqual([0, 1].map((s) => gpuEnv([0, 1], s, undefined).CUDA_VISIBLE_DEVICES), ['0', '1']);
});

test('more workers than GPUs x trials_per_gpu is refused, naming both numbers and the fix', () => {
  assert.throws(
    () => parseStudy(`${BASE}resources: {gpus: [0, 1], trials_per_gpu: 2, workers: 5}\n`, 's.yaml'),
    (e: unknown) => e instanceof ConfigError && /s\.yaml:\d+:\d+: resources\.workers: 5 workers but 2 GPU\(s\) in resources\.gpus x trials_per_gpu 2 = 4 slots; raise resources\.trials_per_gpu/.test(e.message),
  );
  assert.throws(() => parseStudy(`${BASE}resources: {gpus: [0, 0]}\n`), /list it once and set resources\.trials_per_gpu/);
});

test("CUDA_VISIBLE_DEVICES set by a scheduler is kept: indices count within the allotted GPUs", () => {
  assert.deepEqual([0, 1, 2].map((s) => gpuEnv([0, 1], s, '4,6').CUDA_VISIBLE_DEVICES), ['4', '6', '4']);
  assert.deepEqual(gpuEnv([0], 0, 'GPU-8f1c,GPU-77aa').CUDA_VISIBLE_DEVICES, 'GPU-8f1c');
  const dir = tmpDir();
  const file = writeFile(dir, 's.yaml', `${BASE}resources: {gpus: [0, 2], engine: native-cpu}\n`);
  const saved = process.env.CUDA_VISIBLE_DEVICES;
  process.env.CUDA_VISIBLE_DEVICES = '4,6';
  try {
    assert.throws(() => planStudy(file), (e: unknown) => e instanceof UsageError && /resources\.gpus names GPU 2, but CUDA_VISIBLE_DEVICES=4,6 allots 2 GPU\(s\)/.test(e.message));
  } finally {
    if (saved === undefined) delete process.env.CUDA_VISIBLE_DEVICES;
    else process.env.CUDA_VISIBLE_DEVICES = saved;
  }
});
