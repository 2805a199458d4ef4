/**
 * Trial identity and provenance through the real CLI: a checkpoint belongs to one (store, sweep, trial) and is
 * never resumed by another; every trial records the engine that produced its numbers; a relative
 * dataset.path is read beside the study file.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {test} from 'node:test';
import Database from 'better-sqlite3';
import {writeIdxDataset} from '../data/fixtures';
import {cli, tinyStudy, tmpDir, writeFile} from '../helpers';
import {Store} from '../../src/store/store';

interface EpochTiming {
  key: string;
  epoch: number;
  seconds: number;
  images_per_sec: number;
}

function read<T>(db: string, sql: string, ...args: unknown[]): T[] {
  const c = new Database(db, {readonly: true});
  try {
    return c.prepare(sql).all(...args) as T[];
  } finally {
    c.close();
  }
}

/** Per-epoch wall times of a sweep: they never repeat to the last bit between two real trainings. */
function timings(db: string, sweep = 1): EpochTiming[] {
  return read<EpochTiming>(
    db,
    'SELECT t.key, e.epoch, e.seconds, e.images_per_sec FROM epochs e JOIN trials t ON t.id = e.trial_id WHERE t.sweep_id = ? ORDER BY t.key, e.epoch',
    sweep,
  );
}

function assertTrainedAgain(first: EpochTiming[], second: EpochTiming[]): void {
  assert.equal(second.length, first.length);
  assert.deepEqual(second.map((e) => [e.key, e.epoch]), first.map((e) => [e.key, e.epoch]), 'the same trials and epochs');
  for (let i = 0; i < first.length; i++) {
    assert.notEqual(second[i].seconds, first[i].seconds, `epoch ${second[i].epoch} of ${second[i].key} was trained, not copied from another run`);
  }
}

function checkpointFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, {withFileTypes: true})) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.name.endsWith('.ckpt')) out.push(path.relative(dir, path.join(d, e.name)));
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out.sort();
}

function storeIdOf(db: string): string {
  return read<{value: string}>(db, "SELECT value FROM meta WHERE key = 'store_id'")[0].value;
}

test('a fresh database beside another trains its trials instead of resuming the other one\'s checkpoints', () => {
  const dir = tmpDir();
  const study = tinyStudy(dir, 'tiny');
  const a = path.join(dir, 'a.db');
  const b = path.join(dir, 'b.db');
  const first = cli(['run', study, '--db', a]);
  assert.equal(first.code, 0, first.stderr + first.stdout);
  const second = cli(['run', study, '--db', b]);
  assert.equal(second.code, 0, second.stderr + second.stdout);
  assert.doesNotMatch(second.stderr, /checkpoint/);
  assertTrainedAgain(timings(a), timings(b));
  // Each store files its checkpoints under its own id and sweep.
  const keys = read<{key: string}>(a, 'SELECT key FROM trials ORDER BY key').map((r) => r.key);
  const files = checkpointFiles(path.join(dir, 'checkpoints'));
  const expected = [a, b].flatMap((db) => keys.map((k) => path.join(storeIdOf(db), '1', `${k}.ckpt`))).sort();
  assert.deepEqual(files, expected);
});

test('a checkpoint copied into another store\'s place is refused with a warning and an event, and the trial trains from scratch', () => {
  const dir = tmpDir();
  const study = tinyStudy(dir, 'tiny');
  const a = path.join(dir, 'a.db');
  const b = path.join(dir, 'b.db');
  assert.equal(cli(['run', study, '--db', a]).code, 0);
  new Store(b).close();
  const [ida, idb] = [storeIdOf(a), storeIdOf(b)];
  // Put a's finished checkpoints exactly where b's trials will look for theirs.
  const from = path.join(dir, 'checkpoints', ida, '1');
  const to = path.join(dir, 'checkpoints', idb, '1');
  fs.mkdirSync(to, {recursive: true});
  for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(to, f));

  const r = cli(['run', study, '--db', b]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stderr, new RegExp(`warning: checkpoint .*\\.ckpt belongs to store ${ida}, sweep 1, trial [0-9a-f]+, not to this trial \\(store ${idb}, sweep 1, trial [0-9a-f]+\\); it starts from scratch`));
  const ignored = read<{trial_id: number; message: string}>(b, "SELECT trial_id, message FROM events WHERE kind = 'checkpoint-ignored'");
  assert.equal(ignored.length, 2, 'one event per trial');
  assertTrainedAgain(timings(a), timings(b));
  assert.deepEqual(read<{status: string}>(b, 'SELECT status FROM trials').map((t) => t.status), ['done', 'done']);
});

test('another --engine on an existing sweep is refused with the fix; with --new it is a sweep of its own that trains for real', () => {
  const dir = tmpDir();
  const study = tinyStudy(dir, 'tiny');
  const db = path.join(dir, 'ablate.db');
  assert.equal(cli(['run', study, '--db', db]).code, 0);
  const refused = cli(['run', study, '--db', db, '--engine', 'tfjs-cpu']);
  assert.equal(refused.code, 2, refused.stderr + refused.stdout);
  assert.match(refused.stderr, /error: sweep "tiny" \(id 1\) trains on engine native-cpu; running it on tfjs-cpu would mix two engines in one sweep/);
  assert.match(refused.stderr, /Try this: run it with --engine native-cpu to continue it, or add --new to start a new sweep "tiny" on tfjs-cpu/);

  const other = cli(['run', study, '--db', db, '--engine', 'tfjs-cpu', '--new']);
  assert.equal(other.code, 0, other.stderr + other.stdout);
  assert.match(other.stdout, /sweep tiny \(id 2\): 2 done/);
  // Same config, same trial keys: only the sweep in the checkpoint's identity keeps them apart.
  assertTrainedAgain(timings(db, 1), timings(db, 2));
  const engines = read<{sweep_id: number; engine: string; engine_json: string}>(db, 'SELECT sweep_id, engine, engine_json FROM trials ORDER BY sweep_id, idx');
  assert.deepEqual(engines.map((e) => [e.sweep_id, e.engine]), [[1, 'native-cpu'], [1, 'native-cpu'], [2, 'tfjs-cpu'], [2, 'tfjs-cpu']]);
  const info = JSON.parse(engines[0].engine_json);
  assert.equal(info.name, 'native-cpu');
  assert.match(info.versions.oneDNN, /^\d+\.\d+/);
  assert.match(info.versions['tfjs-core'], /^\d+\.\d+/);
  // The convolution and matrix-product algorithms change the last bits of the results: they are part of the provenance.
  assert.equal(info.versions.convolutions, 'direct+winograd');
  assert.equal(info.versions['matrix products'], 'sgemm');

  // resume continues each sweep on its own engine.
  const resumed = cli(['resume', '1', '--db', db]);
  assert.equal(resumed.code, 0, resumed.stderr + resumed.stdout);
  assert.match(resumed.stdout, /sweep tiny \(id 1\)/);
});

test('show, report --format json and the HTML report say which engine (and versions) produced each number', () => {
  const dir = tmpDir();
  const study = tinyStudy(dir, 'tiny');
  const db = path.join(dir, 'ablate.db');
  assert.equal(cli(['run', study, '--db', db]).code, 0);
  const show = cli(['show', '1', '--db', db]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /^ {2}engine {4}native-cpu \(node [\d.]+, tfjs-core [\d.]+, cpu .+, oneDNN [\d.]+, .*\), 1 thread/m);
  const shown = JSON.parse(cli(['show', '1', '--db', db, '--json']).stdout);
  assert.equal(shown.trial.engine, 'native-cpu');
  assert.equal(shown.trial.engineInfo.requested, 'native-cpu');

  const report = JSON.parse(cli(['report', '--db', db, '--format', 'json']).stdout);
  assert.equal(report.sweep.engine, 'native-cpu');
  assert.equal(report.engines.length, 1);
  assert.equal(report.engines[0].engine, 'native-cpu');
  assert.equal(report.engines[0].trials, 2);
  for (const v of report.variants) {
    assert.deepEqual(v.engines, ['native-cpu']);
    for (const t of v.trials) assert.equal(t.engineInfo.versions.oneDNN, report.engines[0].versions.oneDNN);
  }
  const html = path.join(dir, 'report.html');
  const r = cli(['report', '--db', db, '--html', html]);
  assert.equal(r.code, 0, r.stderr);
  const page = fs.readFileSync(html, 'utf8');
  assert.match(page, /trained on native-cpu \(node [\d.]+, tfjs-core [\d.]+, cpu .*oneDNN [\d.]+/);
  assert.match(page, /<th[^>]*>engine<\/th>/);
});

test('a relative dataset.path is read beside the study file, by run and by resume, from any working directory', () => {
  const dir = tmpDir();
  fs.mkdirSync(path.join(dir, 'data'));
  writeIdxDataset(path.join(dir, 'data'), {nTrain: 24, nTest: 12, gzip: false});
  const study = writeFile(
    dir,
    'digits.yaml',
    `name: digits
dataset: {name: mnist, path: data}
model: {family: cifar, depth: 8, width: 0.5}
train: {epochs: 1, batch_size: 8, optimizer: {lr: 0.05}}
seeds: [1]
resources: {workers: 1}
`,
  );
  const db = path.join(dir, 'ablate.db');
  const elsewhere = tmpDir();
  const r = cli(['run', study, '--db', db], {cwd: elsewhere});
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /sweep digits \(id 1\): 1 done/);
  // resume reads the folder of the study file it was run from, even with the file gone.
  const c = new Database(db);
  c.prepare("UPDATE trials SET status = 'pending'").run();
  c.close();
  fs.rmSync(study);
  const resumed = cli(['resume', 'digits', '--db', db], {cwd: tmpDir()});
  assert.equal(resumed.code, 0, resumed.stderr + resumed.stdout);
  assert.match(resumed.stdout, /sweep digits \(id 1\): 1 done/);
});
