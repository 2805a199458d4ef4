/**
 * `ablate report --html FILE`: one self-contained page (no network: Chart.js is inlined) with the
 * comparison tables, the plots of charts.ts and the per-trial table, sortable by any column. Tables travel
 * as data and are drawn a page at a time, so a sweep of thousands of trials stays a few megabytes and the
 * tab stays responsive.
 *
 * Chart.js 4 over Vega-Lite: one 200 kB UMD file already in our dependencies (Vega-Lite + vega-embed
 * would add ~800 kB and three packages), canvas rendering that stays fast with hundreds of series,
 * and a filled area between two datasets is all a ±std band needs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {EnvironmentError} from '../errors';
import {chartSpecs, facetAxis, numericAxes, pointLabels, varyingAxes, type ChartSpec} from './charts';
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

/** A table's data for the page, column by column: values to sort by, and the shown text where it differs. */
export interface TableData {
  head: string[];
  align: ('left' | 'right' | 'center')[];
  /** Per column: `v` the values (null: empty), `t` the text when it is not just the value. */
  cols: {v: (string | number | boolean | null)[]; t?: string[]}[];
}

/** What the page shows for a value when a column has no text of its own (the page script does the same). */
const shown = (v: string | number | boolean | null) => (v === null ? '—' : String(v));
/** Sort keys need no more than 7 significant digits, and the page is smaller without the rest. */
const sortKey = (x: unknown): string | number | boolean | null =>
  x === null || x === undefined ? null : typeof x === 'number' ? (Number.isFinite(x) ? Number(x.toPrecision(7)) : null) : typeof x === 'object' ? JSON.stringify(x) : (x as string | boolean);

export function tableData(t: TextTable): TableData {
  const n = t.head.length;
  const cols = Array.from({length: n}, (_, i) => {
    const v = t.rows.map((r, ri) => sortKey(t.values ? t.values[ri]?.[i] : r[i]));
    const text = t.rows.map((r) => r[i] ?? '');
    return text.every((x, ri) => x === shown(v[ri])) ? {v} : {v, t: text};
  });
  return {head: t.head, align: t.head.map((_, i) => t.align?.[i] ?? 'left'), cols};
}

/**
 * The table's head; the page script fills the body a page at a time from `tables[id]` (a 10,000-trial
 * sweep as HTML rows made a 17 MB page that froze the browser tab while it laid them out).
 */
function tableShell(id: string, t: TextTable, tables: Record<string, TableData>): string {
  tables[id] = tableData(t);
  const cls = (i: number) => (t.align?.[i] === 'right' ? ' class="num"' : t.head[i] === 'error' ? ' class="wrap err"' : t.head[i] === 'trials' ? ' class="wrap"' : '');
  const head = t.head.map((h, i) => `<th${cls(i)} tabindex="0" role="button">${esc(h)}</th>`).join('');
  return `<div class="paged" data-table="${id}"><table id="${id}" class="sortable"><thead><tr>${head}</tr></thead><tbody></tbody></table></div>`;
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
.pager { display:flex; gap:8px; align-items:center; margin:8px 0 0; color:var(--muted); font-size:12px; flex-wrap:wrap; }
.pager button { font:inherit; padding:1px 8px; border:1px solid var(--line); border-radius:4px; background:#fff; cursor:pointer; }
.pager button:disabled { opacity:.4; cursor:default; }
.pager input { font:inherit; padding:1px 6px; border:1px solid var(--line); border-radius:4px; width:200px; }
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
        pointRadius: band ? 0 : (spec.kind === 'curves' ? 0 : s.pointsOnly ? 2 : 3),
        pointHoverRadius: band ? 0 : 4,
        fill: s.role === 'band-hi' ? '-1' : false,
        spanGaps: false,
        showLine: !s.pointsOnly,
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
                if (raw.v !== undefined && data.pointLabels[raw.v] !== undefined) return data.pointLabels[raw.v];
                return ctx.dataset.label + ': ' + (ctx.parsed.y == null ? '—' : ctx.parsed.y.toFixed(2));
              }
            }
          }
        }
      }
    });
    charts.push({id: spec.id, kind: spec.kind, chart: chart});
  });

  // Tables: the body is drawn a page at a time from the data; sorting and filtering work on every row.
  var PAGE = 100;
  var tables = {};
  function cellText(col, r) { return col.t ? col.t[r] : (col.v[r] === null ? '\u2014' : String(col.v[r])); }
  Array.prototype.forEach.call(document.querySelectorAll('div.paged'), function (box) {
    var id = box.getAttribute('data-table');
    var spec = data.tables[id];
    var table = box.querySelector('table');
    var body = table.tBodies[0];
    var ths = table.querySelectorAll('th');
    var n = spec.cols.length ? spec.cols[0].v.length : 0;
    var all = [];
    for (var i = 0; i < n; i++) all.push(i);
    var order = all.slice();
    var page = 0;
    var statusCol = spec.head.indexOf('status');
    var pager = document.createElement('div');
    pager.className = 'pager';
    function button(label, title) {
      var b = document.createElement('button');
      b.type = 'button';
      b.textContent = label;
      b.title = title;
      pager.appendChild(b);
      return b;
    }
    var first = button('\u00ab', 'first page'), prev = button('\u2039', 'previous page');
    var info = document.createElement('span');
    pager.appendChild(info);
    var next = button('\u203a', 'next page'), last = button('\u00bb', 'last page');
    var filter = document.createElement('input');
    filter.type = 'search';
    filter.placeholder = 'filter rows';
    filter.setAttribute('aria-label', 'filter rows of ' + id);
    if (n > PAGE) {
      pager.appendChild(filter);
      box.appendChild(pager);
    }
    function pages() { return Math.max(1, Math.ceil(order.length / PAGE)); }
    function draw() {
      page = Math.min(Math.max(0, page), pages() - 1);
      var frag = document.createDocumentFragment();
      var end = Math.min(order.length, (page + 1) * PAGE);
      for (var k = page * PAGE; k < end; k++) {
        var r = order[k];
        var tr = document.createElement('tr');
        for (var c = 0; c < spec.cols.length; c++) {
          var col = spec.cols[c];
          var td = document.createElement('td');
          var text = cellText(col, r);
          td.textContent = text;
          var cls = ths[c].className;
          if (cls) td.className = cls;
          var v = col.v[r];
          td.setAttribute('data-v', v === null ? '' : String(v));
          if (c === statusCol && /^(done|diverged|failed|running|pending)$/.test(text)) td.setAttribute('data-status', text);
          tr.appendChild(td);
        }
        frag.appendChild(tr);
      }
      body.textContent = '';
      body.appendChild(frag);
      info.textContent = order.length === 0 ? 'no rows' : 'rows ' + (page * PAGE + 1) + '\u2013' + end + ' of ' + order.length + (order.length < n ? ' (filtered from ' + n + ')' : '');
      first.disabled = prev.disabled = page === 0;
      next.disabled = last.disabled = page >= pages() - 1;
    }
    first.addEventListener('click', function () { page = 0; draw(); });
    prev.addEventListener('click', function () { page--; draw(); });
    next.addEventListener('click', function () { page++; draw(); });
    last.addEventListener('click', function () { page = pages() - 1; draw(); });
    var sorted = null;
    filter.addEventListener('input', function () {
      var q = filter.value.trim().toLowerCase();
      var base = sorted || all;
      order = q === '' ? base.slice() : base.filter(function (r) {
        for (var c = 0; c < spec.cols.length; c++) if (cellText(spec.cols[c], r).toLowerCase().indexOf(q) >= 0) return true;
        return false;
      });
      page = 0;
      draw();
    });
    Array.prototype.forEach.call(ths, function (th, col) {
      function sort() {
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(ths, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        var vals = spec.cols[col].v;
        function cmp(a, b) {
          var x = vals[a], y = vals[b];
          if (x === null && y === null) return a - b;
          if (x === null) return 1;
          if (y === null) return -1;
          var c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
          return (asc ? c : -c) || a - b;
        }
        sorted = all.slice().sort(cmp);
        order = order.length === n ? sorted.slice() : order.slice().sort(cmp);
        page = 0;
        draw();
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); } });
    });
    draw();
    tables[id] = {rows: n, page: function () { return page; }, draw: draw};
  });
  window.ablateReport = {ready: true, charts: charts, tables: tables};
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
  const pivot = pivotReport ? pivotTable(pivotReport) : undefined;
  const trials = trialRows(report);
  const tables: Record<string, TableData> = {};
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
    section(variants.title ?? 'Variants', tableShell('variants', variants, tables), [...(variants.notes ?? []), 'click a column title to sort']),
    pivot ? section(pivot.title ?? 'Pivot', tableShell('pivot', pivot, tables), pivot.notes) : '',
    curveCharts.length > 0 ? `<div class="charts">${curveCharts.map(chartHtml).join('')}</div>` : '',
    otherCharts.length > 0 ? `<div class="charts">${otherCharts.map(chartHtml).join('')}</div>` : '',
    section(
      'Trials',
      tableShell(
        'trials',
        {
          head: trials.head,
          align: trials.head.map((h) => (/(%\)|time|params|MACs|epochs|seed|trial)$/.test(h) ? 'right' : 'left')),
          rows: trials.rows.map((r) => r.text),
          values: trials.rows.map((r) => r.values),
        },
        tables,
      ),
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
<script id="ablate-data" type="application/json">${scriptJson({charts, tables, pointLabels: pointLabels(report)})}</script>
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
