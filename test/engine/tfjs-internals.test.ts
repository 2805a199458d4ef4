/**
 * The native engine relies on tfjs internals: the tfjs packages are pinned to exact versions, and a tfjs
 * that lacks an internal fails at once with an EnvironmentError naming it and the tfjs version.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {test} from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import {EnvironmentError} from '../../src/errors';
import {checkTfjsInternals, tfjsIsPinned} from '../../src/engine/tfjs-internals';
import {ROOT} from '../helpers';

const PINNED = ['@tensorflow/tfjs', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu'];

test('package.json pins the tfjs packages to the exact versions installed', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {dependencies: Record<string, string>};
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {packages: Record<string, {version?: string; dependencies?: Record<string, string>}>};
  for (const name of PINNED) {
    const wanted = pkg.dependencies[name];
    assert.match(wanted, /^\d+\.\d+\.\d+$/, `${name} is pinned to an exact version, not a range (${wanted})`);
    assert.equal(lock.packages[''].dependencies?.[name], wanted, `package-lock.json agrees on ${name}`);
    assert.equal(lock.packages[`node_modules/${name}`].version, wanted, `the lock resolves ${name} to ${wanted}`);
    const installed = (JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as {version: string}).version;
    assert.equal(installed, wanted, `installed ${name}`);
  }
});

test('the pinned tfjs has every internal the native engine needs', () => {
  assert.doesNotThrow(() => checkTfjsInternals());
});

test('the run checks the internals itself unless the installed tfjs is exactly the pinned one', () => {
  assert.equal(tfjsIsPinned(), true, 'this checkout has the pinned tfjs');
  const pinned = (pkg: string) => (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {dependencies: Record<string, string>}).dependencies[pkg];
  assert.equal(tfjsIsPinned(pinned), true);
  assert.equal(tfjsIsPinned((pkg) => (pkg === '@tensorflow/tfjs-backend-cpu' ? '4.23.0' : pinned(pkg))), false, 'another backend version');
  assert.equal(tfjsIsPinned((pkg) => (pkg === '@tensorflow/tfjs-core' ? undefined : pinned(pkg))), false, 'tfjs-core missing');
});

/** The real tfjs with some parts replaced. */
function tfWith(overrides: Record<string, unknown>): typeof tf {
  return {...tf, ...overrides} as typeof tf;
}

function assertRefused(fake: typeof tf, internal: RegExp, version: string): void {
  assert.throws(() => checkTfjsInternals(fake), (e: unknown) => {
    assert.ok(e instanceof EnvironmentError, String(e));
    assert.match(e.message, internal);
    assert.ok(e.message.includes(`@tensorflow/tfjs-core ${version}`), e.message);
    assert.match(e.hint ?? '', /npm ci/);
    return true;
  });
}

test('a tfjs without a geometry helper the kernels use is refused, naming it and the version', () => {
  checkTfjsInternals(); // registers the cpu backend
  const fake = tfWith({version_core: '9.9.9', backend_util: {...tf.backend_util, computeConv2DInfo: undefined}});
  assertRefused(fake, /"backend_util\.computeConv2DInfo"/, '9.9.9');
});

test('a cpu backend without the buffer hooks the engine patches is refused', () => {
  const real = tf.findBackend('cpu') as unknown as Record<string, unknown>;
  // Own properties only: the prototype's methods (disposeData, readSync, ...) are gone.
  const fake = tfWith({version_core: '5.0.0', findBackend: () => ({...real})});
  assertRefused(fake, /"cpu backend \.disposeData"/, '5.0.0');
});

test('a tfjs whose autodiff scopes moved is refused', () => {
  const engine = tf.engine();
  const fake = tfWith({version_core: '4.99.0', engine: () => ({...engine, state: {...engine.state, gradientDepth: undefined}})});
  assertRefused(fake, /"engine\(\)\.state\.gradientDepth"/, '4.99.0');
});

test('a cpu backend missing a reference kernel the engine falls back to is refused', () => {
  const fake = tfWith({version_core: '4.23.0', getKernel: (name: string, backend: string) => (name === 'PadV2' ? undefined : tf.getKernel(name, backend))});
  assertRefused(fake, /"cpu kernel PadV2"/, '4.23.0');
});
