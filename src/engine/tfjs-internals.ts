/**
 * The native engine reaches below tfjs' public API: it reads and recycles the cpu backend's buffers, patches
 * the backend's disposeData/readSync, reads the autodiff engine's scope state, and reuses geometry helpers
 * of backend_util and slice_util. package.json pins the tfjs packages to the version these were written
 * against; this check runs before the kernels are installed (and before a sweep starts), so that a tfjs
 * that moved them fails at once with the missing piece named, instead of training wrongly.
 */
import * as path from 'node:path';
import type * as tfCore from '@tensorflow/tfjs-core';
import {EnvironmentError} from '../errors';
import {PACKAGE_ROOT, packageVersion} from './available';

type Tf = typeof tfCore;

/** The tfjs packages whose internals the engine uses. */
const TFJS_PACKAGES = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu'];

/**
 * Whether the installed tfjs packages are the exact versions ablate's package.json pins, the versions the
 * test suite checks these internals on. A coordinator then need not load tfjs to check them (about 0.1 s of
 * CPU, spent while its workers load tfjs themselves); each worker still checks before installing kernels.
 */
export function tfjsIsPinned(versionOf: (pkg: string) => string | undefined = packageVersion): boolean {
  let pins: Record<string, string>;
  try {
    pins = (require(path.join(PACKAGE_ROOT, 'package.json')) as {dependencies?: Record<string, string>}).dependencies ?? {};
  } catch {
    return false;
  }
  return TFJS_PACKAGES.every((pkg) => pins[pkg] !== undefined && /^\d+\.\d+\.\d+$/.test(pins[pkg]) && versionOf(pkg) === pins[pkg]);
}

/** Kernels of the cpu backend the native engine replaces and falls back to. */
export const REFERENCE_KERNELS = [
  'Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'FusedBatchNorm', 'Relu', 'AddN',
  'Add', 'Sub', 'Multiply', 'RealDiv', 'Slice', 'PadV2', 'Sum', 'Mean', 'AvgPool', 'AvgPoolGrad', 'MaxPool',
  'MaxPoolGrad', 'BatchToSpaceND', 'SplitV', 'StridedSlice', 'Unpack',
] as const;

const isFn = (v: unknown) => typeof v === 'function';

/** What the native engine needs, each as [name shown in the error, present?]. */
function probes(tf: Tf): Array<[string, () => boolean]> {
  const backend = () => tf.findBackend('cpu') as unknown as Record<string, unknown> | undefined;
  const data = () => backend()?.data as Record<string, unknown> | undefined;
  const state = () => (tf.engine() as unknown as {state?: Record<string, unknown>}).state;
  const fns = (ns: string, names: string[]): Array<[string, () => boolean]> =>
    names.map((n) => [`${ns}.${n}`, () => isFn((tf as unknown as Record<string, Record<string, unknown> | undefined>)[ns]?.[n])]);
  return [
    ['the cpu backend (@tensorflow/tfjs-backend-cpu registered as "cpu")', () => backend() !== undefined],
    ['cpu backend .data.get / .data.has', () => isFn(data()?.get) && isFn(data()?.has)],
    ['cpu backend .disposeData', () => isFn(backend()?.disposeData)],
    ['cpu backend .readSync', () => isFn(backend()?.readSync)],
    ['cpu backend .makeTensorInfo', () => isFn(backend()?.makeTensorInfo)],
    ['float32 tensor values stored as a Float32Array in the cpu backend', () => {
      const t = tf.tensor1d([1, 2], 'float32');
      try {
        return (data()?.get as (id: unknown) => {values?: unknown})?.(t.dataId)?.values instanceof Float32Array;
      } finally {
        t.dispose();
      }
    }],
    ['engine().state.gradientDepth', () => typeof state()?.gradientDepth === 'number'],
    ['engine().state.activeScope.track', () => {
      let ok = false;
      tf.tidy(() => {
        ok = Array.isArray((state()?.activeScope as {track?: unknown} | undefined)?.track);
      });
      return ok;
    }],
    ...fns('backend_util', ['computeConv2DInfo', 'computePool2DInfo', 'assertAndGetBroadcastShape', 'tupleValuesAreOne',
      'computeOutAndReduceShapes', 'expandShapeToKeepDim']),
    ...fns('slice_util', ['parseSliceParams', 'isSliceContinous', 'assertParamsValid']),
    ...fns('util', ['parseAxisParam', 'arraysEqual']),
    ...REFERENCE_KERNELS.map((k): [string, () => boolean] => [`cpu kernel ${k}`, () => tf.getKernel(k, 'cpu') !== undefined]),
  ];
}

/**
 * Throws an EnvironmentError naming the first internal the native engine needs that this tfjs lacks.
 * Loads the cpu backend (it registers itself with tfjs-core) when checking the real tfjs.
 */
export function checkTfjsInternals(given?: Tf): void {
  let tf = given;
  if (!tf) {
    tf = require('@tensorflow/tfjs-core') as Tf;
    // As the engines set it up: PROD silences tfjs' advice to install tfjs-node, which the probes would trigger.
    tf.env().set('PROD', true);
    require('@tensorflow/tfjs-backend-cpu');
  }
  const version = tf.version_core ?? 'of unknown version';
  for (const [what, present] of probes(tf)) {
    let ok: boolean;
    try {
      ok = present();
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new EnvironmentError(`the native-cpu engine needs the tfjs internal "${what}", which @tensorflow/tfjs-core ${version} does not have`, {
        hint: `install the tfjs version ablate pins in package.json (npm ci), or train with --engine tfjs-cpu`,
      });
    }
  }
}
