/** The torch engine under the coordinator's crash handling: a killed Python worker is a crash, retried from its checkpoint. */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import {test} from 'node:test';
import Database from 'better-sqlite3';
import {NO_TORCH} from '../engine/torch-helpers';
import {cliAsync, tmpDir, writeFile} from '../helpers';

const SLOW = !process.env.ABLATE_SLOW && 'slow: set ABLATE_SLOW=1 (npm test does)';

test('kill -9 of a torch worker mid-epoch: the trial is retried from its checkpoint and every epoch is stored once', {skip: NO_TORCH || SLOW}, async () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const file = writeFile(dir, 's.yaml', `name: tcrash
dataset: {name: synthetic, image: [8, 8, 3], classes: 4, train_size: 256, test_size: 32}
model: {family: cifar, depth: 8, widen_factor: 0.5}
train: {epochs: 4, batch_size: 16, optimizer: {lr: 0.05}}
seeds: [1]
sweep:
  model.residual: [false, true]
resources: {workers: 2, engine: torch}
`);
  const run = cliAsync(['run', file, '--db', db]);
  let victim: number | undefined;
  const end = Date.now() + 240_000;
  while (victim === undefined) {
    if (Date.now() > end) throw new Error(`no running torch worker: ${run.output().stdout}`);
    await new Promise((r) => setTimeout(r, 100));
    if (!/epoch 1\/4/.test(run.output().stdout)) continue;
    const c = new Database(db, {readonly: true});
    victim = (c.prepare("SELECT pid FROM trials WHERE status = 'running' AND pid != ? LIMIT 1").get(run.child.pid) as {pid: number} | undefined)?.pid;
    c.close();
  }
  process.kill(victim, 'SIGKILL');
  const r = await run.exited;
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const c = new Database(db, {readonly: true});
  try {
    assert.deepEqual(c.prepare('SELECT status, count(*) AS n FROM trials GROUP BY status').all(), [{status: 'done', n: 2}]);
    const perTrial = c.prepare('SELECT count(*) AS n, count(DISTINCT epoch) AS d FROM epochs GROUP BY trial_id').all();
    assert.deepEqual(perTrial, [{n: 4, d: 4}, {n: 4, d: 4}]);
    const retries = c.prepare("SELECT message FROM events WHERE kind = 'retry'").all() as {message: string}[];
    assert.equal(retries.length, 1);
    assert.match(retries[0].message, /^torch worker process \d+ exited \(SIGKILL\) during the trial/);
  } finally {
    c.close();
  }
});
