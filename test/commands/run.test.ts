/** `ablate run`, `plan` and `resume` through the real CLI: stdout, stderr, exit codes, and what the database holds. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {test} from 'node:test';
import Database from 'better-sqlite3';
import {spawnSync} from 'node:child_process';
import {BIN, cli, tinyStudy, tmpDir, writeFile} from '../helpers';

test('run trains every trial, report shows one row per variant, and a second run repeats nothing', () => {
  const dir = tmpDir();
  const study = tinyStudy(dir, 'tiny');
  const db = path.join(dir, 'ablate.db');
  const first = cli(['run', study, '--db', db]);
  assert.equal(first.code, 0, first.stderr + first.stdout);
  assert.match(first.stdout, /sweep tiny \(id 1\): 2 done, 0 diverged, 0 failed, 0 not finished/);
  // The engine choice is deliberate: tfjs' advice to install tfjs-node is not printed (coordinator or workers).
  assert.doesNotMatch(first.stdout + first.stderr, /looks like you are running TensorFlow\.js in Node\.js/);

  const conn = new Database(db, {readonly: true});
  const trials = conn.prepare('SELECT id, status, attempt FROM trials ORDER BY idx').all() as {id: number; status: string; attempt: number}[];
  assert.deepEqual(trials.map((t) => t.status), ['done', 'done']);
  const epochs = conn.prepare('SELECT trial_id, count(*) AS n FROM epochs GROUP BY trial_id').all() as {n: number}[];
  assert.deepEqual(epochs.map((e) => e.n), [2, 2]);
  const errs = conn.prepare('SELECT test_err FROM epochs WHERE epoch = 2 ORDER BY trial_id').all() as {test_err: number}[];
  assert.ok(errs.every((e) => e.test_err >= 0 && e.test_err <= 1));
  conn.close();

  // A pipe gets compact JSON; a terminal (a pseudo-terminal from script(1)) gets it indented; both are the same document.
  const report = cli(['report', '--db', db, '--format', 'json']);
  assert.equal(report.code, 0, report.stderr);
  assert.equal(report.stdout.indexOf('\n'), report.stdout.length - 1);
  const onTerminal = spawnSync('script', ['-qec', `"${process.execPath}" "${BIN}" report --db "${db}" --format json`, '/dev/null'], {encoding: 'utf8', env: {...process.env, NO_COLOR: '1'}});
  assert.equal(onTerminal.status, 0, onTerminal.stderr);
  assert.match(onTerminal.stdout, /^  "sweep": \{$/m);
  assert.deepEqual(JSON.parse(onTerminal.stdout.replace(/\r\n/g, '\n')), JSON.parse(report.stdout));

  const again = cli(['run', study, '--db', db]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /2 trials, 2 already finished/);
  const conn2 = new Database(db, {readonly: true});
  assert.deepEqual((conn2.prepare('SELECT attempt FROM trials').all() as {attempt: number}[]).map((t) => t.attempt), [1, 1], 'nothing ran twice');
  conn2.close();
});

test('a bad study file exits 2 with the location, no stack trace, and no database', () => {
  const dir = tmpDir();
  const study = writeFile(dir, 'bad.yaml', 'name: bad\ndataset: {name: synthetic}\ntrain: {epocs: 3}\n');
  const db = path.join(dir, 'ablate.db');
  const r = cli(['run', study, '--db', db]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n')[0], `error: ${study}:3:9: train.epocs: unknown key "epocs" (did you mean "epochs"?)`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(fs.existsSync(db), false, 'the database is not touched');
});

test('missing data stops the run before anything is written, though its workers start with the checks', () => {
  const dir = tmpDir();
  const study = writeFile(dir, 'nodata.yaml', 'name: nodata\ndataset: {name: fashion-mnist, path: /nonexistent/fmnist}\ntrain: {epochs: 1, batch_size: 16}\nresources: {workers: 2}\n');
  const db = path.join(dir, 'ablate.db');
  const t0 = Date.now();
  const r = cli(['run', study, '--db', db], {timeoutMs: 60_000});
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^error: .*\/nonexistent\/fmnist.*does not exist/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(fs.existsSync(db), false, 'the database is not touched');
  assert.ok(Date.now() - t0 < 30_000, 'the process exits without waiting on its workers');
});

test('a missing study file exits 2 and says what to give', () => {
  const r = cli(['run', 'configs/nope.yaml', '--db', path.join(tmpDir(), 'x.db')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /error: no study file at configs\/nope.yaml\nTry this: give the path of a YAML study/);
});

test('a changed study under an existing name is refused without --new, accepted with it', () => {
  const dir = tmpDir();
  const study = tinyStudy(dir, 'tiny');
  const db = path.join(dir, 'ablate.db');
  assert.equal(cli(['run', study, '--db', db]).code, 0);
  fs.writeFileSync(study, fs.readFileSync(study, 'utf8').replace('lr: 0.05', 'lr: 0.02'));
  const refused = cli(['run', study, '--db', db]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /sweep "tiny" already exists .* with a different config/);
  assert.match(refused.stderr, /Try this: run again with --new/);
  const accepted = cli(['run', study, '--db', db, '--new']);
  assert.equal(accepted.code, 0, accepted.stderr);
  assert.match(accepted.stdout, /sweep tiny \(id 2\)/);
});

test('plan --json lists every trial with params and MACs, without a database', () => {
  const dir = tmpDir();
  const r = cli(['plan', 'configs/smoke.yaml', '--json', '--db', path.join(dir, 'x.db')]);
  assert.equal(r.code, 0, r.stderr);
  const plan = JSON.parse(r.stdout);
  assert.equal(plan.trials.length, 8);
  const t = plan.trials.find((x: Record<string, unknown>) => x['model.depth'] === 8 && x['model.residual'] === true);
  // ResNet-8 option A on 8x8x3, 4 classes: stem 464 + stages 4,672 + 13,952 + 55,552 + classifier 260.
  assert.equal(t.params, 74_900);
  assert.ok(t.macs > 0);
  assert.equal(fs.existsSync(path.join(dir, 'x.db')), false);
});

test('--smoke runs the same grid shrunk, as its own sweep', () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const r = cli(['run', 'configs/depth-sweep.yaml', '--smoke', '--db', db]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /sweep depth-sweep\.smoke \(id 1\): 20 done/);
});

test('resume finishes a stored sweep from the config saved with it', () => {
  const dir = tmpDir();
  const study = tinyStudy(dir, 'tiny');
  const db = path.join(dir, 'ablate.db');
  assert.equal(cli(['run', study, '--db', db]).code, 0);
  const conn = new Database(db);
  conn.prepare("UPDATE trials SET status = 'pending' WHERE idx = 1").run();
  conn.close();
  fs.rmSync(study);
  const r = cli(['resume', 'tiny', '--db', db]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /sweep tiny \(id 1\): 2 done/);
});

test('--help teaches: summary, flags and examples', () => {
  const r = cli(['run', '--help']);
  assert.equal(r.code, 0);
  for (const s of ['USAGE', '--smoke', '--retry-failed', '--new', '--db', 'EXAMPLES', 'resumes']) assert.ok(r.stdout.includes(s), s);
});
