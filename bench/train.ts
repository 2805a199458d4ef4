/**
 * Training throughput benchmark: ResNet-20 and ResNet-56 (He et al. 2016, section 4.2) on synthetic
 * 32x32x3 images, batch 128, 2 threads, through the trial runner `ablate run` uses (runTrial: data
 * pipeline, model builder, engine, explicit SGD loop). Each measurement runs in a fresh process, so
 * its peak resident size is its own. When /usr/bin/python3 has torch, the same network and settings
 * are timed in PyTorch (bench/torch_reference.py) right after, and the ratio is printed.
 *
 * The first epoch is a warm-up (oneDNN primitive creation, buffer pool filling); throughput is the
 * median over the following epochs, as the trial runner reports them (training steps only).
 *
 *   npm run bench
 *   node dist/bench/train.js --models resnet20 --epochs 4 --steps 8 --repeats 1 --profile
 *
 * Prints one JSON line per model:
 *   {model, engine, threads, batch, images_per_sec, ms_per_step, peak_rss_mb, pytorch_images_per_sec, vs_pytorch, ...}
 */
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {parseArgs} from 'node:util';
import {ENGINE_NAMES, type EngineName} from '../src/engine';
import {parseStudy} from '../src/experiments/config';
import {expandStudy} from '../src/experiments/sweep';
import {runTrial, type TrialEvent} from '../src/experiments/trial';
import {formatKernelTimes, startKernelTimer, type KernelTimer} from './kernel-timer';

const MODELS: Record<string, {depth: number}> = {resnet20: {depth: 20}, resnet56: {depth: 56}, resnet110: {depth: 110}};

interface Options {
  models: string[];
  engine: EngineName;
  threads: number;
  batch: number;
  steps: number;
  epochs: number;
  repeats: number;
  torch: boolean;
  profile: boolean;
}

interface Measurement {
  model: string;
  engine: string;
  threads: number;
  batch: number;
  images_per_sec: number;
  ms_per_step: number;
  peak_rss_mb: number;
  epochs_ips: number[];
  kernels?: string;
}

function parseOptions(argv: string[]): {opts: Options; child?: string} {
  const {values} = parseArgs({
    args: argv,
    options: {
      models: {type: 'string', default: 'resnet20,resnet56'},
      engine: {type: 'string', default: 'native-cpu'},
      threads: {type: 'string', default: '2'},
      batch: {type: 'string', default: '128'},
      steps: {type: 'string', default: '6'},
      epochs: {type: 'string', default: '3'},
      repeats: {type: 'string', default: '3'},
      'no-torch': {type: 'boolean', default: false},
      profile: {type: 'boolean', default: false},
      child: {type: 'string'},
      help: {type: 'boolean', default: false},
    },
  });
  if (values.help) {
    console.log(fs.readFileSync(__filename.replace(/\.js$/, '.ts'), 'utf8').split('*/')[0]);
    process.exit(0);
  }
  const models = values.models!.split(',').map((m) => m.trim()).filter(Boolean);
  for (const m of models) if (!MODELS[m]) throw new Error(`unknown model ${m}; choose from ${Object.keys(MODELS).join(', ')}`);
  if (!(ENGINE_NAMES as readonly string[]).includes(values.engine!)) throw new Error(`unknown engine ${values.engine}`);
  const int = (name: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}; received ${v}`);
    return n;
  };
  return {
    opts: {
      models,
      engine: values.engine as EngineName,
      threads: int('threads', values.threads, 1),
      batch: int('batch', values.batch, 2),
      steps: int('steps', values.steps, 1),
      epochs: int('epochs', values.epochs, 2),
      repeats: int('repeats', values.repeats, 1),
      torch: !values['no-torch'],
      profile: values.profile!,
    },
    child: values.child,
  };
}

/** One measurement in this process (the --child mode). */
async function measure(model: string, opts: Options): Promise<Measurement> {
  const {depth} = MODELS[model];
  // The same study format `ablate run` reads; a synthetic split of `steps` batches per epoch.
  const study = parseStudy([
    `name: bench-${model}`,
    `dataset: {name: synthetic, image: [32, 32, 3], classes: 10, train_size: ${opts.batch * opts.steps}, test_size: ${opts.batch}}`,
    `model: {family: cifar, depth: ${depth}, shortcut: A}`,
    `train: {epochs: ${opts.epochs}, batch_size: ${opts.batch}, checkpoint_every: 0, optimizer: {name: sgd, lr: 0.1, momentum: 0.9, weight_decay: 1.0e-4}}`,
    'seeds: [0]',
  ].join('\n'), `bench-${model}.yaml`);
  const [spec] = expandStudy(study);
  const epochs: number[] = [];
  let timer: KernelTimer | undefined;
  let profiledSeconds = 0;
  let engineName = opts.engine as string;
  const emit = (e: TrialEvent) => {
    if (e.type === 'engine') {
      engineName = e.engine.name;
      if (e.engine.warning) console.error(e.engine.warning);
    }
    if (e.type !== 'epoch') return;
    if (e.row.images_per_sec !== null) epochs.push(e.row.images_per_sec);
    if (epochs.length === 1 && opts.profile) timer = startKernelTimer();
    else if (epochs.length > 1) profiledSeconds += e.row.seconds ?? 0;
  };
  const outcome = await runTrial(spec, {engine: opts.engine, threads: opts.threads, emit, progressEveryMs: 60_000});
  if (outcome.status !== 'done') throw new Error(`benchmark trial ended ${outcome.status}: ${outcome.error ?? ''}`);
  const ips = median(epochs.slice(1));
  let kernels: string | undefined;
  if (timer) {
    const stepsTimed = opts.steps * (opts.epochs - 1);
    const rows = timer.report().map((r) => ({...r, calls: r.calls / stepsTimed, wallMs: r.wallMs / stepsTimed, cpuMs: r.cpuMs / stepsTimed}));
    // Evaluation batches run kernels too; the per-step figures include them, the step time does not.
    kernels = `per training step (evaluation included in kernel times), ${model}, ${opts.threads} threads:\n` +
      formatKernelTimes(rows, (profiledSeconds * 1000) / stepsTimed);
    timer.stop();
  }
  return {
    model,
    engine: engineName,
    threads: opts.threads,
    batch: opts.batch,
    images_per_sec: round(ips),
    ms_per_step: round((opts.batch / ips) * 1000),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    epochs_ips: epochs.map(round),
    kernels,
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : round((s[mid - 1] + s[mid]) / 2);
}

function runChild(model: string, argv: string[]): Measurement {
  const r = spawnSync(process.execPath, [__filename, ...argv, '--child', model], {encoding: 'utf8', maxBuffer: 64 * 2 ** 20});
  if (r.stderr) process.stderr.write(r.stderr);
  if (r.status !== 0) throw new Error(`benchmark of ${model} failed (exit ${r.status})`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as Measurement;
}

interface TorchResult {
  engine: string;
  images_per_sec: number;
  ms_per_step: number;
  peak_rss_mb: number;
}

function torchAvailable(): boolean {
  return fs.existsSync('/usr/bin/python3') && spawnSync('/usr/bin/python3', ['-c', 'import torch'], {encoding: 'utf8'}).status === 0;
}

function runTorch(model: string, opts: Options): TorchResult | undefined {
  const script = path.resolve(__dirname, '..', '..', 'bench', 'torch_reference.py');
  const r = spawnSync('/usr/bin/python3', [script, '--depth', String(MODELS[model].depth), '--batch', String(opts.batch),
    '--threads', String(opts.threads), '--steps', String(opts.steps)], {encoding: 'utf8'});
  if (r.status !== 0) {
    console.error(`PyTorch reference failed: ${r.stderr.trim().split('\n').pop()}`);
    return undefined;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchResult;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const {opts, child} = parseOptions(argv);
  if (child) {
    const m = await measure(child, opts);
    if (m.kernels) console.error(m.kernels);
    delete m.kernels;
    console.log(JSON.stringify(m));
    return;
  }
  const withTorch = opts.torch && torchAvailable();
  const passOn = argv.filter((a) => a !== '--no-torch');
  for (const model of opts.models) {
    const ours: Measurement[] = [];
    const theirs: TorchResult[] = [];
    // Alternate the two so that a change in machine load affects both alike.
    for (let r = 0; r < opts.repeats; r++) {
      const load = os.loadavg()[0];
      ours.push(runChild(model, passOn));
      if (withTorch) {
        const t = runTorch(model, opts);
        if (t) theirs.push(t);
      }
      if (opts.repeats > 1) console.error(`${model} repeat ${r + 1}: ${ours[r].images_per_sec} img/s` +
        (theirs[r] ? `, pytorch ${theirs[r].images_per_sec} img/s` : '') + ` (load ${load.toFixed(1)})`);
    }
    const ips = median(ours.map((m) => m.images_per_sec));
    const line: Record<string, unknown> = {
      model,
      engine: ours[0].engine,
      threads: opts.threads,
      batch: opts.batch,
      images_per_sec: ips,
      ms_per_step: round((opts.batch / ips) * 1000),
      peak_rss_mb: Math.max(...ours.map((m) => m.peak_rss_mb)),
      runs_images_per_sec: ours.map((m) => m.images_per_sec),
      load_avg_1m: round(os.loadavg()[0]),
    };
    if (theirs.length > 0) {
      const tips = median(theirs.map((t) => t.images_per_sec));
      Object.assign(line, {
        pytorch_engine: theirs[0].engine,
        pytorch_images_per_sec: tips,
        pytorch_peak_rss_mb: Math.max(...theirs.map((t) => t.peak_rss_mb)),
        vs_pytorch: Math.round((ips / tips) * 100) / 100,
      });
    }
    console.log(JSON.stringify(line));
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
