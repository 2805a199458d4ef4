import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import {makeFixture, type Fixture} from '../report/fixture';
import {runCli} from '../report/cli';

let fx: Fixture;

before(() => {
  fx = makeFixture();
});
after(() => fx.cleanup());

test('ablate compare A B prints both sweeps side by side with differences', () => {
  const r = runCli(['compare', 'depth-sweep', 'depth-sweep-b', '--db', fx.file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /A: depth-sweep/);
  assert.match(r.stdout, /B: depth-sweep-b/);
  assert.equal(r.stdout.split('\n').filter((l) => /^│ (20|32|56) /.test(l)).length, 6);
  assert.match(r.stdout, /\+\d+\.\d\d \[[−+]?\d+\.\d\d, [−+]?\d+\.\d\d\]/);
  const json = runCli(['compare', 'depth-sweep', 'depth-sweep-b', '--db', fx.file, '--json']);
  assert.equal(json.code, 0, json.stderr);
  assert.equal(JSON.parse(json.stdout).rows.length, 6);
});

test('ablate compare with an unknown sweep exits 2', () => {
  const r = runCli(['compare', 'depth-sweep', 'nope', '--db', fx.file]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /error: no sweep named or numbered "nope"/);
});
