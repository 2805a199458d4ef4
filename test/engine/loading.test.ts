/**
 * How the native engine loads: the fallback when the addon is missing or broken (one clear warning, the
 * reference engine runs), and loading in several worker threads at once, each with its own thread count.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {Worker} from 'node:worker_threads';
import {nativeSkipReason} from './backend';

const engineModule = path.resolve(__dirname, '..', '..', 'src', 'engine', 'index.js');

/** initEngine('native-cpu') in a fresh process with the given addon path; returns its EngineInfo and stderr. */
function initInChild(addon: string): {info: {name: string; requested: string; warning?: string}; stderr: string} {
  const script = `require(${JSON.stringify(engineModule)}).initEngine('native-cpu', 2)` +
    '.then((i) => { process.stdout.write(JSON.stringify(i)); }, (e) => { console.error(e.stack); process.exit(3); })';
  const r = spawnSync(process.execPath, ['-e', script], {encoding: 'utf8', env: {...process.env, ABLATE_NATIVE_ADDON: addon}});
  assert.equal(r.status, 0, r.stderr);
  return {info: JSON.parse(r.stdout), stderr: r.stderr};
}

test('a missing addon falls back to tfjs-cpu with a warning that says what to install', () => {
  const {info} = initInChild(path.join(os.tmpdir(), 'no-such-dir', 'ablate_native.node'));
  assert.equal(info.requested, 'native-cpu');
  assert.equal(info.name, 'tfjs-cpu');
  assert.match(info.warning ?? '', /native-cpu engine unavailable/);
  assert.match(info.warning ?? '', /not built/);
  assert.match(info.warning ?? '', /libdnnl-dev/);
});

test('an addon that cannot load falls back the same way and names the loader error', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-addon-'));
  const bogus = path.join(dir, 'ablate_native.node');
  fs.writeFileSync(bogus, 'not a shared object');
  try {
    const {info} = initInChild(bogus);
    assert.equal(info.name, 'tfjs-cpu');
    assert.match(info.warning ?? '', /failed to load/);
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
});

test('the built addon is what native-cpu runs on', {skip: nativeSkipReason()}, () => {
  const {info} = initInChild(path.resolve(__dirname, '..', '..', '..', 'native', 'build', 'Release', 'ablate_native.node'));
  assert.equal(info.name, 'native-cpu');
  assert.equal(info.warning, undefined);
});

test('worker threads each load the addon with their own thread count and get the same results', {skip: nativeSkipReason()}, async () => {
  const nativeModule = path.resolve(__dirname, '..', '..', 'src', 'engine', 'native.js');
  const code = `
    const {parentPort, workerData} = require('node:worker_threads');
    const tf = require('@tensorflow/tfjs-core');
    tf.env().set('PROD', true);
    require('@tensorflow/tfjs-backend-cpu');
    const native = require(${JSON.stringify(nativeModule)});
    tf.setBackend('cpu').then(() => {
      const r = native.installNativeKernels(workerData.threads);
      if (!r.ok) throw new Error(r.reason);
      const x = tf.randomNormal([4, 16, 16, 8], 0, 1, 'float32', 1);
      const f = tf.randomNormal([3, 3, 8, 16], 0, 1, 'float32', 2);
      let y;
      for (let i = 0; i < 20; i++) { if (y) y.dispose(); y = tf.conv2d(x, f, 1, 1); }
      const info = native.nativeInfo();
      parentPort.postMessage({threads: info.threads, omp: info.ompMaxThreads, y: Array.from(y.dataSync())});
    });`;
  const run = (threads: number) => new Promise<{threads: number; omp: number; y: number[]}>((resolve, reject) => {
    const w = new Worker(code, {eval: true, workerData: {threads}});
    w.once('message', resolve);
    w.once('error', reject);
  });
  const [one, two] = await Promise.all([run(1), run(2)]);
  assert.equal(one.threads, 1);
  assert.equal(one.omp, 1);
  assert.equal(two.threads, 2);
  assert.equal(two.omp, 2);
  assert.equal(one.y.length, 4 * 16 * 16 * 16);
  let worst = 0;
  for (let i = 0; i < one.y.length; i++) worst = Math.max(worst, Math.abs(one.y[i] - two.y[i]));
  assert.ok(worst < 1e-4, `results differ between workers by ${worst}`);
});

test('the install-time build never fails and says in one line what is missing', () => {
  const script = path.resolve(__dirname, '..', '..', '..', 'scripts', 'build-native.js');
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ABLATE_SKIP_NATIVE: '1'}, /not built \(ABLATE_SKIP_NATIVE is set\)/],
    [{CXX: path.join(os.tmpdir(), 'no-such-compiler')}, /not built: no C\+\+ compiler .* \(apt-get install g\+\+ make libdnnl-dev/],
  ];
  for (const [env, expected] of cases) {
    const r = spawnSync(process.execPath, [script], {encoding: 'utf8', env: {...process.env, ...env}});
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1, r.stdout);
    assert.match(lines[0], expected);
  }
});

test('kernels are chosen without timing unless autotune is asked for, and EngineInfo records which', {skip: nativeSkipReason()}, () => {
  const run = (autotune: boolean) => {
    const script = `const tf = require('@tensorflow/tfjs-core');
      require(${JSON.stringify(engineModule)}).initEngine('native-cpu', 1, {autotune: ${autotune}}).then((info) => {
        const y = tf.conv2d(tf.ones([2, 8, 8, 16]), tf.ones([3, 3, 16, 16]), 1, 1);
        y.dataSync();
        process.stdout.write(JSON.stringify(info));
      }, (e) => { console.error(e.stack); process.exit(3); })`;
    const r = spawnSync(process.execPath, ['-e', script], {encoding: 'utf8', env: {...process.env, ABLATE_NATIVE_TUNE_LOG: '1'}});
    assert.equal(r.status, 0, r.stderr);
    return {info: JSON.parse(r.stdout) as {name: string; autotune: boolean; native?: {dnnl: string; isa: string}}, timed: (r.stderr.match(/ablate-native tune/g) ?? []).length};
  };
  const plain = run(false);
  assert.equal(plain.info.name, 'native-cpu');
  assert.equal(plain.info.autotune, false);
  assert.equal(plain.timed, 0, 'no candidate was timed');
  assert.match(plain.info.native?.dnnl ?? '', /^\d+\.\d+\.\d+$/);
  assert.ok(plain.info.native?.isa);
  const tuned = run(true);
  assert.equal(tuned.info.autotune, true);
  assert.ok(tuned.timed > 0, 'candidates were timed');
});
