import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import {openDb, type Db} from '../../src/store/db';
import {getStatus, renderStatus} from '../../src/report/status';
import {watch} from '../../src/report/watch';
import {openFixture, closeFixture, NOW, type Fixture} from './fixture';

let fx: Fixture;
let db: Db;
before(() => ({fx, db} = openFixture()));
after(() => closeFixture(fx, db));

test('status lists every sweep with counts per state', () => {
  const s = getStatus(db, {now: NOW});
  assert.deepEqual(s.sweeps.map((x) => x.name), ['smoke', 'depth-sweep', 'depth-sweep-b']);
  const d = s.sweeps[1];
  assert.deepEqual(d.counts, {pending: 1, running: 1, done: 14, failed: 1, diverged: 1});
  assert.equal(d.total, 18);
  assert.deepEqual(s.sweeps[0].counts, {pending: 0, running: 0, done: 8, failed: 0, diverged: 0});
  assert.equal(s.sweeps[0].problems, undefined, 'failures are listed only for one named sweep');
});

test('running trials come with their last epoch and heartbeat age', () => {
  const s = getStatus(db, {now: NOW});
  const d = s.sweeps[1];
  assert.equal(d.running.length, 1);
  const r = d.running[0];
  assert.deepEqual(r.variant, {'model.depth': 56, 'model.residual': true});
  assert.equal(r.seed, 3);
  assert.equal(r.epoch, 3);
  assert.equal(r.plannedEpochs, 6);
  assert.equal(r.heartbeatAgeMs, 1500);
  assert.ok(r.last && r.last.testErr !== null && r.last.testErr > 1 && r.last.testErr < 100, 'error in percent');
  // Remaining: 3 epochs of the running trial + 6 of the pending one.
  assert.equal(d.epochsRemaining, 9);
  assert.ok(d.etaSeconds !== null && d.etaSeconds > 9 * 19 && d.etaSeconds < 9 * 22, `eta ${d.etaSeconds}`);
  const text = renderStatus(s);
  assert.match(text, /running in depth-sweep/);
  assert.match(text, /1\.5s ago/);
  assert.match(text, /3\/6/);
});

test('status of one sweep lists its failed and diverged trials', () => {
  const s = getStatus(db, {sweep: 'depth-sweep', now: NOW});
  assert.equal(s.sweeps.length, 1);
  const problems = s.sweeps[0].problems ?? [];
  assert.deepEqual(problems.map((p) => p.status).sort(), ['diverged', 'failed']);
  const text = renderStatus(s);
  assert.match(text, /failed: Error: worker exited with code 137/);
  assert.match(text, /diverged after 4 epoch/);
});

test('watch redraws from the database until aborted, seeing new rows', async () => {
  const writer = openDb(fx.file);
  const frames: string[] = [];
  const ac = new AbortController();
  let calls = 0;
  try {
    await watch({
      interval: 50,
      tty: false,
      signal: ac.signal,
      write: (t) => frames.push(t),
      render: () => {
        calls++;
        if (calls === 2) writer.prepare("UPDATE trials SET status = 'done' WHERE status = 'running'").run();
        if (calls === 3) ac.abort();
        return renderStatus(getStatus(db, {sweep: 'depth-sweep', now: NOW}));
      },
    });
  } finally {
    writer.close();
  }
  assert.equal(frames.length, 3);
  assert.ok(frames.every((f) => f.startsWith('--- ')), 'one snapshot per interval, with a time line');
  assert.match(frames[0], /running in depth-sweep/);
  assert.doesNotMatch(frames[2], /running in depth-sweep/, 'a later frame sees the coordinator’s write');
});

test('watch on a terminal repaints in place and restores the cursor', async () => {
  const out: string[] = [];
  const ac = new AbortController();
  await watch({interval: 10, tty: true, signal: ac.signal, write: (t) => out.push(t), render: () => (ac.abort(), 'frame\n')});
  assert.equal(out[0], '\x1b[?25l');
  assert.ok(out[1].startsWith('\x1b[H\x1b[2J'));
  assert.equal(out.at(-1), '\x1b[?25h');
});
