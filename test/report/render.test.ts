import {test} from 'node:test';
import assert from 'node:assert/strict';
import {displayWidth, renderTerminal, terminalPieces} from '../../src/report/render';

test('terminal table: borders, a rule between rows, alignment per column, multi-line and wide cells', () => {
  const out = renderTerminal({
    title: 'T',
    head: ['a', 'bb', 'c'],
    align: ['left', 'right', 'center'],
    rows: [
      ['xxxxx', 'yyyyyy', 'zzzzzzz'],
      ['1', '2\nsecond line', '3'],
      ['Δ±—×', '日本', 'e\u0301'],
    ],
    notes: ['n1'],
  });
  assert.equal(
    out,
    [
      'T',
      '┌───────┬─────────────┬─────────┐',
      '│ a     │          bb │    c    │',
      '├───────┼─────────────┼─────────┤',
      '│ xxxxx │      yyyyyy │ zzzzzzz │',
      '├───────┼─────────────┼─────────┤',
      '│ 1     │           2 │    3    │',
      '│       │ second line │         │',
      '├───────┼─────────────┼─────────┤',
      '│ Δ±—×  │        日本 │    e\u0301    │',
      '└───────┴─────────────┴─────────┘',
      'n1',
      '',
    ].join('\n'),
  );
  // Centre: the odd space goes to the right.
  assert.equal(renderTerminal({head: ['abc'], align: ['center'], rows: [['x']]}).split('\n')[3], '│  x  │');
  assert.equal(renderTerminal({head: ['ab'], align: ['center'], rows: [['x']]}).split('\n')[3], '│ x  │');
  assert.equal(renderTerminal({head: ['a', 'b'], rows: []}), '┌───┬───┐\n│ a │ b │\n└───┴───┘\n');
});

test('display width: ASCII, symbols, combining marks, wide scripts and emoji', () => {
  assert.equal(displayWidth('8.75 ± 0.21 (n=3)'), 17);
  assert.equal(displayWidth('▁▂▃█ −1.2 — Δ'), 13);
  assert.equal(displayWidth('e\u0301'), 1);
  assert.equal(displayWidth('日本'), 4);
  assert.equal(displayWidth('ok 🚀'), 5);
  assert.equal(displayWidth('\u{1D465}'), 1, 'an astral character outside the wide ranges is one column');
});

test('a 5,000-row table draws in well under a second of CPU (cli-table3 took about 9 s)', () => {
  const head = ['model.depth', 'model.residual', 'model.width', 'lr', 'params', 'MACs', 'final test err (%)', 'best test err (%)', 'final train err (%)', 'epochs', 'time', 'trials'];
  const rows = Array.from({length: 5000}, (_, i) => [String(8 + (i % 5) * 6), String(i % 2 === 0), '0.5', String(0.01 * i), '0.27M', '41M', '8.75 ± 0.21 (n=2)', '8.10 ± 0.30 (n=2)', '3.02 ± 0.11 (n=2)', '3', '1.2s', '2 done']);
  // CPU time, not wall time: the machine may be shared.
  const c0 = process.cpuUsage();
  const out = renderTerminal({head, align: head.map(() => 'right'), rows});
  const c = process.cpuUsage(c0);
  const ms = (c.user + c.system) / 1000;
  assert.equal(out.split('\n').length, 2 + 1 + 2 * 5000 + 1);
  assert.ok(ms < 1500, `took ${ms.toFixed(0)} ms of CPU`);
});

test('a terminal table in pieces of a few lines joins to the same text, each piece whole lines', () => {
  const table = {
    title: 'T',
    head: ['a', 'b'],
    rows: Array.from({length: 7}, (_, i) => [String(i), i === 3 ? 'two\nlines' : 'x'.repeat(i)]),
    notes: ['n1', 'n2'],
  };
  const whole = renderTerminal(table);
  for (const n of [1, 3, 1000]) {
    const pieces = [...terminalPieces(table, n)];
    assert.equal(pieces.join(''), whole);
    for (const p of pieces) assert.ok(p.endsWith('\n'), JSON.stringify(p));
    if (n === 1) assert.ok(pieces.length > 7);
  }
});
