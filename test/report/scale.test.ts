/**
 * The report at scale: 2,000 variants × 2 seeds × 3 epochs. Building, drawing and the HTML page stay
 * within CPU budgets that the quadratic steps of earlier versions (a baseline search per variant, a
 * label computed over all variants per plotted point, cli-table3) exceeded many times over, the page
 * stays small, and in Chromium it draws one page of trials while sorting and paging cover all of them.
 */
import {after, before, test} from 'node:test';
import {spawn, spawnSync} from 'node:child_process';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {openDb, type Db} from '../../src/store/db';
import {buildReport} from '../../src/report/model';
import {renderReport} from '../../src/report/views';
import {chartSpecs, MAX_LINES} from '../../src/report/charts';
import {buildHtml} from '../../src/report/html';
import {requires} from '../helpers';
import {BIN} from './cli';

const CHROMIUM = '/usr/bin/chromium';
const DEPTHS = [8, 14, 20, 26, 32];
const WIDTHS = [1, 2];
const LRS = Array.from({length: 10}, (_, i) => 0.01 * (i + 1));
const WDS = Array.from({length: 10}, (_, i) => 1e-5 * (i + 1));

let dir: string;
let db: Db;

/** CPU milliseconds of `fn` (wall time would measure the other jobs of a shared machine). */
function cpuMs<T>(fn: () => T): {out: T; ms: number} {
  const c0 = process.cpuUsage();
  const out = fn();
  const c = process.cpuUsage(c0);
  return {out, ms: (c.user + c.system) / 1000};
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-scale-'));
  db = openDb(path.join(dir, 'scale.db'));
  db.exec('BEGIN');
  const sweep = Number(db.prepare("INSERT INTO sweeps (name, config_yaml, config_hash, created_at, status) VALUES ('big', 'name: big', 'h', 0, 'done')").run().lastInsertRowid);
  const trial = db.prepare(
    `INSERT INTO trials (sweep_id, key, idx, variant_json, seed, spec_json, status, attempt, started_at, finished_at, error, params, macs)
     VALUES (?, ?, ?, ?, ?, ?, ?, 1, 0, 1000, ?, ?, ?)`,
  );
  const epoch = db.prepare('INSERT INTO epochs (trial_id, epoch, train_loss, train_err, test_loss, test_err, lr, seconds, images_per_sec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  let idx = 0;
  for (const depth of DEPTHS) {
    for (const residual of [false, true]) {
      for (const width of WIDTHS) {
        for (const lr of LRS) {
          for (const wd of WDS) {
            for (const seed of [1, 2]) {
              const variant = {'model.depth': depth, 'model.residual': residual, 'model.width': width, 'train.optimizer.lr': lr, 'train.optimizer.weight_decay': wd};
              const status = idx % 97 === 5 ? 'diverged' : idx % 331 === 7 ? 'failed' : 'done';
              const id = Number(
                trial.run(sweep, `k${idx.toString(16).padStart(8, '0')}`, idx, JSON.stringify(variant), seed,
                  JSON.stringify({train: {epochs: 3}, model: {depth, residual, width}, seed}), status,
                  status === 'failed' ? 'Error: worker exited with code 137' : null, 1000 * depth * width, 100_000 * depth * width).lastInsertRowid,
              );
              const final = 0.1 + (residual ? -0.001 : 0.002) * depth - 0.01 * width + lr / 10 + ((idx * 7919) % 100) / 10_000;
              for (let e = 1; e <= 3; e++) {
                const nan = status === 'diverged' && e === 3;
                const err = nan ? null : final + 0.3 / e;
                epoch.run(id, e, nan ? null : err! * 2, err, nan ? Infinity : err! * 2.1, err, lr, 0.5, 500);
              }
              idx++;
            }
          }
        }
      }
    }
  }
  db.exec('COMMIT');
});

after(() => {
  db.close();
  fs.rmSync(dir, {recursive: true, force: true});
});

test('2,000 variants: report with a baseline, its table and its HTML page within CPU budgets', () => {
  const built = cpuMs(() => buildReport(db, {sweep: 'big', baseline: ['model.residual=false']}));
  const report = built.out;
  assert.equal(report.variants.length, 2000);
  assert.equal(report.counts.done + report.counts.diverged + report.counts.failed, 4000);
  assert.ok(report.variants.every((v) => v.baseline?.baselineKey !== null), 'every variant has its plain-net baseline cell');
  assert.ok(built.ms < 3000, `buildReport took ${built.ms.toFixed(0)} ms of CPU`);

  const table = cpuMs(() => renderReport(report, 'table'));
  assert.equal(table.out.split('\n').filter((l) => l.startsWith('│')).length, 1 + 2000);
  assert.ok(table.ms < 1500, `the table took ${table.ms.toFixed(0)} ms of CPU`);

  const charts = chartSpecs(report);
  for (const c of charts) {
    const lines = c.series.filter((s) => s.role === 'mean').length;
    assert.ok(lines <= (c.kind === 'curves' ? 2 * MAX_LINES : MAX_LINES), `${c.id}: ${lines} lines`);
  }
  assert.match(charts.find((c) => c.kind === 'curves')!.subtitle!, /the 10 best of 1000 variants/);

  const html = cpuMs(() => buildHtml(report));
  assert.ok(html.ms < 4000, `the page took ${html.ms.toFixed(0)} ms of CPU`);
  assert.ok(html.out.length < 2.5e6, `the page has ${html.out.length} characters`);
  assert.equal((html.out.match(/<tr>/g) ?? []).length, 3, 'tables travel as data: only their heads are HTML');
});

test('megabytes of report reach a reader that pauses, whole; a reader that stops early ends the command quietly', async () => {
  const file = path.join(dir, 'scale.db');
  const whole = spawnSync(process.execPath, [BIN, 'report', 'big', '--db', file, '--format', 'json'], {encoding: 'utf8', maxBuffer: 2 ** 28});
  assert.equal(whole.status, 0, whole.stderr);
  assert.ok(whole.stdout.length > 1_000_000, `${whole.stdout.length} bytes`);
  JSON.parse(whole.stdout);
  assert.equal(whole.stdout.indexOf('\n'), whole.stdout.length - 1, 'a pipe gets compact JSON, one line');
  // A reader that takes nothing for half a second: the 64 KiB pipe fills and the writer must wait.
  const child = spawn(process.execPath, [BIN, 'report', 'big', '--db', file, '--format', 'json'], {stdio: ['ignore', 'pipe', 'pipe']});
  child.stdout.pause();
  const chunks: Buffer[] = [];
  setTimeout(() => child.stdout.on('data', (d: Buffer) => chunks.push(d)).resume(), 500);
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  assert.equal(Buffer.concat(chunks).toString('utf8'), whole.stdout);
  // A reader that stops after 100 bytes: no error, exit 0.
  const head = spawnSync('bash', ['-c', `"${process.execPath}" "${BIN}" report big --db "${file}" --format json | head -c 100 >/dev/null; echo "\${PIPESTATUS[0]}"`], {encoding: 'utf8'});
  assert.equal(head.stdout.trim(), '0', head.stderr);
  assert.doesNotMatch(head.stderr, /EPIPE|Error/);
});

test('the large page in headless Chromium: drawn quickly, one page of trials in the DOM, sorting and paging over all', {skip: requires('CHROMIUM', !fs.existsSync(CHROMIUM) && `no ${CHROMIUM}: apt-get install chromium`), timeout: 180_000}, async () => {
  const report = buildReport(db, {sweep: 'big'});
  const file = path.join(dir, 'big.html');
  fs.writeFileSync(file, buildHtml(report));
  const {chromium} = await import('playwright-core');
  const browser = await chromium.launch({executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run']});
  try {
    const page = await browser.newPage({viewport: {width: 1440, height: 1000}});
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`file://${file}`, {waitUntil: 'load', timeout: 120_000});
    await page.waitForFunction(() => (window as unknown as {ablateReport?: {ready: boolean}}).ablateReport?.ready === true, null, {timeout: 120_000});
    const metrics = await page.evaluate(() => ({
      rows: document.querySelectorAll('#trials tbody tr').length,
      nodes: document.getElementsByTagName('*').length,
      info: document.querySelector('[data-table="trials"] .pager span')?.textContent ?? '',
    }));
    assert.equal(metrics.rows, 100);
    assert.match(metrics.info, /rows 1–100 of 4000/);
    assert.ok(metrics.nodes < 10_000, `${metrics.nodes} elements`);

    const column = await page.evaluate(() => Array.from(document.querySelectorAll('#trials th')).findIndex((th) => th.textContent === 'final test err (%)'));
    const read = () => page.evaluate((col) => Array.from(document.querySelectorAll('#trials tbody tr')).map((tr) => (tr as HTMLTableRowElement).cells[col].getAttribute('data-v') ?? ''), column);
    await page.click(`#trials th:nth-child(${column + 1})`);
    const firstPage = (await read()).map(Number);
    const all = report.variants.flatMap((v) => v.trials.map((t) => t.values.final_test_err)).filter((x): x is number => x !== null).sort((a, b) => a - b);
    assert.ok(Math.abs(firstPage[0] - all[0]) < 1e-4, 'the first row after sorting is the smallest of all 4,000 trials');
    assert.deepEqual(firstPage, [...firstPage].sort((a, b) => a - b));
    await page.click('[data-table="trials"] .pager button[title="last page"]');
    const lastPage = await read();
    assert.equal(lastPage[lastPage.length - 1], '', 'trials without a final error come last');
    await page.fill('[data-table="trials"] .pager input', 'failed');
    const filtered = await page.evaluate(() => document.querySelector('[data-table="trials"] .pager span')?.textContent ?? '');
    assert.match(filtered, /of (\d+) \(filtered from 4000\)/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
