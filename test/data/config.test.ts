import {test} from 'node:test';
import assert from 'node:assert/strict';
import {datasetConfigSchema, datasetInfo, parseDatasetConfig} from '../../src/data';
import {UsageError} from '../../src/errors';

/** Issues of a failed parse as `path: message` lines. */
function issues(input: unknown): string[] {
  const r = datasetConfigSchema.safeParse(input);
  assert.equal(r.success, false, `expected ${JSON.stringify(input)} to be rejected`);
  return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

function has(list: string[], re: RegExp): void {
  assert.ok(list.some((l) => re.test(l)), `no issue matches ${re}; got:\n${list.join('\n')}`);
}

test('schema: accepts the smoke study section and applies defaults', () => {
  const cfg = datasetConfigSchema.parse({name: 'synthetic', image: [8, 8, 3], classes: 4, train_size: 256, test_size: 128});
  assert.deepEqual(cfg, {name: 'synthetic', image: [8, 8, 3], classes: 4, train_size: 256, test_size: 128, normalize: true});
  const c2 = datasetConfigSchema.parse({name: 'cifar10', path: '/data/c10', augment: {crop_padding: 4, flip: true}});
  assert.deepEqual(c2.augment, {crop_padding: 4, flip: true});
  assert.deepEqual(datasetConfigSchema.parse({name: 'fashion-mnist', augment: {flip: true}}).augment, {crop_padding: 0, flip: true});
  assert.equal(datasetConfigSchema.parse({name: 'fashion-mnist'}).path, undefined, 'the default path is resolved at load time, not stored');
});

test('schema: unknown keys, bad names and wrong types', () => {
  has(issues({name: 'synthetic', trainsize: 3}), /Unrecognized key.*trainsize/);
  has(issues({name: 'imagenet'}), /^name: Invalid enum value.*'synthetic' \| 'fashion-mnist'/);
  has(issues({name: 'synthetic', image: [8, 8]}), /^image/);
  has(issues({name: 'synthetic', image: [8, 8, 3.5]}), /^image\.2: image channels must be a whole number/);
  has(issues({name: 'synthetic', classes: '4'}), /^classes: classes must be a number/);
  has(issues({name: 'synthetic', normalize: 'yes'}), /^normalize: Expected boolean/);
  has(issues({name: 'cifar10', path: '/x', augment: {crop_padding: 4, flip: true, scale: 2}}), /^augment: Unrecognized key.*scale/);
});

test('schema: out-of-range values', () => {
  has(issues({name: 'synthetic', train_size: 0}), /^train_size: train_size must be at least 1/);
  has(issues({name: 'synthetic', test_size: -5}), /^test_size: test_size must be at least 1/);
  has(issues({name: 'synthetic', classes: 1}), /^classes: classes must be at least 2/);
  has(issues({name: 'synthetic', image: [0, 8, 3]}), /^image\.0: image height must be at least 1/);
  has(issues({name: 'fashion-mnist', train_size: 60001}), /^train_size: fashion-mnist has 60000 training images; received train_size=60001/);
  has(issues({name: 'cifar100', path: '/x', test_size: 10001}), /^test_size: cifar100 has 10000 test images/);
  has(issues({name: 'cifar10', path: '/x', augment: {crop_padding: -1, flip: true}}), /^augment\.crop_padding: crop_padding must be >= 0/);
  has(issues({name: 'cifar10', path: '/x', augment: {crop_padding: 40, flip: true}}), /^augment\.crop_padding: crop_padding=40 is larger than the 32x32 image/);
  has(issues({name: 'synthetic', image: [224, 224, 3], train_size: 5000}), /^train_size: train_size=5000 of 224x224x3 images needs 2\.8 GiB; at most 1783 images/);
});

test('schema: options that do not apply to the dataset are errors at their key', () => {
  has(issues({name: 'fashion-mnist', image: [28, 28, 1]}), /^image: image applies only to synthetic data; fashion-mnist images are 28x28x1/);
  has(issues({name: 'cifar10', path: '/x', classes: 10}), /^classes: classes applies only to synthetic data; cifar10 has 10 classes/);
  has(issues({name: 'cifar10', path: '/x', labels: 'coarse'}), /^labels: labels \(fine\/coarse\) applies only to cifar100/);
  has(issues({name: 'synthetic', labels: 'fine'}), /^labels: .*only to cifar100/);
  has(issues({name: 'synthetic', path: '/tmp'}), /^path: synthetic data .* reads no files/);
  has(issues({name: 'cifar100', path: '/x', labels: 'medium'}), /^labels: Invalid enum value/);
});

test('schema: mnist and cifar need a path, and the message names the files', () => {
  has(issues({name: 'mnist'}), /^path: mnist has no default location: set path to a folder with train-images-idx3-ubyte\[\.gz\], train-labels-idx1-ubyte\[\.gz\], t10k-images/);
  has(issues({name: 'cifar10'}), /^path: .*data_batch_1\.bin \.\. data_batch_5\.bin and test_batch\.bin, or cifar-10-binary\.tar\.gz/);
  has(issues({name: 'cifar100'}), /^path: .*train\.bin and test\.bin, or cifar-100-binary\.tar\.gz/);
  assert.doesNotThrow(() => datasetConfigSchema.parse({name: 'fashion-mnist'}));
});

test('schema: every problem is reported at once', () => {
  const list = issues({name: 'fashion-mnist', image: [8, 8, 1], classes: 3, train_size: 70000});
  assert.equal(list.length, 3, list.join('\n'));
});

test('parseDatasetConfig: UsageError with dotted paths', () => {
  assert.throws(
    () => parseDatasetConfig({name: 'synthetic', image: [8, -1, 3], train_size: 0}),
    (e: unknown) => e instanceof UsageError && e.exitCode === 2 && /dataset\.image\[1\]: image width must be at least 1/.test(e.message) && /dataset\.train_size/.test(e.message),
  );
});

test('datasetInfo: shapes, classes and sizes without touching files', () => {
  assert.deepEqual(datasetInfo({name: 'fashion-mnist', path: '/does/not/exist'}), {shape: {height: 28, width: 28, channels: 1}, classes: 10, trainSize: 60000, testSize: 10000});
  assert.deepEqual(datasetInfo({name: 'mnist', path: '/nope', train_size: 1000}), {shape: {height: 28, width: 28, channels: 1}, classes: 10, trainSize: 1000, testSize: 10000});
  assert.deepEqual(datasetInfo({name: 'cifar10', path: '/nope'}), {shape: {height: 32, width: 32, channels: 3}, classes: 10, trainSize: 50000, testSize: 10000});
  assert.equal(datasetInfo({name: 'cifar100', path: '/nope'}).classes, 100);
  assert.equal(datasetInfo({name: 'cifar100', path: '/nope', labels: 'coarse'}).classes, 20);
  assert.deepEqual(datasetInfo({name: 'synthetic', image: [8, 8, 3], classes: 4, train_size: 256, test_size: 128}), {shape: {height: 8, width: 8, channels: 3}, classes: 4, trainSize: 256, testSize: 128});
  assert.deepEqual(datasetInfo({name: 'synthetic'}), {shape: {height: 32, width: 32, channels: 3}, classes: 10, trainSize: 1024, testSize: 256});
  // ImageNet shape: defaults shrink so that a split stays within 64 MiB.
  assert.deepEqual(datasetInfo({name: 'synthetic', image: [224, 224, 3], classes: 1000}), {shape: {height: 224, width: 224, channels: 3}, classes: 1000, trainSize: 111, testSize: 55});
});
