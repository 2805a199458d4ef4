/**
 * Tests that need something from the machine (native addon, Chromium, Fashion-MNIST, tmpfs mounts) skip
 * on a developer's machine without it, and fail in CI, which sets ABLATE_REQUIRE_<NAME>=1 for each.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {ROOT, tmpDir, writeFile} from './helpers';

/** Runs one test file that needs CHROMIUM, which is present or not as `missing` says. */
function runNeeding(missing: string | false, env: Record<string, string>) {
  const helpers = path.join(ROOT, 'dist', 'test', 'helpers.js');
  const file = writeFile(
    tmpDir(),
    'needs.test.js',
    `const {test} = require('node:test');
const {requires} = require(${JSON.stringify(helpers)});
test('draws the report', {skip: requires('CHROMIUM', ${JSON.stringify(missing)})}, () => {});
`,
  );
  // A fresh runner: no requirement variables of this run, and not the child protocol of the runner running us.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ABLATE_REQUIRE_') && k !== 'NODE_TEST_CONTEXT'));
  return spawnSync(process.execPath, ['--test', file], {encoding: 'utf8', env: {...base, ...env}});
}

test('a missing requirement skips the tests on a developer machine', () => {
  const r = runNeeding('no /nowhere/chromium: apt-get install chromium', {});
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /# skipped 1/);
  assert.match(r.stdout, /# fail 0/);
});

test('with ABLATE_REQUIRE_<NAME>=1 a missing requirement fails the run and says why', () => {
  const r = runNeeding('no /nowhere/chromium: apt-get install chromium', {ABLATE_REQUIRE_CHROMIUM: '1'});
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /not ok \d+ - ABLATE_REQUIRE_CHROMIUM=1: the tests that need it must run here/);
  assert.match(r.stdout, /ABLATE_REQUIRE_CHROMIUM=1, but no \/nowhere\/chromium: apt-get install chromium/);
  // Present: the test runs.
  const ok = runNeeding(false, {ABLATE_REQUIRE_CHROMIUM: '1'});
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /# pass 1/);
});

test('CI requires everything a test can skip for', () => {
  const sources: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, {withFileTypes: true})) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) sources.push(fs.readFileSync(p, 'utf8'));
    }
  };
  walk(path.join(ROOT, 'test'));
  const used = new Set(sources.flatMap((s) => [...s.matchAll(/requires\('([A-Z_]+)'/g)].map((m) => m[1])));
  assert.deepEqual([...used].sort(), ['CHROMIUM', 'FASHION_MNIST', 'GPU', 'MOUNT', 'NATIVE', 'SLURM', 'TORCH']);
  const ci = fs.readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8');
  // CI machines have no GPU: the GPU check (bench/gpu-check.sh) is where the GPU tests must run.
  for (const name of used) if (name !== 'GPU') assert.match(ci, new RegExp(`ABLATE_REQUIRE_${name}=1`), `.ci/run sets ABLATE_REQUIRE_${name}=1`);
  assert.match(fs.readFileSync(path.join(ROOT, 'bench', 'gpu-check.sh'), 'utf8'), /ABLATE_REQUIRE_GPU=1 node --test/, 'the GPU check requires the GPU tests');
  // Every skip condition in the tests is a requirement (nativeSkipReason, NO_TORCH, NO_GPU and noSlurm go through requires), the slow
  // switch (npm test sets ABLATE_SLOW=1), or a check that does not apply to root (covered by the required
  // tmpfs mount tests).
  const allowed = /requires\(|nativeSkipReason\(\)|skip: NO_TORCH\b|skip: SLOW\b|skip: cannotMount\b|skip: noSlurm\b|skip: NO_GPU\b|process\.getuid\?\.\(\) === 0/;
  const odd = sources.flatMap((src) =>
    src
      .split('\n')
      .filter((line) => /\{skip[:}]/.test(line) && !/^\s*(\*|\/\/|\/\*)/.test(line))
      .filter((line) => !allowed.test(line) && !(/\{skip\}/.test(line) && /const skip = nativeSkipReason\(\);/.test(src))),
  );
  assert.deepEqual(odd, []);
});
