import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import {openDb} from '../../src/store/db';
import {makeFixture, type Fixture} from '../report/fixture';
import {runCli, startCli} from '../report/cli';

let fx: Fixture;

before(() => {
  fx = makeFixture();
});
after(() => fx.cleanup());

test('ablate status lists sweeps with counts and running trials', () => {
  const r = runCli(['status', '--db', fx.file]);
  assert.equal(r.code, 0, r.stderr);
  for (const name of ['smoke', 'depth-sweep', 'depth-sweep-b']) assert.match(r.stdout, new RegExp(`│ ${name} `));
  assert.match(r.stdout, /running in depth-sweep \(#\d+\)/);
  assert.match(r.stdout, /ago/);
});

test('ablate status SWEEP --json parses back with counts per state', () => {
  const r = runCli(['status', 'depth-sweep', '--db', fx.file, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.sweeps.length, 1);
  assert.deepEqual(doc.sweeps[0].counts, {pending: 1, running: 1, done: 14, failed: 1, diverged: 1});
  assert.equal(doc.sweeps[0].running[0].epoch, 3);
  assert.equal(doc.sweeps[0].problems.length, 2);
});

test('ablate status --watch from a second process sees a writer, and stops on Ctrl-C', async () => {
  const w = startCli(['status', 'depth-sweep', '--db', fx.file, '--watch', '--interval', '0.3']);
  try {
    await w.until((out) => /running in depth-sweep/.test(out));
    // The coordinator finishes the running trial: a later snapshot shows it.
    const db = openDb(fx.file);
    db.prepare("UPDATE trials SET status = 'done' WHERE status = 'running'").run();
    db.close();
    await w.until((out) => {
      const frames = out.split(/^--- /m).filter(Boolean);
      return frames.length >= 2 && /│ +1 │ +0 │ +15 │/.test(frames[frames.length - 1]);
    });
    w.child.kill('SIGINT');
    assert.equal(await w.exited, 0);
    assert.ok(w.stdout.split(/^--- /m).filter(Boolean).length >= 2, 'one snapshot per interval when stdout is a pipe');
  } finally {
    if (w.child.exitCode === null) w.child.kill('SIGKILL');
  }
});
