/**
 * The HTML report in a real headless Chromium with the network blocked: no console errors, every plot
 * drawn with the expected number of series, the trial table sorts, and a screenshot is kept under
 * test-artifacts/ for a person to look at.
 */
import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {openDb} from '../../src/store/db';
import {buildReport} from '../../src/report/model';
import {chartSpecs} from '../../src/report/charts';
import {writeHtmlReport} from '../../src/report/html';
import {makeFixture, type Fixture} from './fixture';
import {ROOT} from './cli';
import {requires} from '../helpers';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-artifacts');

let fx: Fixture;
before(() => {
  fx = makeFixture();
});
after(() => fx.cleanup());

interface ChartProbe {
  id: string;
  kind: string;
  means: number;
  bands: number;
  /** Drawn points of each mean series (Chart.js elements). */
  elements: number[];
  /** Pixels of each mean series' colour on the canvas. */
  colourPixels: number[];
}

test('HTML report renders in headless Chromium with the network blocked', {skip: requires('CHROMIUM', !fs.existsSync(CHROMIUM) && `no ${CHROMIUM}: apt-get install chromium`), timeout: 90_000}, async () => {
  const db = openDb(fx.file, {readonly: true});
  const report = buildReport(db, {sweep: 'depth-sweep', baseline: ['model.residual=false']});
  db.close();
  fs.mkdirSync(ARTIFACTS, {recursive: true});
  const file = path.join(ARTIFACTS, 'report.html');
  writeHtmlReport(report, file, {configYaml: 'name: depth-sweep\nseeds: [1, 2, 3]\n'});
  const expected = chartSpecs(report).map((c) => ({id: c.id, means: c.series.filter((s) => s.role === 'mean').length}));
  assert.deepEqual(expected.map((e) => e.means), [6, 6, 2, 2, 2]);

  const {chromium} = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({viewport: {width: 1440, height: 1000}});
    const problems: string[] = [];
    const blocked: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    const url = `file://${file}`;
    // Only the report file itself may load; any other request (CDN, fonts, ...) is aborted and recorded.
    await page.route('**/*', (route) => {
      if (route.request().url() === url) return route.continue();
      blocked.push(route.request().url());
      return route.abort();
    });
    await page.goto(url, {waitUntil: 'load'});
    await page.waitForFunction(() => (window as unknown as {ablateReport?: {ready: boolean}}).ablateReport?.ready === true, null, {timeout: 10_000});

    const probes: ChartProbe[] = await page.evaluate(() => {
      type AnyChart = {
        data: {datasets: {role: string; borderColor: string}[]};
        getDatasetMeta(i: number): {data: unknown[]};
      };
      const w = window as unknown as {Chart: {getChart(c: HTMLCanvasElement): AnyChart | undefined}};
      return Array.from(document.querySelectorAll('canvas')).map((canvas) => {
        const chart = w.Chart.getChart(canvas)!;
        const ctx = canvas.getContext('2d')!;
        const img = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        const ds = chart.data.datasets;
        const meanIdx = ds.map((d, i) => (d.role === 'mean' ? i : -1)).filter((i) => i >= 0);
        const colourPixels = meanIdx.map((i) => {
          const n = parseInt(ds[i].borderColor.slice(1), 16);
          const [r, g, b] = [n >> 16, (n >> 8) & 255, n & 255];
          let count = 0;
          for (let p = 0; p < img.length; p += 4) {
            if (img[p + 3] > 200 && Math.abs(img[p] - r) < 12 && Math.abs(img[p + 1] - g) < 12 && Math.abs(img[p + 2] - b) < 12) count++;
          }
          return count;
        });
        return {
          id: canvas.id,
          kind: canvas.dataset.kind ?? '',
          means: meanIdx.length,
          bands: ds.length - meanIdx.length,
          elements: meanIdx.map((i) => chart.getDatasetMeta(i).data.length),
          colourPixels,
        };
      });
    });
    assert.deepEqual(
      probes.map((p) => ({id: p.id, means: p.means})),
      expected,
      'every plot renders with the expected number of series',
    );
    for (const p of probes) {
      assert.ok(p.elements.every((n) => n > 0), `${p.id}: every series has drawn points`);
      assert.ok(p.colourPixels.every((n) => n > 30), `${p.id}: every series' colour is on the canvas (${p.colourPixels.join(', ')})`);
    }
    assert.ok(probes.filter((p) => p.kind === 'curves').every((p) => p.bands > 0), 'curves have a band over seeds');

    // The per-trial table sorts by a clicked column (numbers ascending, empty cells last), then descending.
    const column = await page.evaluate(() => Array.from(document.querySelectorAll('#trials th')).findIndex((th) => th.textContent === 'final test err (%)'));
    assert.ok(column >= 0);
    const read = () =>
      page.evaluate((col) => Array.from(document.querySelectorAll('#trials tbody tr')).map((tr) => (tr as HTMLTableRowElement).cells[col].getAttribute('data-v') ?? ''), column);
    await page.click(`#trials th:nth-child(${column + 1})`);
    const asc = await read();
    const nums = asc.filter((v) => v !== '').map(Number);
    assert.deepEqual(nums, [...nums].sort((a, b) => a - b));
    assert.deepEqual(asc.slice(nums.length), asc.filter((v) => v === ''), 'trials without a final error sort last');
    await page.click(`#trials th:nth-child(${column + 1})`);
    const desc = (await read()).filter((v) => v !== '').map(Number);
    assert.deepEqual(desc, [...nums].sort((a, b) => b - a));
    await page.click(`#trials th:nth-child(1)`);

    const tables = await page.evaluate(() => document.querySelectorAll('section table').length);
    assert.equal(tables, 3, 'variant table, pivot, trials');
    await page.screenshot({path: path.join(ARTIFACTS, 'report.png'), fullPage: true});
    assert.deepEqual(problems, [], 'no console errors');
    assert.deepEqual(blocked, [], 'the page asks for nothing over the network');
  } finally {
    await browser.close();
  }
  assert.ok(fs.statSync(path.join(ARTIFACTS, 'report.png')).size > 50_000);
});
