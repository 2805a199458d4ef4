/**
 * CIFAR-10 and CIFAR-100, binary version (Krizhevsky 2009; https://www.cs.toronto.edu/~kriz/cifar.html).
 *
 * CIFAR-10: data_batch_1..5.bin and test_batch.bin, records of 1 label byte + 3072 pixel bytes.
 * CIFAR-100: train.bin and test.bin, records of 1 coarse label byte, 1 fine label byte + 3072.
 * Pixels are channel-planar (1024 red, 1024 green, 1024 blue, rows top to bottom), converted
 * here to NHWC.
 *
 * `dataset.path` may name the folder holding the .bin files, the folder the archive unpacks
 * into's parent, the official .tar.gz itself (read in memory, never unpacked to disk), or a
 * folder holding that .tar.gz.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type {DatasetConfig} from './config';
import type {RawDataset, RawImages} from './types';
import {corrupt, findFile, missing, readDataFile} from './files';
import {TarFormatError, readTar} from './tar';

type CifarName = 'cifar10' | 'cifar100';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const PIXELS = 3 * PLANE;

interface Layout {
  train: string[];
  test: string;
  /** Folder the official archive unpacks into. */
  folder: string;
  archive: string;
  labelBytes: number;
}

const LAYOUT: Record<CifarName, Layout> = {
  cifar10: {
    train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
    test: 'test_batch.bin',
    folder: 'cifar-10-batches-bin',
    archive: 'cifar-10-binary.tar.gz',
    labelBytes: 1,
  },
  cifar100: {
    train: ['train.bin'],
    test: 'test.bin',
    folder: 'cifar-100-binary',
    archive: 'cifar-100-binary.tar.gz',
    labelBytes: 2,
  },
};

/** A named source of bytes: a file on disk or a member of an archive. */
interface Member {
  where: string;
  bytes: () => Uint8Array;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function fromArchive(name: CifarName, archive: string): Map<string, Member> {
  const layout = LAYOUT[name];
  let entries;
  try {
    entries = readTar(readDataFile(name, archive));
  } catch (e) {
    if (e instanceof TarFormatError) throw corrupt(name, `${archive} is not a valid tar archive: ${e.message}`);
    throw e;
  }
  const wanted = new Set([...layout.train, layout.test]);
  const found = new Map<string, Member>();
  for (const entry of entries) {
    const base = path.posix.basename(entry.name);
    if (wanted.has(base) && !found.has(base)) found.set(base, {where: `${archive}:${entry.name}`, bytes: () => entry.data});
  }
  for (const f of [...layout.train, layout.test]) {
    if (!found.has(f)) {
      throw corrupt(name, `${archive} holds no ${f} (found ${entries.length} files${entries.length ? `: ${entries.slice(0, 5).map((e) => e.name).join(', ')}${entries.length > 5 ? ', ...' : ''}` : ''}); is it the binary version, ${layout.archive}?`);
    }
  }
  return found;
}

/** Which form `p` is in: the archive file, or the folder holding the .bin files (all checked to exist). */
export function locateCifar(name: CifarName, p: string): {archive: string} | {dir: string} {
  const layout = LAYOUT[name];
  const files = [...layout.train, layout.test];
  const folder = (dir: string) => {
    for (const f of files) if (!isFile(path.join(dir, f))) throw missing(name, `${f} not found in ${dir} (expected ${files.join(', ')})`);
    return {dir};
  };
  if (isFile(p)) return {archive: p};
  if (!isDir(p)) throw missing(name, `${p} does not exist`);
  if (files.some((f) => isFile(path.join(p, f)))) return folder(p);
  if (isDir(path.join(p, layout.folder))) return folder(path.join(p, layout.folder));
  const archive = findFile(p, [layout.archive, layout.archive.replace(/\.tar\.gz$/, '.tar')]);
  if (archive) return {archive};
  throw missing(name, `${p} holds neither ${files.join(', ')} nor a ${layout.folder} folder nor ${layout.archive}`);
}

function locate(name: CifarName, p: string): Map<string, Member> {
  const where = locateCifar(name, p);
  if ('archive' in where) return fromArchive(name, where.archive);
  const found = new Map<string, Member>();
  for (const f of [...LAYOUT[name].train, LAYOUT[name].test]) {
    const file = path.join(where.dir, f);
    found.set(f, {where: file, bytes: () => readDataFile(name, file)});
  }
  return found;
}

/** Parses the records of one .bin file; `labelIndex` picks the label byte (CIFAR-100: 0 coarse, 1 fine). */
function parseRecords(name: CifarName, m: Member, labelIndex: number): RawImages {
  const layout = LAYOUT[name];
  const bytes = m.bytes();
  const record = layout.labelBytes + PIXELS;
  const labelDesc = layout.labelBytes === 1 ? '1 label byte' : '2 label bytes (coarse, fine)';
  if (bytes.length === 0) throw corrupt(name, `${m.where} is empty`);
  if (bytes.length % record !== 0) {
    throw corrupt(
      name,
      `${m.where} is truncated or corrupt: ${bytes.length} bytes is not a whole number of ${record}-byte records (${labelDesc} + ${PIXELS} pixel bytes); ` +
        `${Math.floor(bytes.length / record)} records and ${bytes.length % record} bytes left over`,
    );
  }
  const n = bytes.length / record;
  const x = new Uint8Array(n * PIXELS);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const off = i * record;
    // Both label bytes of CIFAR-100 are checked, whichever is used: either out of range means damage.
    for (let b = 0; b < layout.labelBytes; b++) {
      const limit = name === 'cifar10' ? 10 : b === 0 ? 20 : 100;
      if (bytes[off + b] >= limit) {
        const which = name === 'cifar100' ? (b === 0 ? 'coarse label' : 'fine label') : 'label';
        throw corrupt(name, `${m.where}: record ${i} has ${which} ${bytes[off + b]}, outside 0..${limit - 1}; the file is corrupt or not ${name}`);
      }
    }
    y[i] = bytes[off + labelIndex];
    const src = off + layout.labelBytes;
    const dst = i * PIXELS;
    for (let p = 0; p < PLANE; p++) {
      x[dst + 3 * p] = bytes[src + p];
      x[dst + 3 * p + 1] = bytes[src + PLANE + p];
      x[dst + 3 * p + 2] = bytes[src + 2 * PLANE + p];
    }
  }
  return {x, y, n};
}

function concat(parts: RawImages[]): RawImages {
  if (parts.length === 1) return parts[0];
  const n = parts.reduce((a, p) => a + p.n, 0);
  const x = new Uint8Array(n * PIXELS);
  const y = new Int32Array(n);
  let i = 0;
  for (const p of parts) {
    x.set(p.x, i * PIXELS);
    y.set(p.y, i);
    i += p.n;
  }
  return {x, y, n};
}

/** Reads CIFAR-10 or CIFAR-100 (fine labels unless `labels: coarse`) from `p`. */
export function loadCifarDataset(cfg: DatasetConfig & {name: CifarName}, p: string): RawDataset {
  const layout = LAYOUT[cfg.name];
  const members = locate(cfg.name, p);
  const coarse = cfg.name === 'cifar100' && cfg.labels === 'coarse';
  const classes = cfg.name === 'cifar10' ? 10 : coarse ? 20 : 100;
  const labelIndex = cfg.name === 'cifar10' || coarse ? 0 : 1;
  const train = concat(layout.train.map((f) => parseRecords(cfg.name, members.get(f)!, labelIndex)));
  const test = parseRecords(cfg.name, members.get(layout.test)!, labelIndex);
  return {shape: {height: SIDE, width: SIDE, channels: 3}, classes, train, test};
}
