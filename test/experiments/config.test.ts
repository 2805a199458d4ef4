/**
 * The catalog of bad study files: each gives one exact message with file:line:column, the key path, what
 * was expected and, for near misses, a suggestion. These are golden tests: a changed message is a
 * deliberate change of the user interface.
 */
import assert from 'node:assert/strict';
import {test} from 'node:test';
import {parseStudy, resolveResources} from '../../src/experiments/config';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {planStudy} from '../../src/experiments/runner';
import {expandStudy} from '../../src/experiments/sweep';
import {tmpDir} from '../helpers';
import {ConfigError} from '../../src/errors';

const BASE = `name: bad
dataset: {name: synthetic, image: [8, 8, 3], classes: 4, train_size: 64, test_size: 32}
model: {family: cifar, depth: 8}
train:
  epochs: 2
  batch_size: 16
  optimizer: {lr: 0.1}
seeds: [1]
`;

/** The message of the ConfigError that validating and expanding `text` throws. */
function errorOf(text: string): string {
  try {
    expandStudy(parseStudy(text, 'study.yaml'));
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${(e as Error)?.stack}`);
    assert.equal(e.exitCode, 2);
    return e.message;
  }
  assert.fail('the study was accepted');
}

const cases: [string, string, string][] = [
  ['malformed YAML', 'name: bad\ndataset: {name: synthetic\n', 'study.yaml:3:1: malformed YAML: Flow map in block collection must be sufficiently indented and end with a }'],
  ['tab indentation', 'name: bad\ndataset:\n\tname: synthetic\n', 'study.yaml:3:1: tab used for indentation; YAML indents with spaces only'],
  ['duplicate key', BASE + 'seeds: [2]\n', 'study.yaml:9:1: duplicate key "seeds": each key may appear once in a mapping (the later one would silently win)'],
  ['unknown key with a suggestion', BASE.replace('  epochs: 2', '  epochs: 2\n  epocs: 3'), 'study.yaml:6:3: train.epocs: unknown key "epocs" (did you mean "epochs"?)'],
  ['unknown key, transposed letters', BASE.replace('depth: 8}', 'depth: 8, widht: 2}'), 'study.yaml:3:34: model.widht: unknown key "widht" (did you mean "width"?)'],
  ['wrong type', BASE.replace('batch_size: 16', 'batch_size: "16"'), 'study.yaml:6:3: train.batch_size: expected number, received string "16"'],
  ['negative learning rate', BASE.replace('lr: 0.1', 'lr: -0.1'), 'study.yaml:7:15: train.optimizer.lr: must be > 0; received -0.1'],
  ['batch size 0', BASE.replace('batch_size: 16', 'batch_size: 0'), 'study.yaml:6:3: train.batch_size: must be >= 1; received 0'],
  ['bad enum value', BASE.replace('family: cifar', 'family: cifr'), 'study.yaml:3:9: model.family: expected one of "cifar", "imagenet"; received "cifr" (did you mean "cifar"?)'],
  ['depth that does not fit the block', BASE.replace('depth: 8', 'depth: 21'), 'study.yaml:3:24: model.depth: CIFAR basic-block depth must be 6n+2 (8, 14, 20, 32, 44, 56, 110, ...); received depth=21'],
  ['too many workers', BASE + 'resources: {workers: 1000}\n', 'study.yaml:9:13: resources.workers: must be <= 256; received 1000'],
  ['more workers than GPUs', BASE + 'resources: {workers: 3, gpus: [0, 1]}\n', "study.yaml:9:13: resources.workers: 3 workers but only 2 GPUs in resources.gpus; each worker needs a GPU of its own"],
  ['empty sweep axis', BASE + 'sweep:\n  model.depth: []\n', 'study.yaml:10:3: sweep["model.depth"]: an axis needs at least one value; received []'],
  ['sweep over a key that does not exist', BASE + 'sweep:\n  model.widht: [1, 2]\n', 'study.yaml:10:3: sweep["model.widht"]: unknown key model.widht (did you mean "width"?)'],
  ['sweep axis without its section', BASE + 'sweep:\n  optimizer.lr: [0.1]\n', 'study.yaml:10:3: sweep["optimizer.lr"]: a sweep axis starts with its section (did you mean "train.optimizer.lr"?)'],
  ['impossible cell of the grid', BASE + 'sweep:\n  model.depth: [8, 21, 14]\n', 'study.yaml:10:20: model.depth: CIFAR basic-block depth must be 6n+2 (8, 14, 20, 32, 44, 56, 110, ...); received depth=21 (in the sweep cell model.depth=21)'],
  ['zip groups of unequal length', BASE + 'sweep:\n  zip:\n    - {model.depth: [8, 14], model.width: [1]}\n', 'study.yaml:11:7: sweep.zip[0]: axes that vary together need the same number of values; received model.depth: 2, model.width: 1'],
  ['exclude rules that drop everything', BASE + 'sweep:\n  model.residual: [true]\n  exclude:\n    - {model.residual: true}\n', 'study.yaml:11:3: sweep.exclude: the exclude rules drop every cell of the grid; nothing would run'],
  ['missing dataset', 'name: bad\n', 'study.yaml: dataset: required: expected object'],
];

for (const [what, text, expected] of cases) {
  test(`config error: ${what}`, () => {
    assert.equal(errorOf(text), expected);
  });
}

test('all errors of a file are reported at once, in file order', () => {
  const text = BASE.replace('batch_size: 16', 'batch_size: 0').replace('family: cifar', 'family: cifr').replace('  epochs: 2', '  epochs: 2\n  epocs: 3');
  const lines = errorOf(text).split('\n');
  assert.equal(lines.length, 3);
  assert.deepEqual(lines.map((l) => l.split(': ')[0]), ['study.yaml:3:9', 'study.yaml:6:3', 'study.yaml:7:3']);
});

test('defaults fill in a minimal study', () => {
  const {config} = parseStudy('name: min\ndataset: {name: synthetic}\n');
  assert.equal(config.train.epochs, 10);
  assert.equal(config.train.optimizer.momentum, 0.9);
  assert.deepEqual(config.seeds, [0]);
  assert.equal(config.resources.engine, 'native-cpu');
  assert.equal(config.resources.autotune, false, 'kernels are chosen deterministically unless asked');
});

test('resources.autotune reaches the plan, and --autotune overrides it', () => {
  const file = path.join(tmpDir(), 'tune.yaml');
  fs.writeFileSync(file, `${BASE}resources: {autotune: true}\n`);
  assert.equal(planStudy(file).resources.autotune, true);
  fs.writeFileSync(file, BASE);
  assert.equal(planStudy(file).resources.autotune, false);
  assert.equal(planStudy(file, {autotune: true}).resources.autotune, true);
  assert.throws(() => parseStudy(`${BASE}resources: {autotune: yes please}\n`, 'bad.yaml'), /resources\.autotune/);
});

test('resources: workers default to the cores, threads split the cores, GPUs force processes', () => {
  assert.deepEqual(resolveResources({engine: 'native-cpu', retries: 1}, 8), {workers: 8, threads: 1, executor: 'thread', gpus: undefined});
  assert.deepEqual(resolveResources({engine: 'native-cpu', retries: 1, workers: 2}, 8), {workers: 2, threads: 4, executor: 'thread', gpus: undefined});
  assert.deepEqual(resolveResources({engine: 'native-cpu', retries: 1, gpus: [0, 1]}, 8), {workers: 2, threads: 4, executor: 'process', gpus: [0, 1]});
  assert.equal(resolveResources({engine: 'tfjs-node', retries: 1}, 2).executor, 'process');
});
