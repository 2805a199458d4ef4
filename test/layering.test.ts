/**
 * The rooms of src/ and the direction of their imports (DESIGN.md): commands -> experiments/report ->
 * models/data/engine/store -> the shared leaves (errors, seed). No import points up, and no two files
 * import each other, even for types, directly or round a cycle.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {test} from 'node:test';
import {ROOT} from './helpers';

const SRC = path.join(ROOT, 'src');

const RANK: Record<string, number> = {
  'errors.ts': 0, 'seed.ts': 0,
  models: 1, data: 1, engine: 1, store: 1,
  experiments: 2, report: 2,
  commands: 3, 'base-command.ts': 3, 'index.ts': 3,
};

function sources(dir: string): string[] {
  return fs.readdirSync(dir, {withFileTypes: true}).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []);
}

/** The src files a file imports (static, type-only and dynamic imports alike). */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']*)'/g)) {
    const base = path.resolve(path.dirname(file), m[1]);
    const target = [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f));
    assert.ok(target, `${path.relative(ROOT, file)}: cannot resolve ${m[1]}`);
    out.push(target);
  }
  return out;
}

const room = (file: string) => path.relative(SRC, file).split(path.sep)[0];
const files = sources(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

test('every file of src/ sits in a room of known rank', () => {
  for (const f of files) assert.ok(room(f) in RANK, `${path.relative(ROOT, f)}: no room`);
});

test('imports never point up', () => {
  const up: string[] = [];
  for (const [from, targets] of graph) {
    for (const to of targets) if (RANK[room(to)] > RANK[room(from)]) up.push(`${path.relative(SRC, from)} -> ${path.relative(SRC, to)}`);
  }
  assert.deepEqual(up, []);
});

test('no import cycles between files', () => {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === 'open') cycles.push([...stack.slice(stack.indexOf(g)), g].map((x) => path.relative(SRC, x)).join(' -> '));
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});
