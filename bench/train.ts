/**
 * Training throughput benchmark: ResNet-20 and ResNet-56 (He et al. 2016, section 4.2; also resnet110, and
 * wrn-16-8, a Wide ResNet of 128-512 channels) on synthetic 32x32x3 images, batch 128, 2 threads, through
 * the trial runner `ablate run` uses (data pipeline, the network built from ablate's layout, engine,
 * explicit SGD loop); smoke-14 is the smoke study's net on its 8x8 images. Each measurement runs in a fresh
 * process, so its peak resident size is its own. On a CPU the other engine (torch for native-cpu, native-cpu for
 * torch) is timed with the same network and settings right after, alternating, and the ratio is printed.
 *
 * --precision bf16 on native-cpu (bf16 convolutions, CPUs with AVX512-BF16) times native-cpu in fp32 alongside
 * instead of torch, alternating, and prints fp32_images_per_sec, vs_fp32 and vs_fp32_range.
 *
 * --engine torch runs the torch engine's Python worker as `ablate run` does; on a GPU it adds the device
 * name, peak GPU memory and how a step ran (step: 'CUDA graph' or 'eager'; ABLATE_CUDA_GRAPHS=0 for eager),
 * takes --precision fp32|bf16, --compile, and --trials-per-gpu K (K trials at once on one GPU:
 * images_per_sec is then their sum over the overlap_s seconds in which all K were in timed epochs).
 *
 * The first epoch is a warm-up (oneDNN primitive creation, buffer pool filling); throughput is the
 * median over the following epochs, as the trial runner reports them (training steps only).
 *
 *   npm run bench
 *   node dist/bench/train.js --models resnet20 --epochs 4 --steps 8 --repeats 1 --profile
 *   node dist/bench/train.js --models smoke-14 --batch 32 --threads 1 --steps 8 --epochs 30 --no-torch --repeats 1
 *     (a tiny trial; fewer --epochs leave more of its warm-up in the median)
 *
 *   npm run bench -- --pythons /usr/bin/python3,.venv-torch2/bin/python
 *     (native-cpu against every listed Python's PyTorch, alternating: Debian's 1.13 and a current 2.x wheel,
 *      `python3 -m venv .venv-torch2 && .venv-torch2/bin/pip install torch numpy`; one entry per Python in
 *      `pytorch`, with the median of the per-repeat ratios and their range; `vs_pytorch` is against the faster one)
 *
 *   npm run bench -- --precision bf16 --repeats 5
 *   npm run bench -- --engine torch
 *   node dist/bench/train.js --engine torch --models resnet56 --batch 512 --precision bf16 --steps 40
 *
 * Prints one JSON line per model:
 *   {model, engine, threads, batch, images_per_sec, ms_per_step, peak_rss_mb, [device, peak_gpu_memory_mb, step, overlap_s,]
 *    [pytorch_images_per_sec, vs_pytorch, pytorch: [{python, torch, images_per_sec, vs, vs_range}, ...]
 *     | native_cpu_images_per_sec, vs_native_cpu | fp32_images_per_sec, vs_fp32], ...}
 */
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {parseArgs} from 'node:util';
import {ENGINE_NAMES, type EngineName} from '../src/engine/names';
import {probeTorch} from '../src/engine/torch';
import {parseStudy} from '../src/experiments/config';
import {expandStudy, type TrialSpec} from '../src/experiments/sweep';
import type {TrialEvent} from '../src/experiments/trial';
import type {KernelTimer} from './kernel-timer';

/** The networks the benchmark trains, as the study's `model` section. */
const MODELS: Record<string, string> = {
  resnet20: '{family: cifar, depth: 20, shortcut: A}',
  resnet56: '{family: cifar, depth: 56, shortcut: A}',
  resnet110: '{family: cifar, depth: 110, shortcut: A}',
  // A Wide ResNet of the wrn-sweep study (widths 128/256/512): few, wide layers.
  'wrn-16-8': '{family: cifar, block: preact, depth: 16, widen_factor: 8, dropout: 0}',
  // The smoke study's deeper net, on its 8x8 images (use --batch 32 --threads 1 as the smoke study runs it).
  'smoke-14': '{family: cifar, depth: 14, shortcut: A}',
};

/** Image side of a model's synthetic data: CIFAR's 32, or the smoke study's 8. */
const imageSide = (model: string) => (model.startsWith('smoke-') ? 8 : 32);

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
  precision: 'fp32' | 'bf16';
  trialsPerGpu: number;
  compile: boolean;
  /** Pythons whose PyTorch native-cpu is compared with (ABLATE_PYTHON for each); empty: the one the torch engine finds. */
  pythons: string[];
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
  device?: string;
  peak_gpu_memory_mb?: number;
  trials?: number;
  /** --trials-per-gpu K > 1: seconds in which all K trials were in timed epochs (the aggregate counts those). */
  overlap_s?: number;
  /** torch on a GPU: how a training step runs ('CUDA graph' or 'eager'). */
  step?: string;
  torch?: string;
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
      precision: {type: 'string', default: 'fp32'},
      'trials-per-gpu': {type: 'string', default: '1'},
      compile: {type: 'boolean', default: false},
      pythons: {type: 'string', default: ''},
      child: {type: 'string'},
      help: {type: 'boolean', default: false},
    },
  });
  if (values.help) {
    console.log(fs.readFileSync(path.join(__dirname, '..', '..', 'bench', path.basename(__filename, '.js') + '.ts'), 'utf8').split('*/')[0]);
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
      precision: values.precision === 'bf16' ? 'bf16' : values.precision === 'fp32' ? 'fp32' : badPrecision(values.precision),
      trialsPerGpu: int('trials-per-gpu', values['trials-per-gpu'], 1),
      compile: values.compile!,
      pythons: values.pythons!.split(',').map((p) => p.trim()).filter(Boolean),
    },
    child: values.child,
  };
}

function badPrecision(v: string | undefined): never {
  throw new Error(`--precision is fp32 or bf16; received ${v}`);
}

/** One measurement in this process (the --child mode). */
async function measure(model: string, opts: Options): Promise<Measurement> {
  // The same study format `ablate run` reads; a synthetic split of `steps` batches per epoch.
  const study = parseStudy([
    `name: bench-${model}`,
    `dataset: {name: synthetic, image: [${imageSide(model)}, ${imageSide(model)}, 3], classes: 10, train_size: ${opts.batch * opts.steps}, test_size: ${opts.batch}}`,
    `model: ${MODELS[model]}`,
    `train: {epochs: ${opts.epochs}, batch_size: ${opts.batch}, checkpoint_every: 0, optimizer: {name: sgd, lr: 0.1, momentum: 0.9, weight_decay: 1.0e-4}` +
      `${opts.precision === 'bf16' ? ', precision: bf16' : ''}}`,
    'seeds: [0]',
  ].join('\n'), `bench-${model}.yaml`);
  const [spec] = expandStudy(study);
  if (opts.engine === 'torch') return measureTorch(model, spec, opts);
  const {runTrial} = await import('../src/experiments/trial');
  const {formatKernelTimes, startKernelTimer} = await import('./kernel-timer');
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

/** The torch engine as `ablate run` drives it: Python workers fed by the torch executor; K trials at once with --trials-per-gpu. */
async function measureTorch(model: string, spec: TrialSpec, opts: Options): Promise<Measurement> {
  const {createTorchExecutor} = await import('../src/experiments/torch-executor');
  const probe = probeTorch();
  if (probe.error) throw new Error(`engine torch cannot run: ${probe.error}`);
  const device = probe.cudaAvailable ? 'cuda' : 'cpu';
  const k = opts.trialsPerGpu;
  const executor = createTorchExecutor({workers: k, gpus: device === 'cuda' ? [0] : undefined, python: probe.python, device, compile: opts.compile, progressEveryMs: 60_000});
  const perTrial: number[][] = Array.from({length: k}, () => []);
  /** Each trial's timed epochs (all but its first) as wall-clock intervals, for the aggregate of trials that overlap. */
  const spans: Span[][] = Array.from({length: k}, () => []);
  const pids = new Set<number>();
  let deviceName: string | undefined;
  let step: string | undefined;
  let peakGpu = 0;
  try {
    const outcomes = await Promise.all(
      perTrial.map((epochs, slot) => executor.start({trialId: slot, spec, engine: 'torch', threads: opts.threads}, slot, (e: TrialEvent) => {
        if (e.type === 'engine') {
          pids.add(e.pid);
          deviceName = e.engine.device;
          step = e.engine.versions['training step'] ?? undefined;
        }
        if (e.type === 'epoch' && e.row.images_per_sec !== null) {
          epochs.push(e.row.images_per_sec);
          const end = performance.now() / 1000;
          if (epochs.length > 1) spans[slot].push({start: end - e.row.seconds!, end, images: e.row.images_per_sec * e.row.seconds!});
        }
      }).done),
    );
    for (const o of outcomes) {
      if (o.status !== 'done') throw new Error(`benchmark trial ended ${o.status}: ${o.error ?? ''}`);
      peakGpu = Math.max(peakGpu, o.peakDeviceMemoryMb ?? 0);
    }
    // The workers are idle now but alive: their high-water marks are readable.
    const rss = [...pids].map((pid) => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
    // One trial: the median epoch. K trials: the images/s of all K while all K were in timed epochs.
    const overlap = k === 1 ? undefined : overlapRate(spans);
    const ips = overlap ? overlap.rate : median(perTrial[0].slice(1));
    return {
      model,
      engine: 'torch',
      threads: opts.threads,
      batch: opts.batch,
      images_per_sec: round(ips),
      ms_per_step: round((opts.batch * k / ips) * 1000),
      peak_rss_mb: Math.round(Math.max(...rss)),
      epochs_ips: perTrial[0].map(round),
      device: deviceName,
      ...(step ? {step} : {}),
      torch: probe.torch,
      ...(device === 'cuda' ? {peak_gpu_memory_mb: Math.round(peakGpu)} : {}),
      ...(overlap ? {trials: k, overlap_s: round(overlap.seconds)} : {}),
    };
  } finally {
    await executor.close();
  }
}

interface Span {
  start: number;
  end: number;
  images: number;
}

/**
 * Images per second of several trials together, counted only over the window in which every one of them was
 * in a timed epoch (each epoch's images spread evenly over its interval). Workers start seconds apart (Python,
 * torch, CUDA), so over the whole span a trial's start-up would count as idle time of the others.
 */
function overlapRate(trials: Span[][]): {rate: number; seconds: number} {
  const from = Math.max(...trials.map((t) => Math.min(...t.map((s) => s.start))));
  const to = Math.min(...trials.map((t) => Math.max(...t.map((s) => s.end))));
  if (!(to > from)) throw new Error('the trials did not train at the same time; give them more --epochs or --steps');
  let images = 0;
  for (const s of trials.flat()) {
    const overlap = Math.min(s.end, to) - Math.max(s.start, from);
    if (overlap > 0) images += (s.images * overlap) / (s.end - s.start);
  }
  return {rate: images / (to - from), seconds: to - from};
}

const round2 = (x: number) => Math.round(x * 100) / 100;

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

/** The median, unrounded. */
function middle(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The median, with an even count's midpoint rounded like the figures it is computed from. */
function median(xs: number[]): number {
  return xs.length % 2 ? middle(xs) : round(middle(xs));
}

function runChild(model: string, argv: string[], python?: string): Measurement {
  const env = python ? {...process.env, ABLATE_PYTHON: python} : process.env;
  const r = spawnSync(process.execPath, [__filename, ...argv, '--child', model], {encoding: 'utf8', maxBuffer: 64 * 2 ** 20, env});
  if (r.stderr) process.stderr.write(r.stderr);
  if (r.status !== 0) throw new Error(`benchmark of ${model} failed (exit ${r.status})`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as Measurement;
}

/**
 * What is timed alongside on a CPU: native-cpu in fp32 for native-cpu in bf16; otherwise torch for native-cpu and the
 * other way round (when it can run). `name` prefixes its fields in the output line.
 */
function otherRun(opts: Options): {engine: EngineName; precision: 'fp32' | 'bf16'; name: string} | undefined {
  if (opts.engine === 'native-cpu' && opts.precision === 'bf16') return {engine: 'native-cpu', precision: 'fp32', name: 'fp32'};
  if (!opts.torch) return undefined;
  if (opts.engine === 'native-cpu') return probeTorch().error ? undefined : {engine: 'torch', precision: opts.precision, name: 'pytorch'};
  if (opts.engine === 'torch') return probeTorch().cudaAvailable ? undefined : {engine: 'native-cpu', precision: opts.precision, name: 'native_cpu'};
  return undefined;
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
  const run = otherRun(opts);
  const other = run?.engine;
  // The other engine once per Python when several are compared (torch only), else once.
  const pythons: Array<string | undefined> = other === 'torch' && opts.pythons.length > 0 ? opts.pythons : [undefined];
  const passOn = argv.filter((a, i) => a !== '--no-torch' && a !== '--pythons' && argv[i - 1] !== '--pythons' && !a.startsWith('--pythons='));
  const without = (args: string[], flag: string) => args.filter((a, i) => a !== flag && args[i - 1] !== flag && !a.startsWith(`${flag}=`));
  const otherArgs = run ? [...without(without(passOn, '--engine'), '--precision'), '--engine', run.engine, '--precision', run.precision] : [];
  for (const model of opts.models) {
    const ours: Measurement[] = [];
    const theirs: Measurement[][] = pythons.map(() => []);
    // Alternate them so that a change in machine load affects all alike.
    for (let r = 0; r < opts.repeats; r++) {
      const load = os.loadavg()[0];
      ours.push(runChild(model, passOn));
      if (other) pythons.forEach((py, j) => theirs[j].push(runChild(model, otherArgs, py)));
      if (opts.repeats > 1) console.error(`${model} repeat ${r + 1}: ${ours[r].images_per_sec} img/s` +
        (run ? pythons.map((py, j) => `, ${run.name}${theirs[j][r].torch ? ` ${theirs[j][r].torch}` : ''} ${theirs[j][r].images_per_sec} img/s`).join('') : '') +
        ` (load ${load.toFixed(1)})`);
    }
    const ips = median(ours.map((m) => m.images_per_sec));
    const line: Record<string, unknown> = {
      model,
      engine: ours[0].engine,
      threads: opts.threads,
      batch: opts.batch,
      images_per_sec: ips,
      ms_per_step: round(((opts.batch * (opts.engine === 'torch' ? opts.trialsPerGpu : 1)) / ips) * 1000),
      peak_rss_mb: Math.max(...ours.map((m) => m.peak_rss_mb)),
      runs_images_per_sec: ours.map((m) => m.images_per_sec),
      ...(ours[0].device ? {device: ours[0].device} : {}),
      ...(ours[0].peak_gpu_memory_mb !== undefined ? {peak_gpu_memory_mb: Math.max(...ours.map((m) => m.peak_gpu_memory_mb!))} : {}),
      precision: opts.precision,
      ...(opts.engine === 'torch' ? {trials_per_gpu: opts.trialsPerGpu} : {}),
      ...(ours[0].overlap_s !== undefined ? {overlap_s: Math.min(...ours.map((m) => m.overlap_s!))} : {}),
      ...(ours[0].step ? {step: ours[0].step} : {}),
      load_avg_1m: round(os.loadavg()[0]),
    };
    if (other) {
      // Per compared build: its median, and the median and range of the per-repeat ratios (each repeat's runs
      // ran back to back, so a ratio is less exposed to load drifting than a ratio of medians).
      const each = theirs.map((runs, j) => {
        const ratios = runs.map((t, r) => ours[r].images_per_sec / t.images_per_sec);
        return {
          ...(pythons[j] ? {python: pythons[j]} : {}),
          ...(runs[0].torch ? {torch: runs[0].torch} : {}),
          images_per_sec: median(runs.map((t) => t.images_per_sec)),
          peak_rss_mb: Math.max(...runs.map((t) => t.peak_rss_mb)),
          runs_images_per_sec: runs.map((t) => t.images_per_sec),
          vs: round2(middle(ratios)),
          vs_range: [round2(Math.min(...ratios)), round2(Math.max(...ratios))],
        };
      });
      const fastest = each.reduce((a, b) => (b.images_per_sec > a.images_per_sec ? b : a));
      const name = run!.name;
      Object.assign(line, {
        [`${name}_images_per_sec`]: fastest.images_per_sec,
        [`${name}_peak_rss_mb`]: fastest.peak_rss_mb,
        [`${name}_runs_images_per_sec`]: fastest.runs_images_per_sec,
        [`vs_${name}`]: fastest.vs,
        ...(each.length > 1 ? {[name]: each} : {[`vs_${name}_range`]: fastest.vs_range}),
      });
    }
    console.log(JSON.stringify(line));
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
