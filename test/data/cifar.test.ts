import {test, after} from 'node:test';
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {batches, checkDatasetFiles, clearDatasetCache, loadDataset, type Split} from '../../src/data';
import {readTar} from '../../src/data/tar';
import {EnvironmentError} from '../../src/errors';
import {cifarBytes, cifarRecords, tempDir, writeCifar10, writeCifar100, type CifarRecord} from './fixtures';

const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, {recursive: true, force: true})));
function dir(): string {
  const d = tempDir('cifar');
  dirs.push(d);
  return d;
}

/** Archives `member` (a folder inside `cwd`) with the system's tar. */
function tarGz(cwd: string, archive: string, member: string, format = 'gnu'): string {
  const out = path.join(cwd, archive);
  execFileSync('tar', [`--format=${format}`, '-czf', out, '-C', cwd, member]);
  return out;
}

/** Asserts that `split` holds `records` in order, converted from channel-planar to NHWC. */
function assertRecords(split: Split, records: CifarRecord[], labelIndex: number): void {
  assert.equal(split.n, records.length);
  records.forEach((r, i) => {
    assert.equal(split.y[i], r.labels[labelIndex], `label of record ${i}`);
    for (const [row, col, ch] of [[0, 0, 0], [0, 0, 2], [5, 17, 1], [31, 31, 2], [12, 3, 0]]) {
      const want = r.planar[ch * 1024 + row * 32 + col] / 255;
      const got = split.x[i * 3072 + (row * 32 + col) * 3 + ch];
      assert.ok(Math.abs(got - want) < 1e-7, `record ${i} pixel (${row},${col},${ch}): ${got} != ${want}`);
    }
  });
}

function rejects(fn: () => unknown, message: RegExp, hint = /cifar-10.?-binary\.tar\.gz/): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof EnvironmentError, `expected EnvironmentError, got ${e}`);
    assert.match(e.message, message);
    assert.match(e.hint ?? '', hint);
    return true;
  });
}

test('CIFAR-10: the batches folder, its parent, the .tar.gz, and a folder holding the .tar.gz give the same data', () => {
  const root = dir();
  const recs = writeCifar10(root, 3);
  const train = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'].flatMap((f) => recs.get(f)!);
  const archive = tarGz(root, 'cifar-10-binary.tar.gz', 'cifar-10-batches-bin');
  const onlyArchive = dir();
  fs.copyFileSync(archive, path.join(onlyArchive, 'cifar-10-binary.tar.gz'));
  for (const p of [path.join(root, 'cifar-10-batches-bin'), root, archive, onlyArchive]) {
    clearDatasetCache();
    const ds = loadDataset({name: 'cifar10', path: p, normalize: false});
    assert.deepEqual(ds.shape, {height: 32, width: 32, channels: 3});
    assert.equal(ds.classes, 10);
    assertRecords(ds.train, train, 0);
    assertRecords(ds.test, recs.get('test_batch.bin')!, 0);
  }
});

test('CIFAR-100: fine and coarse labels from the folder and from the .tar.gz', () => {
  const root = dir();
  const recs = writeCifar100(root, 7, 4);
  const archive = tarGz(root, 'cifar-100-binary.tar.gz', 'cifar-100-binary', 'pax');
  for (const p of [root, archive]) {
    clearDatasetCache();
    const fine = loadDataset({name: 'cifar100', path: p, normalize: false});
    assert.equal(fine.classes, 100);
    assertRecords(fine.train, recs.get('train.bin')!, 1);
    assertRecords(fine.test, recs.get('test.bin')!, 1);
    const coarse = loadDataset({name: 'cifar100', path: p, labels: 'coarse', normalize: false});
    assert.equal(coarse.classes, 20);
    assertRecords(coarse.train, recs.get('train.bin')!, 0);
  }
});

test('CIFAR: per-channel normalisation from the training split, subsets, and the standard augmentation', () => {
  clearDatasetCache();
  const root = dir();
  writeCifar10(root, 4);
  const ds = loadDataset({name: 'cifar10', path: root, train_size: 10, test_size: 2, augment: {crop_padding: 4, flip: true}});
  assert.equal(ds.train.n, 10);
  assert.equal(ds.test.n, 2);
  for (let c = 0; c < 3; c++) {
    let s = 0;
    let q = 0;
    for (let k = c; k < ds.train.x.length; k += 3) (s += ds.train.x[k]), (q += ds.train.x[k] ** 2);
    const n = ds.train.x.length / 3;
    assert.ok(Math.abs(s / n) < 1e-5, `channel ${c} mean ${s / n}`);
    assert.ok(Math.abs(Math.sqrt(q / n - (s / n) ** 2) - 1) < 1e-4);
  }
  assert.ok(ds.mean[0] < ds.mean[1] && ds.mean[1] < ds.mean[2], `statistics are per channel: ${ds.mean}`);
  const b = [...batches(ds.train, ds.shape, {batchSize: 4, shuffle: true, seed: 1, epoch: 0, augment: {crop_padding: 4, flip: true}})];
  assert.deepEqual(b.map((x) => x.n), [4, 4, 2]);
});

test('CIFAR errors: missing path, empty folder, missing batch file', () => {
  clearDatasetCache();
  rejects(() => loadDataset({name: 'cifar10', path: '/nonexistent/c10'}), /^cifar10: \/nonexistent\/c10 does not exist$/);
  const empty = dir();
  rejects(() => loadDataset({name: 'cifar10', path: empty}), /holds neither data_batch_1\.bin, .*test_batch\.bin nor a cifar-10-batches-bin folder nor cifar-10-binary\.tar\.gz/);
  rejects(() => loadDataset({name: 'cifar100', path: empty}), /holds neither train\.bin, test\.bin nor a cifar-100-binary folder nor cifar-100-binary\.tar\.gz/, /cifar-100-binary\.tar\.gz/);
  const root = dir();
  writeCifar10(root, 2);
  assert.doesNotThrow(() => checkDatasetFiles({name: 'cifar10', path: root}));
  fs.rmSync(path.join(root, 'cifar-10-batches-bin', 'data_batch_4.bin'));
  rejects(() => loadDataset({name: 'cifar10', path: root}), /^cifar10: data_batch_4\.bin not found in .*cifar-10-batches-bin/);
  rejects(() => checkDatasetFiles({name: 'cifar10', path: root}), /^cifar10: data_batch_4\.bin not found/);
  rejects(() => checkDatasetFiles({name: 'cifar100', path: empty}), /holds neither train\.bin/, /cifar-100-binary\.tar\.gz/);
});

test('CIFAR errors: truncated .bin, bad label bytes', () => {
  clearDatasetCache();
  const root = dir();
  writeCifar10(root, 3);
  const f = path.join(root, 'cifar-10-batches-bin', 'data_batch_2.bin');
  const good = fs.readFileSync(f);
  fs.writeFileSync(f, good.subarray(0, good.length - 1000));
  rejects(
    () => loadDataset({name: 'cifar10', path: root}),
    /data_batch_2\.bin is truncated or corrupt: 8219 bytes is not a whole number of 3073-byte records \(1 label byte \+ 3072 pixel bytes\); 2 records and 2073 bytes left over/,
    /download https:\/\/www\.cs\.toronto\.edu\/~kriz\/cifar-10-binary\.tar\.gz again/,
  );
  fs.writeFileSync(f, Buffer.alloc(0));
  rejects(() => loadDataset({name: 'cifar10', path: root}), /data_batch_2\.bin is empty/);
  const bad = Buffer.from(good);
  bad[3073] = 10;
  fs.writeFileSync(f, bad);
  rejects(() => loadDataset({name: 'cifar10', path: root}), /data_batch_2\.bin: record 1 has label 10, outside 0\.\.9; the file is corrupt or not cifar10/);
  // A CIFAR-100 file read as CIFAR-10 is not a whole number of records.
  const r100 = dir();
  writeCifar100(r100, 5, 5);
  fs.renameSync(path.join(r100, 'cifar-100-binary'), path.join(r100, 'cifar-10-batches-bin'));
  for (const n of [1, 2, 3, 4, 5]) fs.copyFileSync(path.join(r100, 'cifar-10-batches-bin', 'train.bin'), path.join(r100, 'cifar-10-batches-bin', `data_batch_${n}.bin`));
  fs.copyFileSync(path.join(r100, 'cifar-10-batches-bin', 'test.bin'), path.join(r100, 'cifar-10-batches-bin', 'test_batch.bin'));
  rejects(() => loadDataset({name: 'cifar10', path: r100}), /not a whole number of 3073-byte records/);
  const c100 = dir();
  const recs = cifarRecords(3, 0, 2);
  recs[2].labels[0] = 20; // coarse label out of range even when fine labels are used
  fs.mkdirSync(path.join(c100, 'cifar-100-binary'));
  fs.writeFileSync(path.join(c100, 'cifar-100-binary', 'train.bin'), cifarBytes(recs));
  fs.writeFileSync(path.join(c100, 'cifar-100-binary', 'test.bin'), cifarBytes(cifarRecords(1, 1, 2)));
  rejects(() => loadDataset({name: 'cifar100', path: c100}), /train\.bin: record 2 has coarse label 20, outside 0\.\.19/, /cifar-100-binary\.tar\.gz/);
});

test('CIFAR errors: truncated .tar.gz, a tar.gz of something else, a damaged tar', () => {
  clearDatasetCache();
  const root = dir();
  writeCifar10(root, 2);
  const archive = tarGz(root, 'cifar-10-binary.tar.gz', 'cifar-10-batches-bin');
  const cut = path.join(root, 'cut.tar.gz');
  const whole = fs.readFileSync(archive);
  fs.writeFileSync(cut, whole.subarray(0, whole.length >> 1));
  rejects(() => loadDataset({name: 'cifar10', path: cut}), /cut\.tar\.gz is not a valid gzip file \(.*\); the download is probably truncated or damaged/);
  fs.mkdirSync(path.join(root, 'other'));
  fs.writeFileSync(path.join(root, 'other', 'data_batch_1.txt'), 'python pickles live here');
  const wrong = tarGz(root, 'wrong.tar.gz', 'other');
  rejects(() => loadDataset({name: 'cifar10', path: wrong}), /wrong\.tar\.gz holds no data_batch_1\.bin \(found 1 files: other\/data_batch_1\.txt\); is it the binary version, cifar-10-binary\.tar\.gz\?/);
  const damaged = path.join(root, 'damaged.tar');
  fs.writeFileSync(damaged, Buffer.alloc(2048, 0x41));
  rejects(() => loadDataset({name: 'cifar10', path: damaged}), /damaged\.tar is not a valid tar archive: bad checksum field "AAAAAAAA"/);
  // An uncompressed tar cut inside a member.
  const plain = path.join(root, 'plain.tar');
  execFileSync('tar', ['-cf', plain, '-C', root, 'cifar-10-batches-bin']);
  const short = path.join(root, 'short.tar');
  fs.writeFileSync(short, fs.readFileSync(plain).subarray(0, 5000));
  rejects(() => loadDataset({name: 'cifar10', path: short}), /short\.tar is not a valid tar archive: entry ".*" needs \d+ bytes at byte \d+ but the archive ends at byte 5000 \(truncated\)/);
});

test('readTar: GNU and pax long names, directories skipped, contents intact', () => {
  const root = dir();
  const deep = path.join('a'.repeat(60), 'b'.repeat(60), 'c'.repeat(30));
  fs.mkdirSync(path.join(root, deep), {recursive: true});
  const longFile = path.join(deep, `${'x'.repeat(120)}.bin`);
  fs.writeFileSync(path.join(root, longFile), Buffer.from('hello'));
  fs.writeFileSync(path.join(root, deep, 'empty.bin'), Buffer.alloc(0));
  fs.writeFileSync(path.join(root, deep, 'big.bin'), Buffer.alloc(1500, 7));
  for (const format of ['gnu', 'pax', 'ustar']) {
    const archive = path.join(root, `t-${format}.tar`);
    // ustar cannot store a 120-character file name; archive only the short names there.
    const members = format === 'ustar' ? [path.join(deep, 'empty.bin'), path.join(deep, 'big.bin')] : ['a'.repeat(60)];
    execFileSync('tar', [`--format=${format}`, '-cf', archive, '-C', root, ...members]);
    const entries = readTar(fs.readFileSync(archive));
    const byName = new Map(entries.map((e) => [e.name, e.data]));
    if (format !== 'ustar') assert.equal(Buffer.from(byName.get(longFile)!).toString(), 'hello', `${format}: ${[...byName.keys()]}`);
    assert.equal(byName.get(path.join(deep, 'empty.bin'))!.length, 0, format);
    assert.ok(byName.get(path.join(deep, 'big.bin'))!.every((b) => b === 7), format);
    assert.ok(entries.every((e) => !e.name.endsWith('/')), 'directories are not entries');
  }
});
