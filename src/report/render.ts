/**
 * Renderers shared by report, compare, status and show: one table shape (`TextTable`) drawn as a
 * terminal table (cli-table3), GitHub Markdown, or CSV (RFC 4180).
 *
 * Terminal and Markdown tables carry formatted text ("8.75 ± 0.21 (n=3)"); CSV carries numbers, so
 * each statistic gets its own column (mean, std, n) and parses back without string surgery.
 */
import Table from 'cli-table3';

export type Align = 'left' | 'right' | 'center';

export interface TextTable {
  /** One line above the table (e.g. "final test err (%), mean ± std over seeds"). */
  title?: string;
  head: string[];
  align?: Align[];
  rows: string[][];
  /** Lines printed under the table. */
  notes?: string[];
}

export type CsvValue = string | number | boolean | null | undefined;

export interface CsvTable {
  head: string[];
  rows: CsvValue[][];
}

export function renderTerminal(t: TextTable): string {
  const table = new Table({
    head: t.head,
    colAligns: t.align,
    // No colours: output is the same on a terminal, in a pipe and in a test.
    style: {head: [], border: [], compact: false, 'padding-left': 1, 'padding-right': 1},
  });
  for (const r of t.rows) table.push(r);
  const lines: string[] = [];
  if (t.title) lines.push(t.title);
  lines.push(table.toString());
  for (const n of t.notes ?? []) lines.push(n);
  return lines.join('\n') + '\n';
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
