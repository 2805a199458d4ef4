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

/** A "billion laughs" file: seven levels of nine aliases would be 9^7 values. */
const BOMB = BASE + ['a: &a [x, x, x, x, x, x, x, x, x]', ...'bcdefg'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefg'[i]}`).join(', ')}]`)].join('\n') + '\n';

/** Seven axes of 10 x 8 x 10 x 10 x 8 x 2 x 5 values: 640,000 cells. */
const HUGE_SWEEP = `sweep:
  train.optimizer.lr: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
  train.optimizer.momentum: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
  train.optimizer.weight_decay: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
  train.epochs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  train.batch_size: [1, 2, 3, 4, 5, 6, 7, 8]
  model.residual: [true, false]
  train.checkpoint_every: [1, 2, 3, 4, 5]
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
  ['unknown key, transposed letters', BASE.replace('depth: 8}', 'depth: 8, dpeth: 2}'), 'study.yaml:3:34: model.dpeth: unknown key "dpeth" (did you mean "depth"?)'],
  ['wrong type', BASE.replace('batch_size: 16', 'batch_size: "16"'), 'study.yaml:6:3: train.batch_size: expected number, received string "16"'],
  ['negative learning rate', BASE.replace('lr: 0.1', 'lr: -0.1'), 'study.yaml:7:15: train.optimizer.lr: must be > 0; received -0.1'],
  ['batch size 0', BASE.replace('batch_size: 16', 'batch_size: 0'), 'study.yaml:6:3: train.batch_size: must be >= 1; received 0'],
  ['bad enum value', BASE.replace('family: cifar', 'family: cifr'), 'study.yaml:3:9: model.family: expected one of "cifar", "imagenet"; received "cifr" (did you mean "cifar"?)'],
  ['depth that does not fit the block', BASE.replace('depth: 8', 'depth: 21'), 'study.yaml:3:24: model.depth: CIFAR basic-block depth must be 6n+2 (8, 14, 20, 32, 44, 56, 110, ...); received depth=21'],
  ['too many workers', BASE + 'resources: {workers: 1000}\n', 'study.yaml:9:13: resources.workers: must be <= 256; received 1000'],
  ['more workers than GPUs', BASE + 'resources: {workers: 3, gpus: [0, 1]}\n', "study.yaml:9:13: resources.workers: 3 workers but only 2 GPUs in resources.gpus; each worker needs a GPU of its own"],
  ['empty sweep axis', BASE + 'sweep:\n  model.depth: []\n', 'study.yaml:10:3: sweep["model.depth"]: an axis needs at least one value; received []'],
  ['sweep over a key that does not exist', BASE + 'sweep:\n  model.widen_factr: [1, 2]\n', 'study.yaml:10:3: sweep["model.widen_factr"]: unknown key model.widen_factr (did you mean "widen_factor"?)'],
  ['sweep axis without its section', BASE + 'sweep:\n  optimizer.lr: [0.1]\n', 'study.yaml:10:3: sweep["optimizer.lr"]: a sweep axis starts with its section (did you mean "train.optimizer.lr"?)'],
  ['impossible cell of the grid', BASE + 'sweep:\n  model.depth: [8, 21, 14]\n', 'study.yaml:10:20: model.depth: CIFAR basic-block depth must be 6n+2 (8, 14, 20, 32, 44, 56, 110, ...); received depth=21 (in the sweep cell model.depth=21)'],
  ['zip groups of unequal length', BASE + 'sweep:\n  zip:\n    - {model.depth: [8, 14], model.widen_factor: [1]}\n', 'study.yaml:11:7: sweep.zip[0]: axes that vary together need the same number of values; received model.depth: 2, model.widen_factor: 1'],
  ['exclude rules that drop everything', BASE + 'sweep:\n  model.residual: [true]\n  exclude:\n    - {model.residual: true}\n', 'study.yaml:11:3: sweep.exclude: the exclude rules drop every cell of the grid; nothing would run'],
  ['missing dataset', 'name: bad\n', 'study.yaml: dataset: required: expected object'],
  // Input that a parser or the grid could blow up on, and values that are valid alone but wrong together.
  ['alias bomb', BOMB, 'study.yaml:11:8: aliases expand to more than 100 copies of anchored values (*b and the aliases inside &b); aliases of aliases multiply: write the values out, or alias only plain values'],
  ['alias without its anchor', BASE + 'description: *nothing\n', 'study.yaml:9:14: alias *nothing has no anchor &nothing before it; define the anchor first (key: &nothing value) or write the value out'],
  ['batch larger than the training split', BASE.replace('batch_size: 16', 'batch_size: 100000'), 'study.yaml:6:3: train.batch_size: batch_size=100000 is larger than the training split (64 images), so every epoch would be one step over the whole split; use batch_size <= 64'],
  ['a swept training split smaller than the batch', BASE + 'sweep:\n  dataset.train_size: [64, 8]\n', 'study.yaml:10:28: train.batch_size: batch_size=16 is larger than the training split (8 images), so every epoch would be one step over the whole split; use batch_size <= 8 (in the sweep cell dataset.train_size=8)'],
  ['repeated seed', BASE.replace('seeds: [1]', 'seeds: [1, 1]'), 'study.yaml:8:12: seeds[1]: seed 1 is listed twice (also at [0]); it would run every cell twice with the same numbers: remove the repeat'],
  ['seed that is not a whole number', BASE.replace('seeds: [1]', 'seeds: [1, 2.5]'), 'study.yaml:8:12: seeds[1]: expected a whole number; received 2.5'],
  ['negative seed', BASE.replace('seeds: [1]', 'seeds: [-1]'), 'study.yaml:8:9: seeds[0]: must be >= 0; received -1'],
  ['no seeds', BASE.replace('seeds: [1]', 'seeds: []'), 'study.yaml:8:1: seeds: give at least one seed; received []'],
  ['zero epochs', BASE.replace('epochs: 2', 'epochs: 0'), 'study.yaml:5:3: train.epochs: must be >= 1; received 0'],
  ['learning rate 0', BASE.replace('lr: 0.1', 'lr: 0'), 'study.yaml:7:15: train.optimizer.lr: must be > 0; received 0'],
  ['momentum 1', BASE.replace('lr: 0.1', 'lr: 0.1, momentum: 1'), 'study.yaml:7:24: train.optimizer.momentum: must be < 1; received 1'],
  ['empty test split', BASE.replace('test_size: 32', 'test_size: 0'), 'study.yaml:2:74: dataset.test_size: must be >= 1; received 0'],
  ['training split larger than the dataset', BASE.replace(/dataset: .*\n/, 'dataset: {name: fashion-mnist, train_size: 70000}\n'), 'study.yaml:2:32: dataset.train_size: fashion-mnist has 60000 training images; received train_size=70000'],
  ['sweep axis that is not a list', BASE + 'sweep:\n  model.depth: 8\n', 'study.yaml:10:3: sweep["model.depth"]: expected array, received number 8'],
  ['seeds as a sweep axis', BASE + 'sweep:\n  seeds: [1, 2]\n', 'study.yaml:10:3: sweep.seeds: seeds are not an axis; list them under the top-level `seeds:` key'],
  ['value repeated in an axis', BASE + 'sweep:\n  model.depth: [8, 14, 8]\n', 'study.yaml:10:24: sweep["model.depth"][2]: 8 is listed twice (also at [0]); each value is one cell of the grid: remove the repeat'],
  ['point repeated in a zip group', BASE + 'sweep:\n  zip:\n    - {model.depth: [8, 14, 8], model.residual: [true, false, true]}\n', 'study.yaml:11:29: sweep.zip[0]["model.depth"][2]: point 2 (model.depth=8, model.residual=true) repeats point 0; each point is one cell of the grid: remove the repeat'],
  ['empty zip group', BASE + 'sweep:\n  zip:\n    - {}\n', 'study.yaml:11:7: sweep.zip[0]: a zip group needs at least one axis with its values'],
  ['key swept twice', BASE + 'sweep:\n  model.depth: [8, 14]\n  zip:\n    - {model.depth: [8, 14], model.residual: [true, false]}\n', 'study.yaml:12:8: sweep.zip[0]["model.depth"]: model.depth is swept twice (also at sweep["model.depth"]); one would silently override the other: keep one'],
  ['key swept inside another swept key', BASE + 'sweep:\n  train.optimizer: [{lr: 0.1}, {lr: 0.2}]\n  train.optimizer.momentum: [0.8, 0.9]\n', 'study.yaml:11:3: sweep["train.optimizer.momentum"]: train.optimizer.momentum lies inside train.optimizer, which is swept too; one would silently override the other: sweep one of them'],
  ['exclude rule over a key that is not swept', BASE + 'sweep:\n  model.residual: [false, true]\n  exclude:\n    - {model.shortcut: B}\n', 'study.yaml:12:8: sweep.exclude[0]["model.shortcut"]: model.shortcut is not swept, so this rule can never match; exclude rules name swept axes (model.residual)'],
  ['exclude rule with a value the axis lacks', BASE + 'sweep:\n  model.depth: [8, 14]\n  exclude:\n    - {model.depth: 20}\n', 'study.yaml:12:8: sweep.exclude[0]["model.depth"]: 20 is not among the values of model.depth (8, 14), so this rule can never match'],
  ['exclude rule whose values never meet', BASE + 'sweep:\n  zip:\n    - {model.depth: [8, 14], model.residual: [true, false]}\n  exclude:\n    - {model.depth: 8, model.residual: false}\n', 'study.yaml:13:7: sweep.exclude[0]: this rule matches no cell of the grid (its values never occur together), so it drops nothing; fix its values or remove it'],
  ['grid over the trial limit', BASE.replace('seeds: [1]', 'seeds: [1, 2]') + HUGE_SWEEP, `study.yaml:9:1: sweep: the grid has 1,280,000 trials (10 x 8 x 10 x 10 x 8 x 2 x 5 cells x 2 seed(s)), more than the limit of 100,000; sweep fewer values or seeds, or raise the limit with --max-trials 1280000`],
  ['former model key where it is ambiguous', BASE.replace('model: {family: cifar, depth: 8}', 'model: {preset: resnext29-8x64d, width: 2}'),
    "study.yaml:3:34: model.width: width is ambiguous on bottleneck blocks; did you mean widen_factor (WRN's k: every stage's planes x k), planes (the first stage's planes: 64 in ResNeXt-29) or base_width (ResNeXt's bottleneck width d)? received width=2"],
  ['former and new model key together', BASE.replace('depth: 8}', 'depth: 8, width: 2, widen_factor: 2}'), 'study.yaml:3:34: model.width: width is the former name of widen_factor; give widen_factor only; received width=2, widen_factor=2'],
];

for (const [what, text, expected] of cases) {
  test(`config error: ${what}`, () => {
    assert.equal(errorOf(text), expected);
  });
}

test('config error: nesting too deep to parse (where the parser gives up depends on the stack size)', () => {
  const message = errorOf('name: bad\ndataset: ' + '['.repeat(3000) + ']'.repeat(3000) + '\n');
  assert.match(message, /^study\.yaml:2:\d+: the YAML nests too deeply to be read \(a study file needs a few levels\); remove the extra brackets$/);
});

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

test('a grid over the limit is refused from its count, before any cell is expanded', () => {
  // Six axes of 20 values: 64 million cells, which would take hours to expand and validate.
  const values = (axis: string) => Array.from({length: 20}, (_, i) => (/epochs|size|every/.test(axis) ? i + 1 : (i + 1) / 100)).join(', ');
  const axes = ['train.optimizer.lr', 'train.optimizer.momentum', 'train.optimizer.weight_decay', 'train.epochs', 'train.batch_size', 'train.checkpoint_every'];
  const study = parseStudy(BASE + 'sweep:\n' + axes.map((a) => `  ${a}: [${values(a)}]\n`).join(''), 'study.yaml');
  const started = process.hrtime.bigint();
  assert.throws(() => expandStudy(study), (e: unknown) => e instanceof ConfigError && /the grid has 64,000,000 trials \(20 x 20 x 20 x 20 x 20 x 20 cells x 1 seed\(s\)\)/.test(e.message));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.ok(ms < 1000, `refused after ${ms} ms`);
  // The limit counts trials (cells x seeds): one that admits the grid expands it, one below refuses it.
  const small = parseStudy(BASE.replace('seeds: [1]', 'seeds: [1, 2]') + 'sweep:\n  model.depth: [8, 14]\n', 'study.yaml');
  assert.equal(expandStudy(small, {maxTrials: 4}).length, 4);
  assert.throws(() => expandStudy(small, {maxTrials: 3}), /the grid has 4 trials \(2 cells x 2 seed\(s\)\), more than the limit of 3/);
});

test('the former key width still works where it can only mean widen_factor, and names the same trial', () => {
  const a = expandStudy(parseStudy(BASE.replace('depth: 8}', 'depth: 8, width: 2}'), 'study.yaml'));
  const b = expandStudy(parseStudy(BASE.replace('depth: 8}', 'depth: 8, widen_factor: 2}'), 'study.yaml'));
  assert.equal(a[0].model.widen_factor, 2);
  assert.equal(a[0].key, b[0].key);
  const swept = expandStudy(parseStudy(BASE + 'sweep:\n  model.width: [1, 2]\n', 'study.yaml'));
  assert.deepEqual(swept.map((t) => t.model.widen_factor), [1, 2]);
});
