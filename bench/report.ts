/**
 * Read-side benchmark: how long `report`, `status` and `show` take on a large sweep, run as a user runs
 * them (`node bin/run.js ... > FILE` in a fresh process, so module loading counts).
 *
 * The store is written first through the coordinator's write path (bench/large-store.ts): 5,000
 * variants × 2 seeds × 3 epochs by default, in a temporary file (on /dev/shm when there is one, so the
 * build does not wait for the disk). Each command then runs --repeats times; one JSON line per command
 * gives the median wall time, every run, the median CPU time (user + system, less sensitive to a busy
 * machine than wall time) and the output size. With Chromium at /usr/bin/chromium, one more line says
 * how the HTML page behaves in a browser: time until it is drawn, the longest task that blocked the page,
 * the DOM size, and how long sorting the per-trial table by a column takes.
 *
 *   npm run bench:report
 *   node dist/bench/report.js --variants 1000 --repeats 3 --only report,report-json
 *   node dist/bench/report.js --keep     # keep the store (on /dev/shm) and reuse it next time
 *   node dist/bench/report.js --db FILE  # write the store to FILE and leave it there
 */
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {parseArgs} from 'node:util';
import {SCHEMA_VERSION} from '../src/store/db';
import {buildLargeStore} from './large-store';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'run.js');
const CHROMIUM = '/usr/bin/chromium';
const TIME = '/usr/bin/time';

interface Case {
  name: string;
  args: (ctx: Ctx) => string[];
  /** A file the command writes, whose size is reported. */
  file?: (ctx: Ctx) => string;
}

interface Ctx {
  db: string;
  dir: string;
  sweep: string;
  trialId: number;
}

const CASES: Case[] = [
  // Start-up alone: `--help` loads oclif and the command list (`--version` also probes every engine, PyTorch included).
  {name: 'startup', args: () => ['--help']},
  {name: 'report', args: (c) => ['report', c.sweep, '--db', c.db]},
  {name: 'report-json', args: (c) => ['report', c.sweep, '--db', c.db, '--format', 'json']},
  {name: 'report-pivot', args: (c) => ['report', c.sweep, '--db', c.db, '--pivot', 'model.depth,model.residual']},
  {name: 'report-html', args: (c) => ['report', c.sweep, '--db', c.db, '--html', path.join(c.dir, 'report.html')], file: (c) => path.join(c.dir, 'report.html')},
  {name: 'status', args: (c) => ['status', '--db', c.db]},
  {name: 'status-sweep', args: (c) => ['status', c.sweep, '--db', c.db]},
  {name: 'show', args: (c) => ['show', String(c.trialId), '--db', c.db]},
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** One run of the CLI: wall seconds, CPU seconds (user + system, when /usr/bin/time exists), output bytes. */
function runOnce(args: string[], dir: string): {wall: number; cpu: number | null; stdoutBytes: number} {
  const timeFile = path.join(dir, 'time.txt');
  const useTime = fs.existsSync(TIME);
  const cmd = useTime ? TIME : process.execPath;
  const argv = useTime ? ['-f', '%U %S', '-o', timeFile, process.execPath, BIN, ...args] : [BIN, ...args];
  // Standard output goes to a file, as with `ablate report ... > FILE`.
  const outFile = path.join(dir, 'stdout.txt');
  const out = fs.openSync(outFile, 'w');
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, {cwd: ROOT, env: {...process.env, NO_COLOR: '1'}, stdio: ['ignore', out, 'pipe'], encoding: 'utf8'});
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  fs.closeSync(out);
  if (r.status !== 0) throw new Error(`ablate ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  let cpu: number | null = null;
  if (useTime) {
    const [u, s] = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
    cpu = u + s;
  }
  return {wall, cpu, stdoutBytes: fs.statSync(outFile).size};
}

/** Open the page in headless Chromium: time to drawn, longest blocking task, DOM size, time to sort the trial table. */
async function browserCheck(file: string): Promise<Record<string, unknown>> {
  const {chromium} = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({viewport: {width: 1440, height: 1000}});
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.addInitScript(() => {
      const w = window as unknown as {longTasks: number[]};
      w.longTasks = [];
      new PerformanceObserver((list) => list.getEntries().forEach((e) => w.longTasks.push(e.duration))).observe({type: 'longtask', buffered: true});
    });
    const t0 = Date.now();
    await page.goto(`file://${file}`, {waitUntil: 'load', timeout: 600_000});
    await page.waitForFunction(() => (window as unknown as {ablateReport?: {ready: boolean}}).ablateReport?.ready === true, null, {timeout: 600_000});
    const readyMs = Date.now() - t0;
    const column = await page.evaluate(() => Array.from(document.querySelectorAll('#trials th')).findIndex((th) => th.textContent === 'final test err (%)'));
    let sortMs: number | null = null;
    if (column >= 0) {
      const s0 = Date.now();
      await page.click(`#trials th:nth-child(${column + 1})`);
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(null))));
      sortMs = Date.now() - s0;
    }
    const probe = await page.evaluate(() => ({
      domNodes: document.getElementsByTagName('*').length,
      trialRowsInDom: document.querySelectorAll('#trials tbody tr').length,
      longTasks: (window as unknown as {longTasks: number[]}).longTasks,
    }));
    return {
      ready_ms: readyMs,
      longest_task_ms: probe.longTasks.length > 0 ? Math.round(Math.max(...probe.longTasks)) : 0,
      long_tasks: probe.longTasks.length,
      dom_nodes: probe.domNodes,
      trial_rows_in_dom: probe.trialRowsInDom,
      sort_ms: sortMs,
      page_errors: errors,
    };
  } finally {
    await browser.close();
  }
}

async function main(): Promise<void> {
  const {values} = parseArgs({
    options: {
      variants: {type: 'string', default: '5000'},
      seeds: {type: 'string', default: '2'},
      epochs: {type: 'string', default: '3'},
      repeats: {type: 'string', default: '5'},
      only: {type: 'string'},
      db: {type: 'string'},
      keep: {type: 'boolean', default: false},
      'no-browser': {type: 'boolean', default: false},
      help: {type: 'boolean', default: false},
    },
  });
  if (values.help) {
    console.log(fs.readFileSync(path.join(__dirname, '..', '..', 'bench', path.basename(__filename, '.js') + '.ts'), 'utf8').split('*/')[0]);
    return;
  }
  const variants = Number(values.variants);
  const seeds = Number(values.seeds);
  const epochs = Number(values.epochs);
  const repeats = Number(values.repeats);
  for (const [k, v] of Object.entries({variants, seeds, epochs, repeats})) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer`);
  }
  const only = values.only ? values.only.split(',').map((s) => s.trim()) : undefined;
  const unknown = (only ?? []).filter((o) => !CASES.some((c) => c.name === o) && o !== 'browser');
  if (unknown.length > 0) throw new Error(`--only: unknown case(s) ${unknown.join(', ')}; choose from ${[...CASES.map((c) => c.name), 'browser'].join(', ')}`);

  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, 'ablate-bench-'));
  const stable = path.join(base, `ablate-bench-report-${variants}x${seeds}x${epochs}.db`);
  const db = values.db ? path.resolve(values.db) : values.keep ? stable : path.join(dir, 'ablate.db');
  try {
    const ctx: Ctx = {db, dir, sweep: 'bench-report', trialId: 1};
    const reuse = values.keep && fs.existsSync(db) && storeMatches(db, variants * seeds);
    if (!reuse) {
      fs.rmSync(db, {force: true});
      fs.rmSync(`${db}-wal`, {force: true});
      fs.rmSync(`${db}-shm`, {force: true});
      const info = buildLargeStore(db, {variants, seeds, epochs, progress: (n, t) => process.stderr.write(`\rwriting the store: ${n}/${t} trials`)});
      process.stderr.write('\n');
      console.log(JSON.stringify({case: 'store-build', trials: info.trials, variants: info.variants, epochs, seconds: r3(info.buildSeconds),
        claim_ms_first_1000: r3(info.claimMsFirst), claim_ms_last_1000: r3(info.claimMsLast), db_mb: r3(fs.statSync(db).size / 2 ** 20)}));
    }
    ctx.trialId = Math.floor((variants * seeds) / 2);
    for (const c of CASES) {
      if (only && !only.includes(c.name)) continue;
      const runs: {wall: number; cpu: number | null; stdoutBytes: number}[] = [];
      for (let i = 0; i < repeats; i++) {
        runs.push(runOnce(c.args(ctx), dir));
        process.stderr.write(`${c.name} ${i + 1}/${repeats}: ${runs[i].wall.toFixed(2)} s (load ${os.loadavg()[0].toFixed(1)})\n`);
      }
      const cpus = runs.map((r) => r.cpu).filter((x): x is number => x !== null);
      const line: Record<string, unknown> = {
        case: c.name,
        command: `ablate ${c.args(ctx).join(' ')}`,
        median_s: r3(median(runs.map((r) => r.wall))),
        runs_s: runs.map((r) => r3(r.wall)),
        cpu_median_s: cpus.length > 0 ? r3(median(cpus)) : null,
        stdout_bytes: runs[0].stdoutBytes,
        load_avg_1m: Math.round(os.loadavg()[0] * 10) / 10,
      };
      if (c.file) line.file_bytes = fs.statSync(c.file(ctx)).size;
      console.log(JSON.stringify(line));
    }
    const html = path.join(dir, 'report.html');
    if (!values['no-browser'] && fs.existsSync(CHROMIUM) && (!only || only.includes('browser'))) {
      if (!fs.existsSync(html)) runOnce(CASES.find((c) => c.name === 'report-html')!.args(ctx), dir);
      console.log(JSON.stringify({case: 'html-in-chromium', file_bytes: fs.statSync(html).size, ...(await browserCheck(html))}));
    }
  } finally {
    if (values.keep || values.db) console.error(`the store stays at ${db}`);
    fs.rmSync(dir, {recursive: true, force: true});
  }
}

/** Whether an existing store holds the finished benchmark sweep of this size in this schema. */
function storeMatches(file: string, trials: number): boolean {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Database = require('better-sqlite3') as typeof import('better-sqlite3');
  const db = new Database(file, {readonly: true});
  try {
    if (db.pragma('user_version', {simple: true}) !== SCHEMA_VERSION) return false;
    const row = db.prepare("SELECT count(*) AS n FROM trials JOIN sweeps ON sweeps.id = trials.sweep_id WHERE sweeps.name = 'bench-report' AND sweeps.status = 'done'").get() as {n: number};
    return row.n === trials;
  } catch {
    return false;
  } finally {
    db.close();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
