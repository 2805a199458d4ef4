import {test} from 'node:test';
import assert from 'node:assert/strict';
import {hashSeed, makeRng, permutation} from '../../src/data';

test('makeRng: same seed, same stream; different seeds differ', () => {
  const a = makeRng(42);
  const b = makeRng(42);
  const c = makeRng(43);
  const sa = Array.from({length: 100}, () => a.uint32());
  const sb = Array.from({length: 100}, () => b.uint32());
  const sc = Array.from({length: 100}, () => c.uint32());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
});

test('makeRng: state() / setState() continue the stream exactly', () => {
  const a = makeRng(7);
  for (let i = 0; i < 13; i++) a.next();
  const saved = a.state();
  const rest = Array.from({length: 20}, () => a.next());
  const b = makeRng(0);
  b.setState(saved);
  assert.deepEqual(Array.from({length: 20}, () => b.next()), rest);
});

test('makeRng: uniform, int and normal have the right ranges and moments', () => {
  const r = makeRng(1);
  const n = 200000;
  let sum = 0;
  let sumN = 0;
  let sqN = 0;
  const counts = new Array(6).fill(0);
  for (let i = 0; i < n; i++) {
    const u = r.next();
    assert.ok(u >= 0 && u < 1);
    sum += u;
    counts[r.int(6)]++;
    const z = r.normal();
    sumN += z;
    sqN += z * z;
  }
  assert.ok(Math.abs(sum / n - 0.5) < 0.005, `mean of uniform ${sum / n}`);
  for (const c of counts) assert.ok(Math.abs(c / n - 1 / 6) < 0.005, `int(6) frequencies ${counts}`);
  assert.ok(Math.abs(sumN / n) < 0.01, `normal mean ${sumN / n}`);
  assert.ok(Math.abs(sqN / n - 1) < 0.02, `normal variance ${sqN / n}`);
  assert.throws(() => r.int(0), /n must be >= 1/);
});

test('hashSeed: deterministic, order-sensitive, distinguishes large and negative seeds and strings', () => {
  assert.equal(hashSeed(1, 2, 'a'), hashSeed(1, 2, 'a'));
  const seen = new Set([
    hashSeed(1, 2),
    hashSeed(2, 1),
    hashSeed(1),
    hashSeed(1, 2, 'a'),
    hashSeed(1, 2, 'b'),
    hashSeed(2 ** 32 + 1),
    hashSeed(-1),
    hashSeed(2 ** 32 - 1),
    hashSeed(0.5),
    hashSeed('12'),
    hashSeed(12),
  ]);
  assert.equal(seen.size, 11);
  for (const h of seen) assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 32);
  assert.throws(() => hashSeed(NaN), /finite/);
});

test('hashSeed values never change: every data order, initialisation and synthetic image derives from them', () => {
  const pinned: Array<[Array<number | string>, number]> = [
    [[0], 1464662071],
    [[1, 2, 'a'], 188939647],
    [[-1], 1443226771],
    [[2 ** 32 + 1], 2486036686],
    [[-(2 ** 32) - 1], 1695316043],
    [[Number.MAX_SAFE_INTEGER], 259254033],
    [[-Number.MAX_SAFE_INTEGER], 4277819128],
    [[0.5], 1206919029],
    [[201606, 'sample', 'train', 8, 8, 3, 4, 255], 45714423],
    [[7, 3, 'augment', 49999], 2682770551],
  ];
  for (const [parts, value] of pinned) assert.equal(hashSeed(...parts), value, JSON.stringify(parts));
});

test('permutation: a permutation of 0..n-1, reproducible from the seed', () => {
  const p = permutation(1000, makeRng(5));
  assert.deepEqual([...p].sort((a, b) => a - b), Array.from({length: 1000}, (_, i) => i));
  assert.deepEqual(p, permutation(1000, makeRng(5)));
  assert.notDeepEqual(p, permutation(1000, makeRng(6)));
});
