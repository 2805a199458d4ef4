import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {makeFixture, type Fixture} from '../report/fixture';
import {runCli} from '../report/cli';
import {parseCsv, parseMarkdownTable} from '../../src/report/render';

let fx: Fixture;

before(() => {
  fx = makeFixture();
});
after(() => fx.cleanup());

test('ablate report prints the newest sweep, one row per variant', () => {
  const r = runCli(['report', '--db', fx.file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /sweep depth-sweep-b/);
  assert.equal(r.stdout.split('\n').filter((l) => /^│ (20|32|56) /.test(l)).length, 6);
  assert.match(r.stdout, /± \d+\.\d\d \(n=3\)/);
});

test('ablate report SWEEP --pivot prints the depth × plain/residual table', () => {
  const r = runCli(['report', 'depth-sweep', '--db', fx.file, '--pivot', 'model.depth,model.residual', '--format', 'markdown']);
  assert.equal(r.code, 0, r.stderr);
  const t = parseMarkdownTable(r.stdout);
  assert.deepEqual(t.head, ['model.depth', 'model.residual=false', 'model.residual=true']);
  assert.equal(t.rows.length, 3);
  assert.match(t.rows[2][1], /n=2, 1 diverged/);
});

test('ablate report --format csv and --json parse back', () => {
  const csv = runCli(['report', 'depth-sweep', '--db', fx.file, '--format', 'csv', '--where', 'model.residual=true']);
  assert.equal(csv.code, 0, csv.stderr);
  const rows = parseCsv(csv.stdout);
  assert.equal(rows.length, 4);
  assert.equal(rows[0][0], 'model.depth');
  const json = runCli(['report', 'depth-sweep', '--db', fx.file, '--json', '--baseline', 'model.residual=false']);
  assert.equal(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout);
  assert.equal(doc.variants.length, 6);
  const diffs = doc.variants.map((v: {baseline: {difference: {test: string; ci95: number[] | null} | null}}) => v.baseline.difference).filter(Boolean);
  assert.ok(diffs.some((d: {ci95: number[] | null}) => Array.isArray(d.ci95)));
  assert.ok(diffs.every((d: {test: string}) => d.test === 'paired' || d.test === 'welch'));
});

test('ablate report --baseline --curves --sort --only-changed', () => {
  const r = runCli(['report', 'depth-sweep', '--db', fx.file, '--baseline', 'model.residual=false', '--curves', '--sort', 'final_test_err', '--only-changed']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Δ final test err vs baseline \[95% CI\]/);
  assert.match(r.stdout, /paired t-test on the per-seed differences/);
  assert.match(r.stdout, /\(paired, n=3\)/);
  assert.match(r.stdout, /test error \(%\) per epoch/);
  assert.equal(r.stdout.split('\n').filter((l) => /^depth=\d+ residual=\w+ +[▁-█]/.test(l)).length, 6);
});

test('ablate report --pivot with --baseline prints the Δ column with its test (the Quick start line)', () => {
  const r = runCli(['report', 'depth-sweep', '--db', fx.file, '--pivot', 'model.depth,model.residual', '--baseline', 'model.residual=false']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Δ model\.residual=true vs baseline \[95% CI\]/);
  assert.match(r.stdout, /no interval: n=1 on one side; Welch, n=1 vs 2/);
  assert.match(r.stdout, /\* = interval excludes 0/);
});

test('bad input is a one-line error with a hint and exit code 2', () => {
  const unknown = runCli(['report', 'no-such-sweep', '--db', fx.file]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^error: no sweep named or numbered "no-such-sweep"/m);
  assert.match(unknown.stderr, /^Try this: /m);
  assert.doesNotMatch(unknown.stderr, /    at /, 'no stack trace');
  const pivot = runCli(['report', 'depth-sweep', '--db', fx.file, '--pivot', 'model.depth,model.widht']);
  assert.equal(pivot.code, 2);
  assert.match(pivot.stderr, /did you mean "model.residual"|is not a swept axis/);
  const missing = runCli(['report', '--db', path.join(fx.dir, 'nope.db')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no database at/);
  assert.equal(fs.existsSync(path.join(fx.dir, 'nope.db')), false, 'report never creates a database');
  const metric = runCli(['report', '--db', fx.file, '--metric', 'accuracy']);
  assert.notEqual(metric.code, 0);
  assert.match(metric.stderr, /final_test_err/);
});

test('ablate report --help has a summary, flags and examples', () => {
  const r = runCli(['report', '--help']);
  assert.equal(r.code, 0, r.stderr);
  for (const s of ['--pivot', '--baseline', '--only-changed', '--format', 'EXAMPLES', '--db']) assert.ok(r.stdout.includes(s), s);
});

test('ablate report --html FILE writes a self-contained page and still prints the table', () => {
  const out = path.join(fx.dir, 'out', 'report.html');
  const r = runCli(['report', 'depth-sweep', '--db', fx.file, '--html', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.match(r.stdout, /final test err/);
  const html = fs.readFileSync(out, 'utf8');
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /Chart\.js v4/);
  assert.equal((html.match(/<canvas /g) ?? []).length, 5);
  assert.doesNotMatch(html, /<script[^>]+src=/);
});
