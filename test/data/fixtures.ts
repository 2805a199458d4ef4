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
