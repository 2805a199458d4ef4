/** "Did you mean": one edit distance and one threshold for study keys, presets, sweep names and report keys. */
import assert from 'node:assert/strict';
import {test} from 'node:test';
import {closest, didYouMean, editDistance} from '../src/errors';
import {parseStudy} from '../src/experiments/config';
import {suggestPreset} from '../src/models';
import {openDb} from '../src/store/db';
import {resolveSweep} from '../src/store/queries';

test('edit distance counts a swap of neighbouring letters as one edit', () => {
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('widht', 'width'), 1);
  assert.equal(editDistance('', 'abc'), 3);
});

test('closest: the last segment of a dotted key, else a third of the letters (at least one) may differ', () => {
  assert.equal(closest('depth', ['model.depth', 'model.widen_factor']), 'model.depth');
  assert.equal(closest('modle.depth', ['model.depth', 'model.widen_factor']), 'model.depth');
  assert.equal(closest('rezmet1l0', ['resnet110']), 'resnet110', '3 of 9 letters');
  assert.equal(closest('dpeht', ['depth']), undefined, '2 of 5 letters');
  assert.equal(closest('ab', ['xy']), undefined);
  assert.equal(closest('depth', ['depth']), undefined, 'nothing to suggest for a known word');
  assert.equal(didYouMean('epocs', ['epochs', 'batch_size']), ' (did you mean "epochs"?)');
  assert.equal(didYouMean('zzz', ['epochs']), '');
});

test('the same near miss gets the same answer from a study key, a preset name and a sweep name', () => {
  const db = openDb(':memory:');
  const ins = db.prepare('INSERT INTO sweeps (name, config_yaml, config_hash, created_at) VALUES (?, ?, ?, ?)');
  ins.run('depth', 'a: 1', 'h1', 1000);
  ins.run('resnet110', 'a: 1', 'h2', 2000);
  const sweepMessage = (ref: string) => {
    try {
      resolveSweep(db, ref);
    } catch (e) {
      return (e as Error).message;
    }
    assert.fail(`${ref} resolved`);
  };
  const keyMessage = (key: string) => {
    try {
      parseStudy(`name: x\ndataset: {name: synthetic}\nmodel: {${key}: 20}\n`, 's.yaml');
    } catch (e) {
      return (e as Error).message;
    }
    assert.fail(`${key} accepted`);
  };
  // Three of nine letters off: close enough everywhere.
  assert.equal(suggestPreset('rezmet1l0'), 'resnet110');
  assert.match(sweepMessage('rezmet1l0'), /did you mean "resnet110"/);
  // Two of five letters off: too far everywhere.
  assert.doesNotMatch(keyMessage('dpeht'), /did you mean/);
  assert.doesNotMatch(sweepMessage('dpeht'), /did you mean/);
  // One letter off: suggested everywhere.
  assert.match(keyMessage('dpeth'), /did you mean "depth"/);
  assert.match(sweepMessage('dpeth'), /did you mean "depth"/);
  db.close();
});
