/**
 * Where the wall time of `ablate run configs/smoke.yaml` goes (8 tiny trials on 2 workers): the command
 * runs as a user runs it (`node bin/run.js run ...`, a fresh database each time) with ABLATE_TRACE set,
 * and its spans are summed by kind:
 *
 *   cli-start     process start until the run command's code runs (Node, oclif, command modules)
 *   plan          study validation and grid expansion;  store-setup: sweep and trial rows
 *   pool-start    from the workers' start (right after the plan) until the coordinator takes the pool
 *   worker-load   from the process's start (worker threads share its time origin) until a worker has loaded its modules
 *   engine-init   tfjs backend and native kernels (first trial of each worker)
 *   data, model-build, train, eval, checkpoint, release   per trial, in the workers
 *   store-write   the coordinator's writes (claims, epoch rows, results)
 *   pool-close    worker threads stopped
 *
 * `train_eval_s` is the training and evaluation time summed over the workers; `overhead_pct` is the part
 * of the workers' wall time (workers × wall) spent on anything else — start-up, data, model building,
 * checkpoints, waiting for the coordinator, exit.
 *
 *   npm run bench:smoke      (node dist/bench/smoke-overhead.js --repeats 5 --config configs/smoke.yaml)
 */
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {parseArgs} from 'node:util';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'run.js');

interface Span {
  name: string;
  thread: string;
  start: number;
  end: number;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function runOnce(config: string, dir: string, i: number): Record<string, number> {
  const trace = path.join(dir, `trace-${i}.jsonl`);
  const db = path.join(dir, `run-${i}`, 'ablate.db');
  const t0 = performance.timeOrigin + performance.now();
  const r = spawnSync(process.execPath, [BIN, 'run', config, '--db', db], {cwd: ROOT, env: {...process.env, ABLATE_TRACE: trace, NO_COLOR: '1'}, encoding: 'utf8'});
  const t1 = performance.timeOrigin + performance.now();
  if (r.status !== 0) throw new Error(`ablate run exited ${r.status}:\n${r.stderr}`);
  const spans = fs.readFileSync(trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Span);
  const sum = (name: string) => spans.filter((s) => s.name === name).reduce((a, s) => a + (s.end - s.start), 0) / 1000;
  const max = (name: string) => Math.max(0, ...spans.filter((s) => s.name === name).map((s) => s.end - s.start)) / 1000;
  const wall = (t1 - t0) / 1000;
  const workers = new Set(spans.filter((s) => s.name === 'train').map((s) => s.thread));
  const trainEval = sum('train') + sum('eval');
  const firstTrain = Math.min(...spans.filter((s) => s.name === 'train').map((s) => s.start));
  const lastEval = Math.max(...spans.filter((s) => s.name === 'eval').map((s) => s.end));
  return {
    wall_s: wall,
    train_eval_s: trainEval,
    overhead_pct: 100 * (1 - trainEval / (Math.max(1, workers.size) * wall)),
    until_first_step_s: (firstTrain - t0) / 1000,
    after_last_eval_s: (t1 - lastEval) / 1000,
    'cli-start_s': sum('cli-start'),
    plan_s: sum('plan'),
    'store-setup_s': sum('store-setup'),
    'pool-start_s': sum('pool-start'),
    'worker-load_max_s': max('worker-load'),
    'engine-init_s': sum('engine-init'),
    data_s: sum('data'),
    'model-build_s': sum('model-build'),
    train_s: sum('train'),
    eval_s: sum('eval'),
    checkpoint_s: sum('checkpoint'),
    release_s: sum('release'),
    'store-write_s': sum('store-write'),
    'pool-close_s': sum('pool-close'),
  };
}

function main(): void {
  const {values} = parseArgs({options: {config: {type: 'string', default: 'configs/smoke.yaml'}, repeats: {type: 'string', default: '5'}, help: {type: 'boolean', default: false}}});
  if (values.help) {
    console.log(fs.readFileSync(path.join(__dirname, '..', '..', 'bench', path.basename(__filename, '.js') + '.ts'), 'utf8').split('*/')[0]);
    return;
  }
  const repeats = Number(values.repeats);
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error('--repeats must be a positive integer');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-smoke-'));
  try {
    const runs: Record<string, number>[] = [];
    for (let i = 0; i < repeats; i++) {
      const run = runOnce(path.resolve(values.config!), dir, i);
      runs.push(run);
      console.log(JSON.stringify({run: i + 1, ...Object.fromEntries(Object.entries(run).map(([k, v]) => [k, r3(v)])), load_avg_1m: r3(os.loadavg()[0])}));
    }
    const keys = Object.keys(runs[0]);
    console.log(JSON.stringify({median_of: repeats, config: values.config, ...Object.fromEntries(keys.map((k) => [k, r3(median(runs.map((r) => r[k])))]))}));
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
}

try {
  main();
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}
