import {test, after} from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import {checkDatasetFiles, clearDatasetCache, loadDataset} from '../../src/data';
import {EnvironmentError} from '../../src/errors';
import {idxBytes, tempDir, writeIdxDataset} from './fixtures';

const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, {recursive: true, force: true})));

function fixture(gzip: boolean, nTrain = 12, nTest = 5) {
  const dir = tempDir('idx');
  dirs.push(dir);
  return writeIdxDataset(dir, {nTrain, nTest, gzip});
}

for (const gzip of [false, true]) {
  test(`IDX: parses ${gzip ? 'gzipped' : 'raw'} files into 28x28x1 splits`, () => {
    clearDatasetCache();
    const f = fixture(gzip);
    const ds = loadDataset({name: 'mnist', path: f.dir, normalize: false});
    assert.deepEqual(ds.shape, {height: 28, width: 28, channels: 1});
    assert.equal(ds.classes, 10);
    assert.equal(ds.train.n, 12);
    assert.equal(ds.test.n, 5);
    assert.deepEqual(ds.train.y, f.train.y);
    assert.deepEqual(ds.test.y, f.test.y);
    for (let k = 0; k < f.train.x.length; k += 97) assert.ok(Math.abs(ds.train.x[k] - f.train.x[k] / 255) < 1e-7);
    for (let k = 0; k < f.test.x.length; k += 31) assert.ok(Math.abs(ds.test.x[k] - f.test.x[k] / 255) < 1e-7);
  });
}

test('IDX: gzip is detected by content, not by name; a mix of raw and .gz files works', () => {
  clearDatasetCache();
  const f = fixture(false);
  const p = path.join(f.dir, 'train-images-idx3-ubyte');
  // Gzipped bytes under the raw name.
  fs.writeFileSync(p, zlib.gzipSync(fs.readFileSync(p)));
  const ds = loadDataset({name: 'fashion-mnist', path: f.dir, normalize: false});
  assert.equal(ds.name, 'fashion-mnist');
  assert.ok(Math.abs(ds.train.x[5] - f.train.x[5] / 255) < 1e-7);
});

test('IDX: subsets are the first N images; normalisation uses the training subset', () => {
  clearDatasetCache();
  const f = fixture(true, 20, 8);
  const ds = loadDataset({name: 'mnist', path: f.dir, train_size: 7, test_size: 3});
  assert.equal(ds.train.n, 7);
  assert.equal(ds.test.n, 3);
  assert.deepEqual(ds.train.y, f.train.y.slice(0, 7));
  let sum = 0;
  let sq = 0;
  for (const b of f.train.x.subarray(0, 7 * 784)) (sum += b / 255), (sq += (b / 255) ** 2);
  const mean = sum / (7 * 784);
  const std = Math.sqrt(sq / (7 * 784) - mean * mean);
  assert.ok(Math.abs(ds.mean[0] - mean) < 1e-9);
  assert.ok(Math.abs(ds.std[0] - std) < 1e-9);
  assert.ok(Math.abs(ds.test.x[100] - (f.test.x[100] / 255 - mean) / std) < 1e-5);
});

/** Asserts an EnvironmentError (exit 1) whose message and hint match. */
function rejects(fn: () => unknown, message: RegExp, hint: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof EnvironmentError, `expected EnvironmentError, got ${e}`);
    assert.equal(e.exitCode, 1);
    assert.match(e.message, message);
    assert.match(e.hint ?? '', hint);
    return true;
  });
}

test('IDX errors: missing folder and missing file, with how to get them', () => {
  clearDatasetCache();
  rejects(() => loadDataset({name: 'fashion-mnist', path: '/nonexistent/fmnist'}), /^fashion-mnist: dataset folder \/nonexistent\/fmnist does not exist$/, /apt-get install dataset-fashion-mnist/);
  const f = fixture(true);
  assert.doesNotThrow(() => checkDatasetFiles({name: 'mnist', path: f.dir}));
  fs.rmSync(path.join(f.dir, 't10k-labels-idx1-ubyte.gz'));
  rejects(() => loadDataset({name: 'mnist', path: f.dir}), /^mnist: t10k-labels-idx1-ubyte\[\.gz\] not found in \/.*ablate-idx-/, /yann\.lecun\.com\/exdb\/mnist/);
  rejects(() => checkDatasetFiles({name: 'mnist', path: f.dir}), /^mnist: t10k-labels-idx1-ubyte\[\.gz\] not found/, /yann\.lecun\.com/);
  rejects(() => checkDatasetFiles({name: 'fashion-mnist', path: '/nonexistent/fmnist'}), /does not exist/, /apt-get install dataset-fashion-mnist/);
  assert.doesNotThrow(() => checkDatasetFiles({name: 'synthetic'}));
});

test('IDX errors: wrong magic, swapped files, wrong element type', () => {
  clearDatasetCache();
  const f = fixture(false);
  const imgs = path.join(f.dir, 'train-images-idx3-ubyte');
  const labels = path.join(f.dir, 'train-labels-idx1-ubyte');
  const good = fs.readFileSync(imgs);
  fs.writeFileSync(imgs, Buffer.from('<html>404 Not Found</html>'));
  rejects(() => loadDataset({name: 'mnist', path: f.dir}), /train-images-idx3-ubyte is not an IDX file: wrong magic number 0x3c68746d \(expected 2051 = 0x00000803\)/, /download/);
  fs.writeFileSync(imgs, fs.readFileSync(labels));
  rejects(() => loadDataset({name: 'mnist', path: f.dir}), /train-images-idx3-ubyte is an IDX labels file \(magic 2049\) where images were expected; are the files swapped\?/, /download/);
  const wrongType = Buffer.from(good);
  wrongType[2] = 0x0d; // float
  fs.writeFileSync(imgs, wrongType);
  rejects(() => loadDataset({name: 'fashion-mnist', path: f.dir}), /train-images-idx3-ubyte is an IDX file of element type 0xd, expected unsigned bytes/, /apt-get install --reinstall dataset-fashion-mnist/);
});

test('IDX errors: truncated data, extra bytes, truncated header, truncated gzip', () => {
  clearDatasetCache();
  const f = fixture(false);
  const imgs = path.join(f.dir, 'train-images-idx3-ubyte');
  const good = fs.readFileSync(imgs);
  fs.writeFileSync(imgs, good.subarray(0, good.length - 100));
  rejects(() => loadDataset({name: 'mnist', path: f.dir}), /train-images-idx3-ubyte is truncated: its header announces 12 images of 28x28 \(9424 bytes\) but it holds 9324 bytes/, /download/);
  fs.writeFileSync(imgs, Buffer.concat([good, Buffer.alloc(3)]));
  rejects(() => loadDataset({name: 'mnist', path: f.dir}), /train-images-idx3-ubyte is corrupt: .* holds 9427 bytes, 3 too many/, /download/);
  fs.writeFileSync(imgs, good.subarray(0, 10));
  rejects(() => loadDataset({name: 'mnist', path: f.dir}), /is truncated: 10 bytes, shorter than the 16-byte IDX images header/, /download/);
  const gz = path.join(f.dir, 'train-images-idx3-ubyte.gz');
  fs.rmSync(imgs);
  fs.writeFileSync(gz, zlib.gzipSync(good).subarray(0, 200));
  rejects(() => loadDataset({name: 'fashion-mnist', path: f.dir}), /train-images-idx3-ubyte\.gz is not a valid gzip file \(.*\); the download is probably truncated or damaged/, /reinstall/);
});

test('IDX errors: label count mismatch, label out of range, wrong image size', () => {
  clearDatasetCache();
  const f = fixture(false);
  const labels = path.join(f.dir, 'train-labels-idx1-ubyte');
  fs.writeFileSync(labels, idxBytes([11], new Uint8Array(11)));
  rejects(() => loadDataset({name: 'mnist', path: f.dir}), /train-labels-idx1-ubyte holds 11 labels but .*train-images-idx3-ubyte holds 12 images; the two files must belong together/, /download/);
  const bad = new Uint8Array(12);
  bad[4] = 10;
  fs.writeFileSync(labels, idxBytes([12], bad));
  rejects(() => loadDataset({name: 'mnist', path: f.dir}), /train-labels-idx1-ubyte: label 10 at index 4 is outside 0\.\.9/, /download/);
  fs.writeFileSync(labels, idxBytes([12], new Uint8Array(12)));
  fs.writeFileSync(path.join(f.dir, 't10k-images-idx3-ubyte'), idxBytes([5, 32, 32], new Uint8Array(5 * 1024)));
  rejects(() => loadDataset({name: 'mnist', path: f.dir}), /t10k-images-idx3-ubyte holds 32x32 images; mnist images are 28x28/, /download/);
});

test('IDX errors: a subset larger than the files hold', () => {
  clearDatasetCache();
  const f = fixture(true);
  rejects(() => loadDataset({name: 'mnist', path: f.dir, train_size: 100}), /^mnist: the train split in .* holds 12 images, fewer than dataset\.train_size=100$/, /lower dataset\.train_size to at most 12/);
});

test('IDX: a relative path is resolved against baseDir', () => {
  clearDatasetCache();
  const f = fixture(false);
  const ds = loadDataset({name: 'mnist', path: path.basename(f.dir)}, {baseDir: path.dirname(f.dir)});
  assert.equal(ds.train.n, 12);
});
