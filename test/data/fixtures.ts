/** Writers of small dataset files in the official formats, for tests. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `ablate-${prefix}-`));
}

/** An IDX file: header (magic, dims) and unsigned-byte data. */
export function idxBytes(dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

/** Deterministic pixel bytes of image i. */
export function pixel(i: number, k: number): number {
  return (i * 37 + k * 11) % 256;
}

export interface IdxFixture {
  dir: string;
  train: {x: Uint8Array; y: Int32Array};
  test: {x: Uint8Array; y: Int32Array};
}

/** Writes the four MNIST-layout files with nTrain / nTest 28x28 images (gzipped or not). */
export function writeIdxDataset(dir: string, opts: {nTrain: number; nTest: number; gzip: boolean}): IdxFixture {
  const make = (n: number, offset: number) => {
    const x = new Uint8Array(n * 784);
    for (let i = 0; i < n; i++) for (let k = 0; k < 784; k++) x[i * 784 + k] = pixel(i + offset, k);
    const y = Int32Array.from({length: n}, (_, i) => (i * 3 + offset) % 10);
    return {x, y};
  };
  const train = make(opts.nTrain, 0);
  const test = make(opts.nTest, 1000);
  const write = (name: string, bytes: Buffer) => fs.writeFileSync(path.join(dir, opts.gzip ? `${name}.gz` : name), opts.gzip ? zlib.gzipSync(bytes) : bytes);
  write('train-images-idx3-ubyte', idxBytes([opts.nTrain, 28, 28], train.x));
  write('train-labels-idx1-ubyte', idxBytes([opts.nTrain], Uint8Array.from(train.y)));
  write('t10k-images-idx3-ubyte', idxBytes([opts.nTest, 28, 28], test.x));
  write('t10k-labels-idx1-ubyte', idxBytes([opts.nTest], Uint8Array.from(test.y)));
  return {dir, train, test};
}

export interface CifarRecord {
  /** CIFAR-10: [label]; CIFAR-100: [coarse, fine]. */
  labels: number[];
  /** 3072 bytes, channel-planar as in the files. */
  planar: Uint8Array;
}

/** Deterministic records; record r of file `fileIndex`. */
export function cifarRecords(count: number, fileIndex: number, labelBytes: 1 | 2): CifarRecord[] {
  return Array.from({length: count}, (_, r) => {
    const planar = new Uint8Array(3072);
    // Channels get different ranges so that per-channel statistics differ.
    for (let k = 0; k < 3072; k++) planar[k] = Math.floor((((fileIndex * 53 + r * 29 + k * 7) % 256) * (Math.floor(k / 1024) + 1)) / 3);
    const labels = labelBytes === 1 ? [(fileIndex + r) % 10] : [(fileIndex + 3 * r) % 20, (fileIndex * 7 + 11 * r) % 100];
    return {labels, planar};
  });
}

export function cifarBytes(records: CifarRecord[]): Buffer {
  return Buffer.concat(records.map((r) => Buffer.concat([Buffer.from(r.labels), Buffer.from(r.planar)])));
}

/** Writes cifar-10-batches-bin/ under `root` (n records per file); returns the records per file name. */
export function writeCifar10(root: string, n: number): Map<string, CifarRecord[]> {
  const dir = path.join(root, 'cifar-10-batches-bin');
  fs.mkdirSync(dir, {recursive: true});
  const files = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'];
  const out = new Map<string, CifarRecord[]>();
  files.forEach((f, i) => {
    const recs = cifarRecords(n, i, 1);
    out.set(f, recs);
    fs.writeFileSync(path.join(dir, f), cifarBytes(recs));
  });
  fs.writeFileSync(path.join(dir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
  return out;
}

/** Writes cifar-100-binary/ under `root`. */
export function writeCifar100(root: string, nTrain: number, nTest: number): Map<string, CifarRecord[]> {
  const dir = path.join(root, 'cifar-100-binary');
  fs.mkdirSync(dir, {recursive: true});
  const out = new Map<string, CifarRecord[]>();
  out.set('train.bin', cifarRecords(nTrain, 0, 2));
  out.set('test.bin', cifarRecords(nTest, 1, 2));
  for (const [f, recs] of out) fs.writeFileSync(path.join(dir, f), cifarBytes(recs));
  fs.writeFileSync(path.join(dir, 'fine_label_names.txt'), 'apple\n');
  return out;
}
