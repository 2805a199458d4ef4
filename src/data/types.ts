/**
 * Datasets as the loaders read them, before normalisation: what the synthetic, IDX and CIFAR loaders
 * return and loadDataset (dataset.ts) normalises. A module of its own so that the loaders and
 * dataset.ts do not import each other.
 */
import type {InputShape} from '../models/types';

/** Images as stored (bytes 0..255 for files, floats for synthetic), before normalisation. */
export interface RawImages {
  /** NHWC. */
  x: Uint8Array | Float32Array;
  y: Int32Array;
  n: number;
}

export interface RawDataset {
  shape: InputShape;
  classes: number;
  train: RawImages;
  test: RawImages;
}
