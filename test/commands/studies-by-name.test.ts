/** Example studies run by name from any folder; a path that exists still means that file; results go to ./results/ of the folder the user is in. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {test} from 'node:test';
import {EXAMPLE_STUDIES_DIR, exampleStudies, resolveStudyFile} from '../../src/experiments/config';
import {cli, ROOT, tmpDir, writeFile} from '../helpers';

test('the example studies are the files of configs/', () => {
  assert.equal(EXAMPLE_STUDIES_DIR, path.join(ROOT, 'configs'));
  assert.deepEqual(exampleStudies(), fs.readdirSync(path.join(ROOT, 'configs')).filter((f) => f.endsWith('.yaml')).map((f) => f.replace(/\.yaml$/, '')).sort());
  assert.ok(exampleStudies().includes('smoke') && exampleStudies().includes('depth-sweep'));
});

test('a name resolves to the example study; an existing file, even with that name, stays the file', () => {
  const dir = tmpDir();
  const cwd = process.cwd();
  try {
    process.chdir(dir);
    assert.equal(resolveStudyFile('depth-sweep'), path.join(ROOT, 'configs', 'depth-sweep.yaml'));
    assert.equal(resolveStudyFile('depth-sweep.yaml'), path.join(ROOT, 'configs', 'depth-sweep.yaml'));
    writeFile(dir, 'depth-sweep.yaml', 'name: mine\n');
    assert.equal(resolveStudyFile('depth-sweep.yaml'), 'depth-sweep.yaml');
    assert.equal(resolveStudyFile('sub/smoke.yaml'), 'sub/smoke.yaml', 'a path is never taken for a name');
    assert.equal(resolveStudyFile('nope'), 'nope');
  } finally {
    process.chdir(cwd);
  }
});

test('ablate run smoke from an empty folder trains the example study into ./results/ of that folder', () => {
  const dir = tmpDir();
  const r = cli(['run', 'smoke', '--workers', '1', '--json'], {cwd: dir, timeoutMs: 300_000});
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const result = JSON.parse(r.stdout) as {name: string; counts: Record<string, number>; exitCode: number};
  assert.deepEqual([result.name, result.counts.done, result.exitCode], ['smoke', 8, 0]);
  assert.match(r.stderr, /sweep smoke \(id 1\): 8 done/, 'progress goes to stderr when stdout carries --json');
  assert.ok(fs.existsSync(path.join(dir, 'results', 'ablate.db')));
  const status = cli(['status', '--json'], {cwd: dir});
  assert.equal(status.code, 0, status.stderr);
  assert.equal((JSON.parse(status.stdout) as {sweeps: {configPath: string}[]}).sweeps[0].configPath, path.join(ROOT, 'configs', 'smoke.yaml'));
});

test('an unknown name exits 2 and lists the example studies', () => {
  const dir = tmpDir();
  const r = cli(['plan', 'depth-swep'], {cwd: dir});
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^error: no study file at depth-swep, and no example study of that name\n/);
  assert.match(r.stderr, /Try this: .*name of an example study \(.*depth-sweep.*smoke.*\); ablate init writes one/);
  assert.equal(fs.readdirSync(dir).length, 0, 'nothing written');
});
