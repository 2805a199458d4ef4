/** `ablate engines`, engine auto, and the torch engine through the CLI: clear errors, no TensorFlow.js needed. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {test} from 'node:test';
import Database from 'better-sqlite3';
import {cli, tinyStudy, tmpDir, writeFile} from '../helpers';
import {NO_TORCH} from '../engine/torch-helpers';

test('ablate engines lists every engine with available, version and device, and what auto picks', () => {
  const r = cli(['engines', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {engines: {name: string; available: boolean; version: string | null; device: string | null; note: string}[]; auto: {engine: string; reason: string}};
  assert.deepEqual(out.engines.map((e) => e.name), ['native-cpu', 'torch', 'tfjs-cpu', 'tfjs-node', 'tfjs-node-gpu']);
  const tfjsCpu = out.engines.find((e) => e.name === 'tfjs-cpu')!;
  assert.ok(tfjsCpu.available && /^tfjs \d/.test(tfjsCpu.version!));
  for (const e of out.engines) assert.ok(e.available ? e.version && e.device : e.note.length > 0, JSON.stringify(e));
  assert.ok(['torch', 'native-cpu'].includes(out.auto.engine) && out.auto.reason.length > 0);
  const missing = cli(['engines', '--json'], {env: {ABLATE_PYTHON: '/nonexistent/python3'}});
  const torch = (JSON.parse(missing.stdout) as typeof out).engines.find((e) => e.name === 'torch')!;
  assert.deepEqual([torch.available, torch.note.startsWith('no Python at /nonexistent/python3')], [false, true]);
});

test('plan says which engine runs and why', () => {
  const dir = tmpDir();
  const study = tinyStudy(dir, 'plan');
  const r = cli(['plan', study]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /engine (native-cpu \(auto: no NVIDIA GPU driver on this machine\)|torch \(auto: CUDA GPU .*\))/);
  assert.match(cli(['plan', study, '--engine', 'tfjs-cpu']).stdout, /engine tfjs-cpu \(chosen with --engine\)/);
});

test('engine torch without a usable Python: one environment error, exit 1, nothing written', () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const r = cli(['run', tinyStudy(dir, 'nopy'), '--engine', 'torch', '--db', db], {env: {ABLATE_PYTHON: '/nonexistent/python3'}});
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: engine torch cannot run: no Python at \/nonexistent\/python3\nTry this: pip install torch numpy/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(fs.existsSync(db), false);
});

test('train.precision bf16 on tfjs-cpu is refused before anything runs', () => {
  const dir = tmpDir();
  const study = writeFile(dir, 'bf.yaml', 'name: bf\ndataset: {name: synthetic, image: [8, 8, 3], classes: 4, train_size: 64, test_size: 32}\ntrain: {precision: bf16, batch_size: 16}\nresources: {engine: tfjs-cpu}\n');
  const r = cli(['plan', study]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /train\.precision bf16 needs the native-cpu or torch engine; this run uses tfjs-cpu/);
});

test('ablate run --engine torch through the orchestrator, with TensorFlow.js unloadable: every trial done, every epoch stored', {skip: NO_TORCH}, () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  // Any attempt to load TensorFlow.js in the coordinator fails this run.
  const hook = writeFile(dir, 'no-tfjs.js', `const M = require('module'); const r = M._resolveFilename;
M._resolveFilename = function (req, ...rest) { if (req.startsWith('@tensorflow/')) throw new Error('tfjs loaded: ' + req); return r.call(this, req, ...rest); };\n`);
  const r = cli(['run', tinyStudy(dir, 'torchrun'), '--engine', 'torch', '--db', db], {env: {NODE_OPTIONS: `--require ${hook}`}, timeoutMs: 300_000});
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /engine torch \(chosen with --engine\)/);
  const c = new Database(db, {readonly: true});
  try {
    assert.deepEqual(c.prepare('SELECT status, count(*) AS n FROM trials GROUP BY status').all(), [{status: 'done', n: 2}]);
    assert.equal((c.prepare('SELECT count(*) AS n FROM epochs WHERE train_loss IS NOT NULL AND test_err IS NOT NULL').get() as {n: number}).n, 4);
  } finally {
    c.close();
  }
});
