/** The ready studies in configs/: each validates and plans at full size; the architecture studies train end to end at tiny size. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {test} from 'node:test';
import {planStudy} from '../../src/experiments/runner';
import {cli, ROOT, tmpDir} from '../helpers';

const CONFIGS = path.join(ROOT, 'configs');

for (const file of fs.readdirSync(CONFIGS).filter((f) => f.endsWith('.yaml'))) {
  test(`configs/${file} begins with the question it answers and plans at full size`, () => {
    const text = fs.readFileSync(path.join(CONFIGS, file), 'utf8');
    assert.match(text, /^# .+\?/, 'the first line asks the question');
    const plan = planStudy(path.join(CONFIGS, file));
    assert.ok(plan.trials.length > 0);
    assert.ok(plan.trials.every((t) => t.params > 0 && t.macs > 0));
  });
}

test('wrn-sweep plans the WRN Table 4 nets with their parameter counts', () => {
  const plan = planStudy(path.join(CONFIGS, 'wrn-sweep.yaml'));
  const params = Object.fromEntries(plan.trials.map((t) => [t.model, t.params]));
  assert.equal(params['WRN-28-10'], 36_479_194);
  assert.equal((params['WRN-16-8'] / 1e6).toFixed(1), '11.0');
  assert.equal((params['WRN-40-4'] / 1e6).toFixed(1), '8.9');
});

test('cardinality-sweep keeps the parameter budget within 3% across cardinalities', () => {
  const plan = planStudy(path.join(CONFIGS, 'cardinality-sweep.yaml'));
  assert.deepEqual(plan.trials.map((t) => t.spec.model.cardinality), [1, 2, 4, 8, 32]);
  const ps = plan.trials.map((t) => t.params);
  assert.ok(Math.max(...ps) / Math.min(...ps) < 1.03, ps.join(', '));
});

for (const name of ['wrn-sweep', 'cardinality-sweep']) {
  test(`${name} runs end to end at tiny size (--smoke)`, () => {
    const db = path.join(tmpDir(), 'ablate.db');
    const r = cli(['run', `configs/${name}.yaml`, '--smoke', '--db', db], {timeoutMs: 600_000});
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`sweep ${name}\\.smoke \\(id 1\\): ${name === 'wrn-sweep' ? 10 : 5} done`));
  });
}
