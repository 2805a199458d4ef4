/**
 * `ablate report --html FILE`: one self-contained page (no network: Chart.js is inlined) with the
 * comparison tables, the plots of charts.ts and the per-trial table, sortable by any column.
 *
 * Chart.js 4 over Vega-Lite: one 200 kB UMD file already in our dependencies (Vega-Lite + vega-embed
 * would add ~800 kB and three packages), canvas rendering that stays fast with hundreds of series,
 * and a filled area between two datasets is all a ±std band needs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {EnvironmentError} from '../errors';
import {chartSpecs, facetAxis, numericAxes, varyingAxes, type ChartSpec} from './charts';
import {dateTime} from './format';
import {buildPivot, countsText, engineText, type Report} from './model';
import type {TextTable} from './render';
import {pivotTable, trialRows, variantTable} from './views';

export interface HtmlOptions {
  /** The study file as written, shown in a collapsed block. */
  configYaml?: string;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c] as string);
}

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

let chartJsSource: string | undefined;

/** The Chart.js UMD bundle, read from node_modules once. */
export function chartJs(): string {
  if (chartJsSource !== undefined) return chartJsSource;
  let file: string;
  try {
    file = path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js');
  } catch {
    throw new EnvironmentError('chart.js is not installed; the HTML report inlines it', {hint: 'run npm install in the ablate folder'});
  }
  const src = fs.readFileSync(file, 'utf8');
  if (/<\/script/i.test(src)) throw new EnvironmentError(`${file} contains "</script" and cannot be inlined`, {hint: 'reinstall chart.js (npm install)'});
  chartJsSource = src;
  return src;
}

function tableHtml(t: TextTable, opts: {sortable?: boolean; id?: string; values?: (string | number | boolean | null | undefined)[][]} = {}): string {
  const cls = (i: number) => (t.align?.[i] === 'right' ? ' class="num"' : t.head[i] === 'error' ? ' class="wrap err"' : t.head[i] === 'trials' ? ' class="wrap"' : '');
  const head = t.head.map((h, i) => `<th${cls(i)}${opts.sortable ? ' tabindex="0" role="button"' : ''}>${esc(h)}</th>`).join('');
  const rows = t.rows
    .map((r, ri) => {
      const cells = r
        .map((c, i) => {
          const v = opts.values?.[ri]?.[i];
          const data = opts.sortable ? ` data-v="${esc(v === null || v === undefined ? '' : String(v))}"` : '';
          const status = /^(done|diverged|failed|running|pending)$/.test(c) ? ` data-status="${c}"` : '';
          return `<td${cls(i)}${data}${status}>${esc(c)}</td>`;
        })
        .join('');
      return `<tr>${cells}</tr>`;
    })
    .join('\n');
  return `<table${opts.id ? ` id="${opts.id}"` : ''}${opts.sortable ? ' class="sortable"' : ''}><thead><tr>${head}</tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

function section(title: string, body: string, note?: string[]): string {
  return `<section><h2>${esc(title)}</h2>${body}${(note ?? []).map((n) => `<p class="note">${esc(n)}</p>`).join('')}</section>`;
}

/** The pivot shown on the page: the one asked for, else the axis with most values × the one with fewest. */
function pagePivot(report: Report): Report | undefined {
  if (report.pivot) return report;
  const axes = varyingAxes(report);
  if (axes.length < 2) return undefined;
  const cols = facetAxis(report) ?? axes[axes.length - 1];
  const rows = numericAxes(report).find((a) => a !== cols) ?? axes.find((a) => a !== cols)!;
  return {...report, pivot: buildPivot(report.variants, report.axes, `${rows},${cols}`)};
}

const CSS = `
:root { --fg:#1d232b; --muted:#5b6673; --line:#dfe3e8; --bg:#f6f7f9; --card:#fff; --accent:#4e79a7; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; color:var(--fg); background:var(--bg); }
header { padding:20px 24px 12px; background:var(--card); border-bottom:1px solid var(--line); }
header h1 { margin:0 0 4px; font-size:20px; font-weight:600; }
header .meta { color:var(--muted); }
.badges { margin-top:8px; display:flex; gap:6px; flex-wrap:wrap; }
.badge { padding:2px 8px; border-radius:10px; font-size:12px; background:#eef1f4; }
.badge[data-status=done] { background:#e3f1e0; } .badge[data-status=diverged] { background:#fdebd3; }
.badge[data-status=failed] { background:#fbe0e0; } .badge[data-status=running] { background:#e0ebf7; }
main { padding:16px 24px 40px; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 18px; margin:0 0 16px; overflow-x:auto; }
h2 { font-size:15px; margin:0 0 10px; font-weight:600; }
.charts { display:grid; grid-template-columns:repeat(auto-fit,minmax(440px,1fr)); gap:16px; margin-bottom:16px; }
.chart { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px 8px; }
.chart h3 { font-size:14px; margin:0; font-weight:600; }
.chart .sub { color:var(--muted); font-size:12px; margin:2px 0 6px; }
.chart .box { position:relative; height:300px; }
table { border-collapse:collapse; font-variant-numeric:tabular-nums; white-space:nowrap; font-size:13px; }
th, td { padding:4px 8px; border-bottom:1px solid var(--line); text-align:left; }
th { font-weight:600; background:#fafbfc; position:sticky; top:0; }
td.num, th.num { text-align:right; }
td.wrap { white-space:normal; min-width:110px; max-width:300px; }
td.err { min-width:160px; color:#8a1f1f; font-size:12px; }
tbody tr:hover { background:#f3f6fa; }
table.sortable th { cursor:pointer; user-select:none; }
table.sortable th[aria-sort=ascending]::after { content:" ▲"; font-size:10px; }
table.sortable th[aria-sort=descending]::after { content:" ▼"; font-size:10px; }
td[data-status=diverged] { color:#b35c00; font-weight:600; } td[data-status=failed] { color:#c62828; font-weight:600; }
td[data-status=running] { color:#1f5fa8; }
.note { color:var(--muted); font-size:12px; margin:8px 0 0; }
details pre { background:#f3f5f7; padding:10px; border-radius:6px; overflow-x:auto; }
`;

/** Draws the charts from their specs and makes tables sortable; runs in the page. */
const PAGE_SCRIPT = `
(function () {
  var data = JSON.parse(document.getElementById('ablate-data').textContent);
  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return 'rgba(' + (n >> 16) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + a + ')';
  }
  function fmtTick(v) {
    var a = Math.abs(v);
    if (a >= 1e9) return +(v / 1e9).toPrecision(3) + 'G';
    if (a >= 1e6) return +(v / 1e6).toPrecision(3) + 'M';
    if (a >= 1e3) return +(v / 1e3).toPrecision(3) + 'K';
    return +v.toPrecision(3) + '';
  }
  // Log axes label 1, 2 and 5 times a power of ten only; linear axes label every tick.
  function xTick(type) {
    return function (v) {
      if (type !== 'logarithmic') return fmtTick(v);
      var m = v / Math.pow(10, Math.floor(Math.log10(v) + 1e-9));
      return Math.abs(m - 1) < 1e-6 || Math.abs(m - 2) < 1e-6 || Math.abs(m - 5) < 1e-6 ? fmtTick(v) : '';
    };
  }
  var charts = [];
  data.charts.forEach(function (spec) {
    var canvas = document.getElementById(spec.id);
    var datasets = spec.series.map(function (s) {
      var band = s.role !== 'mean';
      return {
        label: s.label,
        role: s.role,
        curve: s.curve,
        legend: s.legend,
        data: s.points,
        borderColor: band ? 'transparent' : s.color,
        backgroundColor: band ? alpha(s.color, s.curve === 'train' ? 0.08 : 0.16) : s.color,
        borderDash: s.dashed ? [6, 4] : [],
        borderWidth: band ? 0 : 2,
        pointRadius: band ? 0 : (spec.kind === 'curves' ? 0 : 3),
        pointHoverRadius: band ? 0 : 4,
        fill: s.role === 'band-hi' ? '-1' : false,
        spanGaps: false,
        showLine: true,
        tension: 0
      };
    });
    var chart = new Chart(canvas, {
      type: 'line',
      data: {datasets: datasets},
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: {xAxisKey: 'x', yAxisKey: 'y'},
        interaction: {mode: spec.kind === 'curves' ? 'index' : 'nearest', intersect: false},
        scales: {
          x: {
            type: spec.xType, min: spec.xMin, max: spec.xMax, title: {display: true, text: spec.xLabel},
            ticks: {callback: spec.kind === 'params' || spec.kind === 'macs' ? xTick(spec.xType) : undefined, maxTicksLimit: 10, precision: spec.kind === 'curves' ? 0 : undefined}
          },
          y: {title: {display: true, text: spec.yLabel}, min: spec.yMin, max: spec.yMax}
        },
        plugins: {
          legend: {position: 'bottom', labels: {boxWidth: 14, boxHeight: 2, filter: function (item, d) { return d.datasets[item.datasetIndex].legend; }}},
          tooltip: {
            filter: function (item) { return item.dataset.role === 'mean'; },
            callbacks: {
              label: function (ctx) {
                var raw = ctx.raw || {};
                if (raw.label) return raw.label;
                return ctx.dataset.label + ': ' + (ctx.parsed.y == null ? '—' : ctx.parsed.y.toFixed(2));
              }
            }
          }
        }
      }
    });
    charts.push({id: spec.id, kind: spec.kind, chart: chart});
  });

  document.querySelectorAll('table.sortable').forEach(function (table) {
    var ths = table.querySelectorAll('th');
    ths.forEach(function (th, col) {
      function sort() {
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        ths.forEach(function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
          if (x === '' && y === '') return 0;
          if (x === '') return 1;
          if (y === '') return -1;
          var nx = Number(x), ny = Number(y);
          var c = !isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y);
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); } });
    });
  });
  window.ablateReport = {ready: true, charts: charts};
})();
`;

function chartHtml(spec: ChartSpec): string {
  return `<div class="chart"><h3>${esc(spec.title)}</h3>${spec.subtitle ? `<div class="sub">${esc(spec.subtitle)}</div>` : ''}<div class="box"><canvas id="${esc(spec.id)}" data-kind="${spec.kind}" role="img" aria-label="${esc(spec.title)}"></canvas></div></div>`;
}

/** The whole page as one string. */
export function buildHtml(report: Report, opts: HtmlOptions = {}): string {
  const charts = chartSpecs(report);
  const variants = variantTable(report);
  const pivotReport = pagePivot(report);
  const trials = trialRows(report);
  const c = report.counts;
  const badges = (['done', 'diverged', 'failed', 'running', 'pending'] as const)
    .filter((s) => c[s] > 0)
    .map((s) => `<span class="badge" data-status="${s}">${c[s]} ${s}</span>`)
    .join('');
  const curveCharts = charts.filter((ch) => ch.kind === 'curves');
  const otherCharts = charts.filter((ch) => ch.kind !== 'curves');
  const title = `ablate report — ${report.sweep.name}`;
  const body = [
    `<header><h1>${esc(title)}</h1><div class="meta">sweep #${report.sweep.id} · ${esc(report.sweep.status)} · created ${esc(dateTime(report.sweep.createdAt))}` +
      `${report.sweep.configPath ? ` · ${esc(report.sweep.configPath)}` : ''} · ${report.variants.length} variants, ${countsText(c)}` +
      `${Object.keys(report.where).length > 0 ? ` · where ${esc(Object.entries(report.where).map(([k, v]) => `${k}=${v}`).join(' '))}` : ''}` +
      ` · generated ${esc(dateTime(report.generatedAt))}</div>` +
      `<div class="meta">${report.engines.length > 0 ? `trained on ${esc(report.engines.map((u) => (report.engines.length > 1 ? `${engineText(u)} × ${u.trials}` : engineText(u))).join('; '))}` : 'engine not recorded'}</div>` +
      `<div class="badges">${badges}</div></header>`,
    '<main>',
    section(variants.title ?? 'Variants', tableHtml({...variants, title: undefined}), variants.notes),
    pivotReport ? section(pivotTable(pivotReport).title ?? 'Pivot', tableHtml(pivotTable(pivotReport)), pivotTable(pivotReport).notes) : '',
    curveCharts.length > 0 ? `<div class="charts">${curveCharts.map(chartHtml).join('')}</div>` : '',
    otherCharts.length > 0 ? `<div class="charts">${otherCharts.map(chartHtml).join('')}</div>` : '',
    section(
      'Trials',
      tableHtml({head: trials.head, align: trials.head.map((h) => (/(%\)|time|params|MACs|epochs|seed|trial)$/.test(h) ? 'right' : 'left')), rows: trials.rows.map((r) => r.text)}, {
        sortable: true,
        id: 'trials',
        values: trials.rows.map((r) => r.values),
      }),
      ['click a column title to sort; errors in %'],
    ),
    opts.configYaml ? `<section><details><summary>study file</summary><pre>${esc(opts.configYaml)}</pre></details></section>` : '',
    '</main>',
  ].join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
${body}
<script id="ablate-data" type="application/json">${scriptJson({charts})}</script>
<script>${chartJs()}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

/** Write the page atomically (temp file, then rename), creating the folder. */
export function writeHtmlReport(report: Report, file: string, opts: HtmlOptions = {}): void {
  const html = buildHtml(report, opts);
  try {
    fs.mkdirSync(path.dirname(path.resolve(file)), {recursive: true});
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, html);
    fs.renameSync(tmp, file);
  } catch (e) {
    throw new EnvironmentError(`cannot write ${file}: ${(e as Error).message}`, {hint: 'choose a writable path for --html'});
  }
}
