import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {test} from 'node:test';
import {checkpointPath, loadCheckpoint, saveCheckpoint, type CheckpointIdentity} from '../../src/experiments/checkpoint';
import {tmpDir} from '../helpers';

const owner: CheckpointIdentity = {store: '0b6f4c1e-5d0e-4a53-9a0f-1c2d3e4f5a6b', sweep: 2, trial: 'abc123'};
const state = {epoch: 1, step: 0, history: [], tensors: new Map([['param/w', {shape: [2], data: Float32Array.from([1, 2])}]])};

test('a checkpoint is filed under its store, sweep and trial key', () => {
  assert.equal(checkpointPath('/r/checkpoints', owner), '/r/checkpoints/0b6f4c1e-5d0e-4a53-9a0f-1c2d3e4f5a6b/2/abc123.ckpt');
  const other = checkpointPath('/r/checkpoints', {...owner, sweep: 3});
  assert.notEqual(other, checkpointPath('/r/checkpoints', owner));
});

test('a checkpoint is resumed only by the trial it names; any other is ignored with the reason', () => {
  const file = path.join(tmpDir(), 'x.ckpt');
  saveCheckpoint(file, {...state, identity: owner});
  const mine = loadCheckpoint(file, owner);
  assert.equal(mine.ignored, undefined);
  assert.deepEqual(mine.state?.identity, owner);
  assert.deepEqual([...mine.state!.tensors.get('param/w')!.data], [1, 2]);
  for (const other of [{...owner, store: 'another-store'}, {...owner, sweep: 1}, {...owner, trial: 'def456'}]) {
    const r = loadCheckpoint(file, other);
    assert.equal(r.state, undefined, JSON.stringify(other));
    assert.match(r.ignored!, /belongs to store 0b6f4c1e-5d0e-4a53-9a0f-1c2d3e4f5a6b, sweep 2, trial abc123, not to this trial .*; it starts from scratch/);
  }
});

test('a checkpoint that names no owner (an older ablate\'s) is never trusted by a trial of a store', () => {
  const file = path.join(tmpDir(), 'old.ckpt');
  saveCheckpoint(file, state);
  assert.match(loadCheckpoint(file, owner).ignored!, /names no owner \(written by an older ablate\)/);
  assert.deepEqual(loadCheckpoint(path.join(tmpDir(), 'none.ckpt'), owner), {}, 'no file: nothing to resume, nothing to warn about');
  fs.writeFileSync(file, 'garbage');
  assert.throws(() => loadCheckpoint(file, owner), /is damaged/);
});
