/**
 * Reading dataset files: gzip detection by magic bytes, a per-process cache of decompressed
 * bytes keyed by absolute path (plus size and mtime, so a replaced file is read again), and
 * errors that name the file, what is wrong with it, and how to get a good copy.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import {EnvironmentError} from '../errors';
import {FASHION_MNIST_DEFAULT_PATH, type DatasetName} from './config';

type FileDataset = Exclude<DatasetName, 'synthetic'>;

/** How to obtain a good copy of a dataset's files. */
export function obtainHint(name: FileDataset, problem: 'missing' | 'corrupt'): string {
  switch (name) {
    case 'fashion-mnist':
      return problem === 'missing'
        ? `install Debian's package (apt-get install dataset-fashion-mnist; it puts the files in ${FASHION_MNIST_DEFAULT_PATH}), or set dataset.path to a folder with the four IDX files from https://github.com/zalandoresearch/fashion-mnist`
        : `reinstall the files (apt-get install --reinstall dataset-fashion-mnist), or download them again from https://github.com/zalandoresearch/fashion-mnist into dataset.path`;
    case 'mnist':
      return `download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz from https://yann.lecun.com/exdb/mnist/ (or a mirror) into the folder dataset.path names${problem === 'corrupt' ? ', replacing the bad file' : ''}`;
    case 'cifar10':
      return `download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz${problem === 'corrupt' ? ' again' : ''} and set dataset.path to it, or to the folder it unpacks to (cifar-10-batches-bin)`;
    case 'cifar100':
      return `download https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz${problem === 'corrupt' ? ' again' : ''} and set dataset.path to it, or to the folder it unpacks to (cifar-100-binary)`;
  }
}

export function missing(name: FileDataset, message: string): EnvironmentError {
  return new EnvironmentError(`${name}: ${message}`, {hint: obtainHint(name, 'missing')});
}

export function corrupt(name: FileDataset, message: string): EnvironmentError {
  return new EnvironmentError(`${name}: ${message}`, {hint: obtainHint(name, 'corrupt')});
}

const bytesCache = new Map<string, Uint8Array>();

export function clearFileCache(): void {
  bytesCache.clear();
}

export function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** The folder must exist and be a folder; otherwise a `missing` error. */
export function requireDir(name: FileDataset, dir: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw missing(name, `dataset folder ${dir} does not exist`);
  }
  if (!st.isDirectory()) throw missing(name, `${dir} is not a folder`);
}

/** The first of `candidates` (names inside `dir`) that exists, or undefined. */
export function findFile(dir: string, candidates: string[]): string | undefined {
  for (const c of candidates) {
    const p = `${dir}/${c}`;
    try {
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // try the next name
    }
  }
  return undefined;
}

/**
 * The bytes of `file`, gunzipped when it starts with the gzip magic (whatever its name says).
 * Cached per process; the returned array is shared: never write to it.
 */
export function readDataFile(name: FileDataset, file: string): Uint8Array {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw missing(name, `${file} does not exist`);
  }
  const key = `${file}\0${st.size}\0${st.mtimeMs}`;
  const hit = bytesCache.get(key);
  if (hit) return hit;
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (e) {
    throw new EnvironmentError(`${name}: cannot read ${file}: ${(e as Error).message}`, {hint: 'check the file permissions'});
  }
  let bytes: Uint8Array = raw;
  if (isGzip(raw)) {
    try {
      bytes = zlib.gunzipSync(raw);
    } catch (e) {
      throw corrupt(name, `${file} is not a valid gzip file (${(e as Error).message}); the download is probably truncated or damaged`);
    }
  }
  for (const k of bytesCache.keys()) if (k.startsWith(`${file}\0`)) bytesCache.delete(k);
  bytesCache.set(key, bytes);
  return bytes;
}
