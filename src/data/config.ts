/**
 * The `dataset:` section of a study file, and what can be known about a dataset without reading
 * its files (shape, classes, split sizes), which `ablate plan` needs for parameter and MAC counts.
 */
import {z} from 'zod';
import {UsageError} from '../errors';
import type {InputShape} from '../models/types';

export const DATASET_NAMES = ['synthetic', 'fashion-mnist', 'mnist', 'cifar10', 'cifar100'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

/** Where Debian's `dataset-fashion-mnist` package installs the IDX files. */
export const FASHION_MNIST_DEFAULT_PATH = '/usr/share/datasets/fashion-mnist';

/** The four files of an IDX dataset (MNIST layout); each may also end in `.gz`. */
export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** Largest split the synthetic generator will build: 2^28 floats (1 GiB of Float32Array). */
export const SYNTHETIC_MAX_FLOATS = 2 ** 28;
/** Default synthetic sizes, capped so that one split stays within 2^24 floats (64 MiB) by default. */
const SYNTHETIC_DEFAULT_TRAIN = 1024;
const SYNTHETIC_DEFAULT_TEST = 256;
const SYNTHETIC_DEFAULT_FLOATS = 2 ** 24;
const SYNTHETIC_DEFAULT_IMAGE: [number, number, number] = [32, 32, 3];
const SYNTHETIC_DEFAULT_CLASSES = 10;

interface KnownDataset {
  shape: InputShape;
  classes: number;
  train: number;
  test: number;
  files: string;
  source: string;
}

/** Published sizes of the file-backed datasets. */
const KNOWN: Record<Exclude<DatasetName, 'synthetic'>, KnownDataset> = {
  'fashion-mnist': {
    shape: {height: 28, width: 28, channels: 1},
    classes: 10,
    train: 60000,
    test: 10000,
    files: Object.values(IDX_FILES).map((f) => `${f}[.gz]`).join(', '),
    source: '`apt-get install dataset-fashion-mnist` (Debian), or https://github.com/zalandoresearch/fashion-mnist',
  },
  mnist: {
    shape: {height: 28, width: 28, channels: 1},
    classes: 10,
    train: 60000,
    test: 10000,
    files: Object.values(IDX_FILES).map((f) => `${f}[.gz]`).join(', '),
    source: 'https://yann.lecun.com/exdb/mnist/ (there is no Debian package)',
  },
  cifar10: {
    shape: {height: 32, width: 32, channels: 3},
    classes: 10,
    train: 50000,
    test: 10000,
    files: 'data_batch_1.bin .. data_batch_5.bin and test_batch.bin, or cifar-10-binary.tar.gz itself',
    source: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
  },
  cifar100: {
    shape: {height: 32, width: 32, channels: 3},
    classes: 100,
    train: 50000,
    test: 10000,
    files: 'train.bin and test.bin, or cifar-100-binary.tar.gz itself',
    source: 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz',
  },
};

/** Files a dataset reads and where to get them; used in error messages. */
export function datasetSource(name: Exclude<DatasetName, 'synthetic'>): {files: string; source: string} {
  return {files: KNOWN[name].files, source: KNOWN[name].source};
}

const positiveInt = (what: string) =>
  z.number({invalid_type_error: `${what} must be a number`}).int(`${what} must be a whole number`).min(1, `${what} must be at least 1`);

export const augmentSchema = z
  .object({
    /** Zero pixels added on each side before a random crop back to the original size (He et al. 2016 §4.2: 4). */
    crop_padding: z.number().int('crop_padding must be a whole number').min(0, 'crop_padding must be >= 0').default(0),
    /** Mirror each image left-right with probability 1/2. */
    flip: z.boolean().default(false),
  })
  .strict();

const baseSchema = z
  .object({
    name: z.enum(DATASET_NAMES),
    path: z.string().min(1, 'path must not be empty').optional(),
    image: z.tuple([positiveInt('image height'), positiveInt('image width'), positiveInt('image channels')]).optional(),
    classes: positiveInt('classes').min(2, 'classes must be at least 2').optional(),
    train_size: positiveInt('train_size').optional(),
    test_size: positiveInt('test_size').optional(),
    labels: z.enum(['fine', 'coarse']).optional(),
    normalize: z.boolean().default(true),
    augment: augmentSchema.optional(),
  })
  .strict();

/**
 * zod schema of the `dataset:` section. Options that do not apply to the chosen dataset are
 * errors at their own key path (e.g. `image` with fashion-mnist), as are sizes beyond what the
 * dataset has.
 *
 * Subsets (`train_size`, `test_size`) are the FIRST N examples of each split, in file order:
 * deterministic, independent of the trial seed, so every trial of a sweep sees the same images.
 * (The official Fashion-MNIST, MNIST and CIFAR files are already in random class order.)
 */
export const datasetConfigSchema = baseSchema.superRefine((cfg, ctx) => {
  const issue = (key: string, message: string) => ctx.addIssue({code: z.ZodIssueCode.custom, path: [key], message});
  if (cfg.name === 'synthetic') {
    if (cfg.path !== undefined) issue('path', 'synthetic data is generated in memory and reads no files; remove path');
    if (cfg.labels !== undefined) issue('labels', 'labels (fine/coarse) applies only to cifar100');
    const [h, w, c] = cfg.image ?? SYNTHETIC_DEFAULT_IMAGE;
    const px = h * w * c;
    for (const key of ['train_size', 'test_size'] as const) {
      const n = cfg[key];
      if (n !== undefined && n * px > SYNTHETIC_MAX_FLOATS) {
        issue(
          key,
          `${key}=${n} of ${h}x${w}x${c} images needs ${((n * px * 4) / 2 ** 30).toFixed(1)} GiB; ` +
            `at most ${Math.floor(SYNTHETIC_MAX_FLOATS / px)} images of this shape (1 GiB) are allowed`,
        );
      }
    }
  } else {
    const known = KNOWN[cfg.name];
    if (cfg.image !== undefined) {
      const {height, width, channels} = known.shape;
      issue('image', `image applies only to synthetic data; ${cfg.name} images are ${height}x${width}x${channels}`);
    }
    if (cfg.classes !== undefined) issue('classes', `classes applies only to synthetic data; ${cfg.name} has ${cfg.name === 'cifar100' ? '100 fine or 20 coarse' : known.classes} classes`);
    if (cfg.labels !== undefined && cfg.name !== 'cifar100') issue('labels', 'labels (fine/coarse) applies only to cifar100');
    if (cfg.train_size !== undefined && cfg.train_size > known.train) {
      issue('train_size', `${cfg.name} has ${known.train} training images; received train_size=${cfg.train_size}`);
    }
    if (cfg.test_size !== undefined && cfg.test_size > known.test) {
      issue('test_size', `${cfg.name} has ${known.test} test images; received test_size=${cfg.test_size}`);
    }
    if (cfg.path === undefined && cfg.name !== 'fashion-mnist') {
      issue('path', `${cfg.name} has no default location: set path to a folder with ${known.files}; get them from ${known.source}`);
    }
  }
  if (cfg.augment && cfg.augment.crop_padding > 0) {
    const [h, w] = cfg.name === 'synthetic' ? (cfg.image ?? SYNTHETIC_DEFAULT_IMAGE) : [KNOWN[cfg.name].shape.height, KNOWN[cfg.name].shape.width];
    if (cfg.augment.crop_padding > Math.min(h, w)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['augment', 'crop_padding'],
        message: `crop_padding=${cfg.augment.crop_padding} is larger than the ${h}x${w} image; CIFAR practice is 4`,
      });
    }
  }
});

/** The validated `dataset:` section (defaults applied: `normalize`, `augment.*`). */
export type DatasetConfig = z.output<typeof datasetConfigSchema>;
/** What a study file (or code) may write: `normalize` and augment fields may be left out. */
export type DatasetConfigInput = z.input<typeof datasetConfigSchema>;
export type AugmentConfig = z.output<typeof augmentSchema>;

/**
 * Validates a dataset section given in code (study files are validated by the config loader,
 * which reports positions). Throws UsageError listing every problem.
 */
export function parseDatasetConfig(cfg: DatasetConfigInput | DatasetConfig): DatasetConfig {
  const r = datasetConfigSchema.safeParse(cfg);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `dataset${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('')}: ${i.message}`);
  throw new UsageError(lines.join('\n'), {hint: 'fix the dataset section of the study file'});
}

export interface DatasetInfo {
  shape: InputShape;
  classes: number;
  /** Images in the training split that will be used (after `train_size`). */
  trainSize: number;
  testSize: number;
}

/**
 * Shape, class count and split sizes, without reading any file. For file-backed datasets the
 * sizes are the published ones (capped by train_size/test_size); a folder holding fewer records
 * than published (e.g. a test fixture) yields smaller splits from `loadDataset`.
 */
export function datasetInfo(input: DatasetConfigInput | DatasetConfig): DatasetInfo {
  const cfg = parseDatasetConfig(input);
  if (cfg.name === 'synthetic') {
    const [height, width, channels] = cfg.image ?? SYNTHETIC_DEFAULT_IMAGE;
    const px = height * width * channels;
    // Defaults shrink for large images (224x224x3: 111 train, 55 test) to keep memory sane.
    const trainSize = cfg.train_size ?? Math.max(1, Math.min(SYNTHETIC_DEFAULT_TRAIN, Math.floor(SYNTHETIC_DEFAULT_FLOATS / px)));
    const testSize = cfg.test_size ?? Math.max(1, Math.min(SYNTHETIC_DEFAULT_TEST, Math.floor(SYNTHETIC_DEFAULT_FLOATS / 2 / px)));
    return {shape: {height, width, channels}, classes: cfg.classes ?? SYNTHETIC_DEFAULT_CLASSES, trainSize, testSize};
  }
  const known = KNOWN[cfg.name];
  const classes = cfg.name === 'cifar100' && cfg.labels === 'coarse' ? 20 : known.classes;
  return {
    shape: {...known.shape},
    classes,
    trainSize: Math.min(cfg.train_size ?? known.train, known.train),
    testSize: Math.min(cfg.test_size ?? known.test, known.test),
  };
}
