import assert from 'node:assert/strict';
import {test} from 'node:test';
import {parseStudy} from '../../src/experiments/config';
import {canonicalJson, configHash, expandStudy} from '../../src/experiments/sweep';

const BASE = `name: grid
dataset: {name: synthetic, image: [8, 8, 3], classes: 4, train_size: 64, test_size: 32}
model: {family: cifar, depth: 8}
train: {epochs: 2, batch_size: 16}
`;

const expand = (text: string, smoke = false) => expandStudy(parseStudy(text, 'grid.yaml'), {smoke});

test('the grid is the cartesian product of the axes times the seeds, seeds innermost', () => {
  const trials = expand(BASE + 'seeds: [1, 2]\nsweep:\n  model.depth: [8, 14, 20]\n  model.residual: [false, true]\n');
  assert.equal(trials.length, 3 * 2 * 2);
  assert.deepEqual(trials.slice(0, 4).map((t) => [t.variant['model.depth'], t.variant['model.residual'], t.seed]), [
    [8, false, 1], [8, false, 2], [8, true, 1], [8, true, 2],
  ]);
  assert.deepEqual(trials.map((t) => t.index), [...trials.keys()]);
  assert.equal(new Set(trials.map((t) => t.key)).size, trials.length, 'every trial has its own key');
  const t = trials.find((x) => x.variant['model.depth'] === 20 && x.variant['model.residual'] === false)!;
  assert.equal(t.model.depth, 20);
  assert.equal(t.model.residual, false);
});

test('zip groups vary together', () => {
  const trials = expand(BASE + 'sweep:\n  model.residual: [false, true]\n  zip:\n    - {model.depth: [20, 29], model.block: [basic, bottleneck]}\n');
  assert.equal(trials.length, 4);
  assert.deepEqual(
    trials.map((t) => `${t.variant['model.residual']}/${t.variant['model.depth']}/${t.variant['model.block']}`),
    ['false/20/basic', 'false/29/bottleneck', 'true/20/basic', 'true/29/bottleneck'],
  );
  assert.equal(trials[1].model.block, 'bottleneck');
});

test('exclude rules drop the cells they match entirely', () => {
  const trials = expand(BASE + 'sweep:\n  model.residual: [false, true]\n  model.shortcut: [A, B]\n  exclude:\n    - {model.residual: false, model.shortcut: B}\n');
  assert.deepEqual(trials.map((t) => `${t.variant['model.residual']}${t.variant['model.shortcut']}`), ['falseA', 'trueA', 'trueB']);
});

test('no sweep: one trial per seed', () => {
  const trials = expand(BASE + 'seeds: [3, 4, 5]\n');
  assert.deepEqual(trials.map((t) => t.seed), [3, 4, 5]);
  assert.deepEqual(trials[0].variant, {});
});

test('keys are stable: the same resolved config gives the same key, whatever the spelling', () => {
  const a = expand(BASE + 'sweep:\n  model.depth: [8, 14]\n');
  const b = expand(BASE.replace('model: {family: cifar, depth: 8}', 'model:\n  depth: 8\n  family: cifar') + 'sweep:\n  model.depth: [8, 14]\n');
  assert.deepEqual(a.map((t) => t.key), b.map((t) => t.key));
  const c = expand(BASE.replace('epochs: 2', 'epochs: 3') + 'sweep:\n  model.depth: [8, 14]\n');
  assert.notEqual(a[0].key, c[0].key, 'a different experiment has a different key');
});

test('a sweep over nested keys overrides only that key', () => {
  const trials = expand(BASE + 'sweep:\n  train.optimizer.lr: [0.1, 0.01]\n');
  assert.deepEqual(trials.map((t) => t.train.optimizer.lr), [0.1, 0.01]);
  assert.deepEqual(trials.map((t) => t.train.optimizer.momentum), [0.9, 0.9]);
});

test('presets can be swept and overridden', () => {
  const trials = expand(BASE.replace('model: {family: cifar, depth: 8}', 'model: {preset: resnet20}') + 'sweep:\n  model.preset: [resnet20, resnet32]\n  model.shortcut: [A, B]\n');
  assert.deepEqual(trials.map((t) => `${t.model.depth}${t.model.shortcut}`), ['20A', '20B', '32A', '32B']);
});

test('--smoke keeps the grid and shrinks every trial', () => {
  const text = BASE.replace('dataset: {name: synthetic, image: [8, 8, 3], classes: 4, train_size: 64, test_size: 32}', 'dataset: {name: fashion-mnist}')
    .replace('train: {epochs: 2, batch_size: 16}', 'train: {epochs: 90, batch_size: 128, schedule: {name: multistep, milestones: [30, 60]}}') +
    'sweep:\n  model.depth: [20, 56]\n  model.widen_factor: [1, 4]\n';
  const full = expand(text);
  const smoke = expand(text, true);
  assert.deepEqual(smoke.map((t) => t.variant), full.map((t) => t.variant));
  for (const t of smoke) {
    assert.equal(t.dataset.name, 'synthetic');
    assert.deepEqual(t.dataset.image, [8, 8, 1], 'channels and classes follow the real dataset');
    assert.equal(t.dataset.classes, 10);
    assert.equal(t.train.epochs, 1);
    assert.ok(t.train.batch_size <= 16);
  }
  assert.deepEqual(smoke.map((t) => t.model.depth), [20, 20, 56, 56], 'the architecture is kept');
  assert.ok(smoke.every((t, i) => t.model.planes * t.model.widen_factor < full[i].model.planes * full[i].model.widen_factor), 'nets are narrower');
});

test('the sweep hash ignores resources and names, not content', () => {
  const a = parseStudy(BASE + 'resources: {workers: 1}\n');
  const b = parseStudy(BASE.replace('name: grid', 'name: other') + 'resources: {workers: 2}\n');
  const c = parseStudy(BASE.replace('depth: 8', 'depth: 14'));
  assert.equal(configHash(a), configHash(b));
  assert.notEqual(configHash(a), configHash(c));
  assert.notEqual(configHash(a), configHash(a, true), 'a smoke sweep is a different sweep');
});

test('canonical JSON sorts keys at every level', () => {
  assert.equal(canonicalJson({b: 1, a: {d: [2, {f: 1, e: 0}], c: 3}}), '{"a":{"c":3,"d":[2,{"e":0,"f":1}]},"b":1}');
});
