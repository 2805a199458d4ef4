import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import {openDb, type Db} from '../../src/store/db';
import {buildReport} from '../../src/report/model';
import {engineNotes, pivotTable, renderReport, reportJson, reportJsonText, variantCsv, variantTable} from '../../src/report/views';
import {parseCsv, parseMarkdownTable, renderCsv, renderMarkdown} from '../../src/report/render';
import {duration, humanCount, summaryCell} from '../../src/report/format';
import {makeFixture, openFixture, closeFixture, ENGINE, type Fixture} from './fixture';

let fx: Fixture;
let db: Db;
before(() => ({fx, db} = openFixture()));
after(() => closeFixture(fx, db));

test('counts print in the papers units', () => {
  assert.equal(humanCount(269_722), '0.27M');
  assert.equal(humanCount(853_018), '0.85M');
  assert.equal(humanCount(1_730_000), '1.7M');
  assert.equal(humanCount(40_808_448), '41M');
  assert.equal(humanCount(253_000_000), '253M');
  assert.equal(humanCount(11_600_000_000), '12G');
  assert.equal(humanCount(4_400), '4.4K');
  assert.equal(humanCount(73_000), '73K');
  assert.equal(humanCount(650), '650');
  assert.equal(humanCount(null), '—');
});

test('a cell with one seed says n=1 instead of ±0', () => {
  assert.equal(summaryCell({mean: 8.75, std: NaN, n: 1}), '8.75 (n=1)');
  assert.equal(summaryCell({mean: 8.75, std: 0.214, n: 3}), '8.75 ± 0.21 (n=3)');
  assert.equal(summaryCell(null), '—');
  assert.equal(duration(12.34), '12.3s');
  assert.equal(duration(245), '4m 05s');
  assert.equal(duration(3720), '1h 02m');
});

test('terminal table: one row per variant, diverged and failed named', () => {
  const r = buildReport(db, {sweep: 'depth-sweep'});
  const out = renderReport(r, 'table');
  assert.match(out, /final test err \(%\)/);
  const lines = out.split('\n').filter((l) => /^│ \d/.test(l));
  assert.equal(lines.length, 6);
  assert.match(out, /2 done, 1 diverged/);
  assert.match(out, /2 done, 1 failed/);
  assert.match(out, /1 done, 1 running, 1 pending/);
  assert.match(out, /\d+\.\d\d \(n=1\)/);
  assert.doesNotMatch(out, /± 0\.00 \(n=1\)/);
  assert.match(out, /0\.27M/);
});

test('a variant whose every seed diverged shows "diverged", not a number', () => {
  const r = buildReport(db, {sweep: 'depth-sweep', where: ['model.depth=56', 'model.residual=false', 'seed=3']});
  const t = variantTable(r);
  assert.equal(t.rows.length, 1);
  assert.ok(t.rows[0].includes('diverged'), t.rows[0].join(' | '));
});

test('CSV parses back to the numbers of the report', () => {
  const r = buildReport(db, {sweep: 'depth-sweep', baseline: ['model.residual=false']});
  const rows = parseCsv(renderReport(r, 'csv'));
  const [head, ...body] = rows;
  assert.equal(body.length, 6);
  const col = (name: string) => {
    const i = head.indexOf(name);
    assert.ok(i >= 0, `column ${name} in ${head.join(',')}`);
    return i;
  };
  body.forEach((row, i) => {
    const v = r.variants[i];
    assert.equal(row[col('model.depth')], String(v.variant['model.depth']));
    assert.equal(Number(row[col('final_test_err_pct_mean')]), v.metrics.final_test_err?.mean);
    assert.equal(Number(row[col('final_test_err_pct_n')]), v.metrics.final_test_err?.n);
    assert.equal(Number(row[col('params')]), v.params);
    assert.equal(Number(row[col('diverged')]), v.counts.diverged);
    const d = v.baseline?.difference;
    if (d?.ci) assert.equal(Number(row[col('diff_ci_lo')]), d.ci.lo);
    if (d) assert.equal(row[col('diff_test')], d.test);
    if (d && !d.ci) assert.equal(row[col('diff_ci_lo')], '');
  });
  // n = 1: the std cell is empty, not 0.
  const partial = body.find((row) => row[col('model.depth')] === '56' && row[col('model.residual')] === 'true');
  assert.ok(partial);
  assert.equal(partial[col('final_test_err_pct_std')], '');
});

test('CSV quoting survives commas, quotes and newlines', () => {
  const text = renderCsv({head: ['a', 'b'], rows: [['x,y', 'say "hi"'], ['two\nlines', null]]});
  assert.deepEqual(parseCsv(text), [
    ['a', 'b'],
    ['x,y', 'say "hi"'],
    ['two\nlines', ''],
  ]);
});

test('JSON parses back with statistics per variant and per-trial states', () => {
  const r = buildReport(db, {sweep: 'depth-sweep', pivot: 'model.depth,model.residual'});
  const doc = JSON.parse(renderReport(r, 'json'));
  assert.equal(doc.sweep.name, 'depth-sweep');
  assert.equal(doc.units.err, 'percent');
  assert.equal(doc.variants.length, 6);
  const v = doc.variants.find((x: {variant: Record<string, unknown>}) => x.variant['model.depth'] === 56 && x.variant['model.residual'] === false);
  assert.equal(v.metrics.final_test_err.n, 2);
  assert.equal(v.trials.filter((t: {status: string}) => t.status === 'diverged').length, 1);
  const one = doc.variants.find((x: {variant: Record<string, unknown>}) => x.variant['model.depth'] === 56 && x.variant['model.residual'] === true);
  assert.equal(one.metrics.final_test_err.std, null, 'n = 1 has no std');
  assert.deepEqual(doc.pivot.rows, ['model.depth']);
  assert.equal(doc.pivot.cells.length, 3);
});

test('the JSON document written in pieces is the JSON of the whole report, byte for byte, indented and compact', () => {
  const reports = [
    buildReport(db, {sweep: 'depth-sweep', pivot: 'model.depth,model.residual', baseline: ['model.residual=false']}),
    buildReport(db, {sweep: 'depth-sweep', where: ['model.depth=56']}),
  ];
  for (const r of reports) {
    assert.ok(r.variants.length > 1);
    for (const indent of [2, 0] as const) {
      const whole = JSON.stringify(reportJson(r), null, indent) + '\n';
      assert.equal([...reportJsonText(r, {indent})].join(''), whole);
      // One variant a piece (between the head and the tail, with the separators as pieces of their own) joins to the same text.
      const pieces = [...reportJsonText(r, {indent, batch: 1})];
      assert.equal(pieces.filter((p) => p !== (indent ? ',\n' : ',')).length, r.variants.length + 2);
      assert.equal(pieces.join(''), whole);
      assert.equal([...reportJsonText(r, {indent, batch: 2})].join(''), whole);
    }
    assert.ok(!renderReport(r, 'json', {compactJson: true}).trimEnd().includes('\n'), 'compact JSON is one line');
    assert.deepEqual(JSON.parse(renderReport(r, 'json', {compactJson: true})), JSON.parse(renderReport(r, 'json')));
  }
  const none = {...reports[1], variants: []};
  for (const indent of [2, 0] as const) assert.equal([...reportJsonText(none, {indent})].join(''), JSON.stringify(reportJson(none), null, indent) + '\n');
  assert.match(JSON.stringify(reportJson(none), null, 2), /"variants": \[\]/);
});

test('Markdown parses back as a GitHub table with the same cells as the terminal table', () => {
  const r = buildReport(db, {sweep: 'depth-sweep', baseline: ['model.residual=false']});
  const md = renderReport(r, 'markdown');
  const parsed = parseMarkdownTable(md);
  const t = variantTable(r);
  assert.deepEqual(parsed.head, t.head);
  assert.deepEqual(parsed.rows, t.rows);
  assert.match(md, /^\*\*sweep depth-sweep/);
  assert.match(md, /\| ---: \|/);
  // Pipes inside cells are escaped.
  const esc = renderMarkdown({head: ['a|b'], rows: [['x|y']]});
  assert.deepEqual(parseMarkdownTable(esc), {head: ['a|b'], rows: [['x|y']]});
});

test('pivot renders the depth × plain/residual table in every format', () => {
  const r = buildReport(db, {sweep: 'depth-sweep', pivot: 'model.depth,model.residual'});
  const table = renderReport(r, 'table');
  assert.match(table, /model\.residual=false/);
  assert.match(table, /n=2, 1 diverged/);
  const md = parseMarkdownTable(renderReport(r, 'markdown'));
  assert.deepEqual(md.head, ['model.depth', 'model.residual=false', 'model.residual=true']);
  assert.deepEqual(md.rows.map((x) => x[0]), ['20', '32', '56']);
  const csv = parseCsv(renderReport(r, 'csv'));
  assert.deepEqual(csv[0].slice(0, 4), ['model.depth', 'model.residual=false:final_test_err_pct_mean', 'model.residual=false:final_test_err_pct_std', 'model.residual=false:final_test_err_pct_n']);
  const cell = r.pivot!.rows[0].cells[1]!;
  assert.equal(Number(csv[1][4]), cell.metrics.final_test_err!.mean);
});

test('--curves appends one sparkline per variant; --only-changed drops constant columns', () => {
  const r = buildReport(db, {sweep: 'depth-sweep', where: ['model.depth=56'], onlyChanged: true});
  const out = renderReport(r, 'table', {curves: true});
  assert.doesNotMatch(out.split('\n')[1], /params|MACs|model\.depth/);
  const sparkLines = out.split('\n').filter((l) => /^residual=(true|false) /.test(l));
  assert.equal(sparkLines.length, 2);
  const csv = parseCsv(renderCsv(variantCsv(r)));
  assert.equal(csv[0][0], 'model.residual');
  assert.ok(!csv[0].includes('params'));
});

test('a variant whose seeds ran on different engines is flagged in every table and in JSON', () => {
  const mixed = makeFixture();
  try {
    const w = openDb(mixed.file);
    // One seed of depth-20 plain fell back to the reference engine.
    w.prepare("UPDATE trials SET engine = 'tfjs-cpu', engine_json = ? WHERE sweep_id = ? AND idx = 1")
      .run(JSON.stringify({...ENGINE, name: 'tfjs-cpu', threads: 1, versions: {node: '20.19.2', 'tfjs-core': '4.22.0', cpu: 'Test CPU'}}), mixed.otherId);
    w.close();
    const ro = openDb(mixed.file, {readonly: true});
    const r = buildReport(ro, {sweep: 'depth-sweep-b'});
    ro.close();
    const v = r.variants.find((x) => x.variant['model.depth'] === 20 && x.variant['model.residual'] === false)!;
    assert.deepEqual(v.engines, ['native-cpu', 'tfjs-cpu']);
    assert.equal(r.variants.filter((x) => x.engines.length > 1).length, 1);
    assert.deepEqual(r.engines.map((u) => [u.engine, u.trials]), [['native-cpu', 17], ['tfjs-cpu', 1]]);
    const notes = engineNotes(r);
    assert.equal(notes[0], 'warning: depth=20 residual=false mixes engines (native-cpu, tfjs-cpu); its seeds are not comparable as they stand');
    assert.match(notes[1], /^engines: native-cpu \(node 20\.19\.2, .*oneDNN 2\.6\.3, .*\) × 17; tfjs-cpu \(node 20\.19\.2, tfjs-core 4\.22\.0, cpu Test CPU\) × 1$/);
    assert.ok(renderReport(r, 'table').includes(notes[0]));
    assert.ok(renderReport({...r, pivot: undefined}, 'markdown').includes(notes[0]));
    const json = JSON.parse(renderReport(r, 'json'));
    assert.deepEqual(json.variants[0].engines, ['native-cpu', 'tfjs-cpu']);
    assert.equal(json.variants[0].trials[1].engine, 'tfjs-cpu');
    // The fixture's other sweeps ran on one engine: no note at all.
    const one = openDb(mixed.file, {readonly: true});
    assert.deepEqual(engineNotes(buildReport(one, {sweep: 'smoke'})), []);
    one.close();
  } finally {
    mixed.cleanup();
  }
});

test('pivot with --baseline adds a Δ column per compared column: interval, test, star and legend', () => {
  const r = buildReport(db, {sweep: 'depth-sweep', pivot: 'model.depth,model.residual', baseline: ['model.residual=false']});
  const t = pivotTable(r);
  assert.deepEqual(t.head, ['model.depth', 'model.residual=false', 'model.residual=true', 'Δ model.residual=true vs baseline [95% CI]']);
  const byDepth = new Map(t.rows.map((row) => [row[0], row[3]]));
  const d20 = r.pivot!.rows[0].cells[1]!.baseline!.difference!;
  assert.ok(d20.ci);
  const star = d20.ci.lo > 0 || d20.ci.hi < 0 ? ' \\*' : '';
  assert.match(byDepth.get('20') ?? '', new RegExp(`^[−+]\\d+\\.\\d\\d \\[[−+]?\\d+\\.\\d\\d, [−+]?\\d+\\.\\d\\d\\]${star} \\(paired, n=3\\)$`));
  assert.match(byDepth.get('32') ?? '', /\(paired, n=2, 1 unpaired left out\)$/);
  assert.match(byDepth.get('56') ?? '', /^[−+]\d+\.\d\d \(no interval: n=1 on one side; Welch, n=1 vs 2\)$/);
  assert.match(t.notes!.join('\n'), /paired t-test on the per-seed differences.*Welch's t where the seeds differ.*\* = interval excludes 0/);
  const csv = parseCsv(renderReport(r, 'csv'));
  const col = csv[0].indexOf('model.residual=true:diff_test');
  assert.ok(col > 0, csv[0].join(','));
  assert.deepEqual(csv.slice(1).map((row) => row[col]), ['paired', 'paired', 'welch']);
  const excl = csv[0].indexOf('model.residual=true:diff_excludes_0');
  assert.deepEqual(
    csv.slice(1).map((row) => row[excl]),
    r.pivot!.rows.map((row) => String(!!row.cells[1]?.baseline?.difference?.ci && (row.cells[1].baseline.difference.ci.lo > 0 || row.cells[1].baseline.difference.ci.hi < 0))),
  );
  assert.equal(csv[3][excl], 'false', 'no interval excludes nothing');
  const doc = JSON.parse(renderReport(r, 'json'));
  assert.equal(doc.pivot.cells[0].differences[0], null, 'the baseline column has no difference');
  assert.equal(doc.pivot.cells[2].differences[1].noInterval, 'n=1 on one side');
  const md = parseMarkdownTable(renderReport(r, 'markdown'));
  assert.deepEqual(md.rows, t.rows);
});
