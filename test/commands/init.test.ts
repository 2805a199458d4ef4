/** `ablate init [DIR]`: a commented study to start from, valid as written, never overwriting one. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {test} from 'node:test';
import {loadStudy} from '../../src/experiments/config';
import {cli, tmpDir} from '../helpers';

test('init writes a commented, valid study named after its folder, which plan expands', () => {
  const dir = tmpDir();
  const r = cli(['init', 'Wide Nets'], {cwd: dir});
  assert.equal(r.code, 0, r.stderr);
  const file = path.join(dir, 'Wide Nets', 'study.yaml');
  assert.match(r.stdout, /^wrote Wide Nets\/study\.yaml \(study wide-nets\)\nnext: ablate plan "Wide Nets\/study\.yaml", then ablate run "Wide Nets\/study\.yaml"/);
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(text.split('\n').filter((l) => l.trimStart().startsWith('#')).length >= 15, 'commented');
  const study = loadStudy(file);
  assert.equal(study.config.name, 'wide-nets');
  const plan = cli(['plan', file, '--json'], {cwd: dir});
  assert.equal(plan.code, 0, plan.stderr);
  assert.equal((JSON.parse(plan.stdout) as {trials: unknown[]}).trials.length, 12);
});

test('init refuses to overwrite study.yaml (exit 2, file unchanged) unless --force', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'study.yaml');
  fs.writeFileSync(file, 'name: mine\n');
  const r = cli(['init'], {cwd: dir});
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'error: study.yaml exists; nothing was written\nTry this: edit it, choose another folder (ablate init DIR), or overwrite it with --force\n');
  assert.equal(fs.readFileSync(file, 'utf8'), 'name: mine\n');
  const forced = cli(['init', '--force', '--json'], {cwd: dir});
  assert.equal(forced.code, 0, forced.stderr);
  assert.deepEqual(JSON.parse(forced.stdout), {file: 'study.yaml', name: path.basename(dir).toLowerCase().replace(/[^a-z0-9._-]+/g, '-')});
  assert.match(fs.readFileSync(file, 'utf8'), /^# A study to start from/);
});
