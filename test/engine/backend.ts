/**
 * Test backends for the engine tests: the pure-JavaScript tfjs cpu backend (the reference, set up the way
 * the tfjs-cpu engine does it, gradients included) and switching the native kernels on and off over it.
 */
import {initEngine} from '../../src/engine';
import {installNativeKernels, loadAddon, uninstallNativeKernels} from '../../src/engine/native';
import {requires} from '../helpers';

let ready: Promise<unknown> | undefined;

export function cpuBackend(): Promise<unknown> {
  ready ??= initEngine('tfjs-cpu', 1);
  return ready;
}

/** Why the native tests cannot run here, or false when they can (for `test(..., {skip})`; a failure with ABLATE_REQUIRE_NATIVE=1). */
export function nativeSkipReason(): string | false {
  const r = loadAddon();
  return requires('NATIVE', r.ok ? false : `native addon unavailable: ${r.reason} (build it with \`node scripts/build-native.js\`)`);
}

/** Runs `fn` on the reference kernels, then on the native kernels, returning both results. */
export function onBoth<T>(fn: () => T, threads = 2): {ref: T; got: T} {
  uninstallNativeKernels();
  const ref = fn();
  const r = installNativeKernels(threads);
  if (!r.ok) throw new Error(r.reason);
  try {
    return {ref, got: fn()};
  } finally {
    uninstallNativeKernels();
  }
}
