import {test} from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import {FASHION_MNIST_DEFAULT_PATH, batches, clearDatasetCache, loadDataset} from '../../src/data';
import {requires} from '../helpers';

const present = fs.existsSync(`${FASHION_MNIST_DEFAULT_PATH}/train-images-idx3-ubyte.gz`) || fs.existsSync(`${FASHION_MNIST_DEFAULT_PATH}/train-images-idx3-ubyte`);

test(
  'Fashion-MNIST from the Debian package: 60000/10000 images of 28x28x1, ten balanced classes',
  {skip: requires('FASHION_MNIST', !present && `no files in ${FASHION_MNIST_DEFAULT_PATH}: apt-get install dataset-fashion-mnist`)},
  () => {
    clearDatasetCache();
    const t0 = Date.now();
    const ds = loadDataset({name: 'fashion-mnist'});
    const ms = Date.now() - t0;
    assert.deepEqual(ds.shape, {height: 28, width: 28, channels: 1});
    assert.equal(ds.classes, 10);
    assert.equal(ds.train.n, 60000);
    assert.equal(ds.test.n, 10000);
    assert.equal(ds.train.x.length, 60000 * 784);
    const counts = (y: Int32Array) => y.reduce((c, v) => (c[v]++, c), new Array(10).fill(0));
    // Zalando's published split: 6000 training and 1000 test images per class.
    assert.deepEqual(counts(ds.train.y), new Array(10).fill(6000));
    assert.deepEqual(counts(ds.test.y), new Array(10).fill(1000));
    // Commonly quoted pixel statistics of the training set: mean 0.2860, std 0.3530.
    assert.ok(Math.abs(ds.mean[0] - 0.286) < 5e-4, `mean ${ds.mean[0]}`);
    assert.ok(Math.abs(ds.std[0] - 0.353) < 5e-4, `std ${ds.std[0]}`);
    const first = batches(ds.train, ds.shape, {batchSize: 128, shuffle: true, seed: 1, epoch: 0}).next().value!;
    assert.equal(first.n, 128);
    process.stdout.write(`# loaded Fashion-MNIST in ${ms} ms\n`);
    clearDatasetCache();
  },
);
