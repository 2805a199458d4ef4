/**
 * IDX files (LeCun's MNIST format, also used by Fashion-MNIST): a big-endian header
 * `0x00 0x00 <type> <ndims>`, one uint32 per dimension, then the data. Images are type 0x08
 * (unsigned byte) with 3 dimensions [n, rows, cols] (magic 2051); labels are 0x08 with one
 * dimension [n] (magic 2049). Each file may be gzipped or not: detected by its first bytes.
 */
import {IDX_FILES, type DatasetConfig} from './config';
import {corrupt, findFile, missing, readDataFile, requireDir} from './files';
import type {RawDataset, RawImages} from './types';

type IdxDataset = 'fashion-mnist' | 'mnist';

const IMAGE_MAGIC = 2051;
const LABEL_MAGIC = 2049;
const UNSIGNED_BYTE = 0x08;
const CLASSES = 10;
const SIDE = 28;

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Parses and checks one IDX file of unsigned bytes with the expected number of dimensions. */
export function parseIdx(name: IdxDataset, file: string, bytes: Uint8Array, kind: 'images' | 'labels'): IdxArray {
  const ndims = kind === 'images' ? 3 : 1;
  const magic = kind === 'images' ? IMAGE_MAGIC : LABEL_MAGIC;
  const headerLen = 4 + 4 * ndims;
  if (bytes.length < headerLen) {
    throw corrupt(name, `${file} is truncated: ${bytes.length} bytes, shorter than the ${headerLen}-byte IDX ${kind} header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = view.getUint32(0);
  if (found !== magic) {
    const what =
      found === IMAGE_MAGIC || found === LABEL_MAGIC
        ? `an IDX ${found === IMAGE_MAGIC ? 'images' : 'labels'} file (magic ${found}) where ${kind} were expected; are the files swapped?`
        : bytes[0] !== 0 || bytes[1] !== 0
          ? `not an IDX file: wrong magic number 0x${found.toString(16).padStart(8, '0')} (expected ${magic} = 0x${magic.toString(16).padStart(8, '0')})`
          : bytes[2] !== UNSIGNED_BYTE
            ? `an IDX file of element type 0x${bytes[2].toString(16)}, expected unsigned bytes (0x08)`
            : `an IDX file with ${bytes[3]} dimensions, expected ${ndims} for ${kind}`;
    throw corrupt(name, `${file} is ${what}`);
  }
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i));
  const size = dims.reduce((a, b) => a * b, 1);
  const expected = headerLen + size;
  const desc = kind === 'images' ? `${dims[0]} images of ${dims[1]}x${dims[2]}` : `${dims[0]} labels`;
  if (bytes.length < expected) {
    throw corrupt(name, `${file} is truncated: its header announces ${desc} (${expected} bytes) but it holds ${bytes.length} bytes`);
  }
  if (bytes.length > expected) {
    throw corrupt(name, `${file} is corrupt: its header announces ${desc} (${expected} bytes) but it holds ${bytes.length} bytes, ${bytes.length - expected} too many`);
  }
  return {dims, data: bytes.subarray(headerLen)};
}

/** Locates `<base>.gz` or `<base>` in `dir`. */
function locate(name: IdxDataset, dir: string, base: string): string {
  const file = findFile(dir, [`${base}.gz`, base]);
  if (!file) throw missing(name, `${base}[.gz] not found in ${dir}`);
  return file;
}

function loadSplit(name: IdxDataset, dir: string, imagesBase: string, labelsBase: string): RawImages {
  const imagesFile = locate(name, dir, imagesBase);
  const labelsFile = locate(name, dir, labelsBase);
  const images = parseIdx(name, imagesFile, readDataFile(name, imagesFile), 'images');
  const labels = parseIdx(name, labelsFile, readDataFile(name, labelsFile), 'labels');
  const [n, rows, cols] = images.dims;
  if (rows !== SIDE || cols !== SIDE) {
    throw corrupt(name, `${imagesFile} holds ${rows}x${cols} images; ${name} images are ${SIDE}x${SIDE}`);
  }
  if (labels.dims[0] !== n) {
    throw corrupt(name, `${labelsFile} holds ${labels.dims[0]} labels but ${imagesFile} holds ${n} images; the two files must belong together`);
  }
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = labels.data[i];
    if (v >= CLASSES) throw corrupt(name, `${labelsFile}: label ${v} at index ${i} is outside 0..${CLASSES - 1}`);
    y[i] = v;
  }
  // One channel: the bytes are already NHWC.
  return {x: images.data, y, n};
}

/** Checks that the folder and its four files exist (without reading them); returns their paths. */
export function locateIdx(name: IdxDataset, dir: string): string[] {
  requireDir(name, dir);
  return Object.values(IDX_FILES).map((base) => locate(name, dir, base));
}

/** Reads the four IDX files of Fashion-MNIST or MNIST from `dir`. */
export function loadIdxDataset(cfg: DatasetConfig & {name: IdxDataset}, dir: string): RawDataset {
  requireDir(cfg.name, dir);
  return {
    shape: {height: SIDE, width: SIDE, channels: 1},
    classes: CLASSES,
    train: loadSplit(cfg.name, dir, IDX_FILES.trainImages, IDX_FILES.trainLabels),
    test: loadSplit(cfg.name, dir, IDX_FILES.testImages, IDX_FILES.testLabels),
  };
}
