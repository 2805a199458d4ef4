/**
 * Datasets for ablate: the `dataset:` config section, synthetic / IDX (Fashion-MNIST, MNIST) /
 * CIFAR binary loaders, normalisation, and deterministic augmented mini-batches.
 */
export {
  DATASET_NAMES,
  FASHION_MNIST_DEFAULT_PATH,
  IDX_FILES,
  augmentSchema,
  datasetConfigSchema,
  datasetInfo,
  datasetSource,
  parseDatasetConfig,
  type AugmentConfig,
  type DatasetConfig,
  type DatasetConfigInput,
  type DatasetInfo,
  type DatasetName,
} from './config';
export {checkDatasetFiles, clearDatasetCache, isShared, loadDataset, resolveDatasetPath, type Dataset, type LoadOptions} from './dataset';
export {augmentDraw, batches, cropFlip, epochOrder, type Batch, type BatchOptions, type Split} from './batches';
export {hashSeed, makeRng, permutation, type Rng} from './rng';
export {SYNTHETIC_DATA_SEED, syntheticSplit} from './synthetic';
