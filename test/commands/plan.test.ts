/** Grids too large to expand, and other bad input, through the real CLI: refused at once, exit 2, nothing written. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {test} from 'node:test';
import {cli, tmpDir, writeFile} from '../helpers';

const HEAD = `name: huge
dataset: {name: synthetic, image: [8, 8, 3], classes: 4, train_size: 64, test_size: 32}
model: {depth: 8, widen_factor: 0.25}
train: {epochs: 1, batch_size: 16}
seeds: [1, 2]
`;

/** 10 x 8 x 10 x 10 x 8 x 2 x 5 cells x 2 seeds = 1,280,000 trials: a typo'd grid. */
const HUGE = `${HEAD}sweep:
  train.optimizer.lr: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
  train.optimizer.momentum: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
  train.optimizer.weight_decay: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
  train.epochs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  train.batch_size: [1, 2, 3, 4, 5, 6, 7, 8]
  model.residual: [true, false]
  train.checkpoint_every: [1, 2, 3, 4, 5]
`;

test('plan and run refuse a grid over the trial limit at once, with the count, and write nothing', () => {
  const dir = tmpDir();
  const study = writeFile(dir, 'huge.yaml', HUGE);
  const db = path.join(dir, 'ablate.db');
  for (const verb of ['plan', 'run']) {
    const started = Date.now();
    const r = cli([verb, study, '--db', db], {timeoutMs: 60_000});
    const seconds = (Date.now() - started) / 1000;
    assert.equal(r.code, 2, `${verb}: ${r.stderr}`);
    assert.equal(
      r.stderr.split('\n')[0],
      `error: ${study}:6:1: sweep: the grid has 1,280,000 trials (10 x 8 x 10 x 10 x 8 x 2 x 5 cells x 2 seed(s)), more than the limit of 100,000; ` +
        'sweep fewer values or seeds, or raise the limit with --max-trials 1280000',
    );
    assert.equal(r.stdout, '');
    // The CLI's own start (node, oclif, modules) is most of this on a busy machine; expanding would take minutes.
    assert.ok(seconds < 15, `${verb} took ${seconds}s`);
  }
  assert.equal(fs.existsSync(db), false, 'no database');
});

test('--max-trials lowers and raises the limit', () => {
  const dir = tmpDir();
  const study = writeFile(dir, 'small.yaml', `${HEAD}sweep:\n  model.residual: [true, false]\n  train.optimizer.lr: [0.1, 0.05]\n`);
  const refused = cli(['plan', study, '--max-trials', '7']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /the grid has 8 trials \(2 x 2 cells x 2 seed\(s\)\), more than the limit of 7; sweep fewer values or seeds, or raise the limit with --max-trials 8/);
  const allowed = cli(['plan', study, '--max-trials', '8', '--json']);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.equal(JSON.parse(allowed.stdout).trials.length, 8);
  const help = cli(['plan', '--help']);
  assert.match(help.stdout, /--max-trials=<value>\s+refuse grids of more trials than this \(default 100,000\)/);
});

test('an alias bomb and a batch larger than the data exit 2 with the place and the fix, and write nothing', () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const levels = ['a: &a [x, x, x, x, x, x, x, x, x]', ...'bcdefgh'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(', ')}]`)];
  const bomb = writeFile(dir, 'bomb.yaml', `${HEAD}${levels.join('\n')}\n`);
  const r = cli(['run', bomb, '--db', db]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.split('\n')[0], `error: ${bomb}:8:8: aliases expand to more than 100 copies of anchored values (*b and the aliases inside &b); aliases of aliases multiply: write the values out, or alias only plain values`);
  assert.doesNotMatch(r.stderr, /ReferenceError|\n\s+at /);

  const batch = writeFile(dir, 'batch.yaml', HEAD.replace('batch_size: 16', 'batch_size: 100000').replace('train_size: 64', 'train_size: 256'));
  const b = cli(['run', batch, '--db', db]);
  assert.equal(b.code, 2);
  assert.equal(b.stderr.split('\n')[0], `error: ${batch}:4:20: train.batch_size: batch_size=100000 is larger than the training split (256 images), so every epoch would be one step over the whole split; use batch_size <= 256`);

  const seeds = writeFile(dir, 'seeds.yaml', HEAD.replace('seeds: [1, 2]', 'seeds: [1, 1]'));
  const s = cli(['run', seeds, '--db', db]);
  assert.equal(s.code, 2);
  assert.equal(s.stderr.split('\n')[0], `error: ${seeds}:5:12: seeds[1]: seed 1 is listed twice (also at [0]); it would run every cell twice with the same numbers: remove the repeat`);
  assert.equal(fs.existsSync(db), false, 'no database');
});
