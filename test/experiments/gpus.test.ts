/** GPU scheduling: slots round-robin over resources.gpus, at most trials_per_gpu per GPU, a scheduler's CUDA_VISIBLE_DEVICES kept. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import {test} from 'node:test';
import {ConfigError, UsageError} from '../../src/errors';
import {parseStudy, resolveResources} from '../../src/experiments/config';
import {gpuEnv} from '../../src/experiments/executor';
import {planStudy} from '../../src/experiments/runner';
import {cli, tmpDir, writeFile} from '../helpers';

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

test('on a GPU machine the slots are GPUs x trials_per_gpu, and plan says so and what to raise when that caps the workers', () => {
  const dir = tmpDir();
  // The machine's boundary: a Python whose torch sees one CUDA GPU (the probe is all that planning asks of it).
  const python = writeFile(dir, 'python3', `#!/bin/sh\necho '{"python": "3.12.3", "torch": "2.11.0", "cuda": "13.0", "cudnn": "91900", "cuda_available": true, "gpus": ["NVIDIA H200"], "compile": true}'\n`);
  fs.chmodSync(python, 0o755);
  const study = (resources: string) => writeFile(dir, 's.yaml', `${BASE}seeds: [1, 2, 3, 4]\nresources: ${resources}\n`);
  const plan = (resources: string) => cli(['plan', study(resources), '--engine', 'torch'], {env: {ABLATE_PYTHON: python}});
  const capped = plan('{workers: 2}');
  assert.equal(capped.code, 0, capped.stderr);
  assert.match(capped.stdout, /4 trials on 1 worker\(s\) \(1 GPU\(s\) x trials_per_gpu 1; 2 workers asked: raise resources\.trials_per_gpu to train more at once\)/);
  assert.match(plan('{workers: 4, trials_per_gpu: 4}').stdout, /4 trials on 4 worker\(s\) \(1 GPU\(s\) x trials_per_gpu 4\) x/);
});
