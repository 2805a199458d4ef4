/**
 * Renderers shared by report, compare, status and show: one table shape (`TextTable`) drawn as a
 * terminal table (box-drawing borders), GitHub Markdown, or CSV (RFC 4180).
 *
 * Terminal and Markdown tables carry formatted text ("8.75 ± 0.21 (n=3)"); CSV carries numbers, so
 * each statistic gets its own column (mean, std, n) and parses back without string surgery.
 */
export type Align = 'left' | 'right' | 'center';

export interface TextTable {
  /** One line above the table (e.g. "final test err (%), mean ± std over seeds"). */
  title?: string;
  head: string[];
  align?: Align[];
  rows: string[][];
  /** Per cell, the value a column sorts by (the HTML report); absent: the text. */
  values?: CsvValue[][];
  /** Lines printed under the table. */
  notes?: string[];
}

export type CsvValue = string | number | boolean | null | undefined;

export interface CsvTable {
  head: string[];
  rows: CsvValue[][];
}

/** Characters of East Asian wide and fullwidth scripts and emoji: two terminal columns each. */
const WIDE = '\\u1100-\\u115F\\u2E80-\\u303E\\u3041-\\u33FF\\u3400-\\u4DBF\\u4E00-\\u9FFF\\uA000-\\uA4CF\\uAC00-\\uD7A3\\uF900-\\uFAFF\\uFE30-\\uFE4F\\uFF00-\\uFF60\\uFFE0-\\uFFE6\\u{1F300}-\\u{1F6FF}\\u{1F900}-\\u{1FAFF}\\u{20000}-\\u{3FFFD}';
/** Combining marks and zero-width characters: no column of their own. */
const ZERO = '\\p{Mn}\\p{Me}\\u200B-\\u200F\\uFEFF';
const WIDE_CHAR = new RegExp(`[${WIDE}]`, 'u');
const ZERO_CHAR = new RegExp(`[${ZERO}]`, 'u');
/** Text where every UTF-16 unit is one column: no wide, zero-width or astral characters. */
const NARROW = new RegExp(`^[^${WIDE}${ZERO}\\u{10000}-\\u{10FFFF}]*$`, 'u');

/** Columns a line of text takes on a terminal. */
export function displayWidth(s: string): number {
  if (NARROW.test(s)) return s.length;
  let w = 0;
  for (const ch of s) w += WIDE_CHAR.test(ch) ? 2 : ZERO_CHAR.test(ch) ? 0 : 1;
  return w;
}

function pad(s: string, width: number, align: Align | undefined): string {
  const n = width - displayWidth(s);
  if (n <= 0) return s;
  if (align === 'right') return ' '.repeat(n) + s;
  if (align === 'center') return ' '.repeat(n - Math.ceil(n / 2)) + s + ' '.repeat(Math.ceil(n / 2));
  return s + ' '.repeat(n);
}

/**
 * The table with box-drawing borders and a rule between rows, one space of padding in each cell; a cell
 * with line breaks spans several lines. Linear in the number of cells (a 5,000-row report draws in tens
 * of milliseconds; cli-table3, used before, took seconds).
 * `terminalPieces` gives the same text a few thousand lines at a time.
 */
export function* terminalPieces(t: TextTable, linesPerPiece = 4096): Generator<string> {
  let cols = t.head.length;
  for (const r of t.rows) if (r.length > cols) cols = r.length;
  // A row is its cells' text, or (when a cell has a line break) its cells' lines.
  type Row = {cells: string[]; lines?: string[][]};
  const toRow = (r: string[]): Row => {
    const cells = new Array<string>(cols);
    let multi = false;
    for (let i = 0; i < cols; i++) {
      const c = String(r[i] ?? '');
      cells[i] = c;
      if (c.includes('\n')) multi = true;
    }
    return multi ? {cells, lines: cells.map((c) => c.split(/\r?\n/))} : {cells};
  };
  const head = toRow(t.head);
  const rows = t.rows.map(toRow);
  const widths = new Array<number>(cols).fill(0);
  for (const r of [head, ...rows]) {
    for (let i = 0; i < cols; i++) {
      if (r.lines) for (const l of r.lines[i]) widths[i] = Math.max(widths[i], displayWidth(l));
      else widths[i] = Math.max(widths[i], displayWidth(r.cells[i]));
    }
  }
  const rule = (l: string, m: string, r: string) => l + widths.map((w) => '─'.repeat(w + 2)).join(m) + r;
  const line = (cell: (i: number) => string): string => {
    let s = '│';
    for (let i = 0; i < cols; i++) s += ` ${pad(cell(i), widths[i], t.align?.[i])} │`;
    return s;
  };
  const draw = (r: Row, out: string[]): void => {
    const lines = r.lines;
    if (!lines) {
      out.push(line((i) => r.cells[i]));
      return;
    }
    let height = 1;
    for (const c of lines) if (c.length > height) height = c.length;
    for (let k = 0; k < height; k++) out.push(line((i) => lines[i][k] ?? ''));
  };
  let lines: string[] = [];
  if (t.title) lines.push(t.title);
  lines.push(rule('┌', '┬', '┐'));
  if (t.head.length > 0) draw(head, lines);
  const between = rule('├', '┼', '┤');
  for (let i = 0; i < rows.length; i++) {
    if (i > 0 || t.head.length > 0) lines.push(between);
    draw(rows[i], lines);
    if (lines.length >= linesPerPiece) {
      yield lines.join('\n') + '\n';
      lines = [];
    }
  }
  lines.push(rule('└', '┴', '┘'));
  for (const n of t.notes ?? []) lines.push(n);
  yield lines.join('\n') + '\n';
}

export function renderTerminal(t: TextTable): string {
  return [...terminalPieces(t)].join('');
}

function mdCell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** GitHub-flavoured Markdown table; the title becomes a bold caption line. */
export function renderMarkdown(t: TextTable): string {
  const lines: string[] = [];
  if (t.title) lines.push(`**${mdCell(t.title)}**`, '');
  lines.push(`| ${t.head.map(mdCell).join(' | ')} |`);
  lines.push(`|${t.head.map((_, i) => (t.align?.[i] === 'right' ? ' ---: ' : t.align?.[i] === 'center' ? ' :---: ' : ' --- ')).join('|')}|`);
  for (const r of t.rows) lines.push(`| ${r.map(mdCell).join(' | ')} |`);
  if (t.notes && t.notes.length > 0) lines.push('', ...t.notes.map((n) => mdCell(n)));
  return lines.join('\n') + '\n';
}

function csvField(v: CsvValue): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  const s = String(v);
  return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function renderCsv(t: CsvTable): string {
  return [t.head, ...t.rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}

/** Parse CSV (RFC 4180: quoted fields, doubled quotes, newlines inside quotes). Used by tests and `compare`. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** Parse a GitHub Markdown table back into head and rows (unescaping \| and \\). Used by tests. */
export function parseMarkdownTable(text: string): {head: string[]; rows: string[][]} {
  const lines = text.split('\n').filter((l) => l.startsWith('|'));
  const split = (l: string) =>
    l
      .slice(1, -1)
      .split(/(?<!\\) \| /)
      .map((c) => c.trim().replace(/\\\|/g, '|').replace(/\\\\/g, '\\'));
  const [head, , ...rows] = lines;
  return {head: split(head.trimEnd()), rows: rows.map((r) => split(r.trimEnd()))};
}
