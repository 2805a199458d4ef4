/**
 * A large finished sweep for the read-side benchmark (and the tests that check the report at scale),
 * written through the coordinator's own write path: `planStudy` expands a real study (real specs,
 * parameter and MAC counts), then `Store.openSweep`, `addTrials`, and per trial `claimNext`, one
 * `recordEpochs` per epoch and `finishTrial`, in the order `ablate run` issues them.
 *
 * The grid is depth (5) × plain/residual (2) × width (5) × learning rate × weight decay, the last two
 * sized so that the grid has the asked number of variants. Errors fall over the epochs towards a final
 * value that depends on the variant (deeper plain nets worse, wider nets better) plus seed noise;
 * about 1 % of the trials diverge (NaN loss in the last epoch) and 0.2 % fail.
 */
import {planStudy} from '../src/experiments/runner';
import {Store} from '../src/store/store';
import {makeRng} from '../src/data/rng';

/** Uniform numbers in [0, 1) from ablate's seeded generator. */
const uniform = (seed: number): (() => number) => makeRng(seed).next;

export interface LargeStoreOptions {
  /** Grid cells; a multiple of 50 (depth 5 × residual 2 × width 5 × the rest). */
  variants: number;
  seeds: number;
  epochs: number;
  /** Called every 1000 trials written. */
  progress?: (written: number, total: number) => void;
}

export interface LargeStoreInfo {
  sweepId: number;
  name: string;
  trials: number;
  variants: number;
  /** Milliseconds per trial for the first and the last 1000 claims (a claim that scans gets slower as the grid drains). */
  claimMsFirst: number;
  claimMsLast: number;
  buildSeconds: number;
}

/** The two factors of n closest to its square root (n = a × b, a <= b). */
function factorPair(n: number): [number, number] {
  let a = Math.floor(Math.sqrt(n));
  while (n % a !== 0) a--;
  return [a, n / a];
}

/** The study text of the large grid. */
export function largeStudyText(opts: Pick<LargeStoreOptions, 'variants' | 'seeds' | 'epochs'>): string {
  if (!Number.isInteger(opts.variants / 50) || opts.variants < 50) throw new Error(`variants must be a positive multiple of 50; received ${opts.variants}`);
  const [nLr, nWd] = factorPair(opts.variants / 50);
  const lrs = Array.from({length: nLr}, (_, i) => Number((0.01 * (i + 1)).toFixed(4)));
  const wds = Array.from({length: nWd}, (_, i) => Number((1e-5 * (i + 1)).toPrecision(3)));
  return [
    'name: bench-report',
    'description: a large synthetic grid for timing the reading commands',
    'dataset: {name: synthetic, image: [8, 8, 3], classes: 4, train_size: 256, test_size: 128}',
    'model: {family: cifar, depth: 8, width: 1, residual: true, batch_norm: true, shortcut: A}',
    `train: {epochs: ${opts.epochs}, batch_size: 32, optimizer: {name: sgd, lr: 0.1, momentum: 0.9, weight_decay: 1.0e-4}}`,
    `seeds: [${Array.from({length: opts.seeds}, (_, i) => i + 1).join(', ')}]`,
    'sweep:',
    '  model.depth: [8, 14, 20, 26, 32]',
    '  model.residual: [false, true]',
    '  model.width: [0.5, 1, 1.5, 2, 3]',
    `  train.optimizer.lr: [${lrs.join(', ')}]`,
    `  train.optimizer.weight_decay: [${wds.join(', ')}]`,
    'resources: {workers: 2}',
    '',
  ].join('\n');
}

/** Write the large sweep into the store at `file` (which should not hold a sweep of that name yet). */
export function buildLargeStore(file: string, opts: LargeStoreOptions): LargeStoreInfo {
  const t0 = performance.now();
  const text = largeStudyText(opts);
  const plan = planStudy('bench-report.yaml', {configText: text});
  const store = new Store(file);
  try {
    const {sweep} = store.openSweep({name: plan.name, configPath: 'bench-report.yaml', yaml: text, hash: plan.hash, engine: plan.resources.engine});
    store.addTrials(
      sweep.id,
      plan.trials.map((t) => ({key: t.spec.key, idx: t.spec.index, variant: t.spec.variant, seed: t.spec.seed, spec: t.spec, params: t.params, macs: t.macs})),
    );
    store.setSweepStatus(sweep.id, 'running');
    const total = plan.trials.length;
    let claimFirst = 0;
    let claimLast = 0;
    for (let i = 0; i < total; i++) {
      const c0 = performance.now();
      const row = store.claimNext(sweep.id, i % 2, process.pid);
      const dt = performance.now() - c0;
      if (i < 1000) claimFirst += dt;
      if (i >= total - 1000) claimLast += dt;
      if (!row) throw new Error(`claimNext returned nothing after ${i} of ${total} trials`);
      const v = row.variant_json ? (JSON.parse(row.variant_json) as Record<string, number | boolean>) : {};
      const r = uniform(row.id * 7919 + row.seed);
      const depth = Number(v['model.depth'] ?? 20);
      const width = Number(v['model.width'] ?? 1);
      const residual = v['model.residual'] !== false;
      const final = 0.08 + (residual ? -0.002 : 0.004) * (depth - 8) / 6 - 0.01 * Math.log2(width) + (r() - 0.5) * 0.01;
      const roll = r();
      const status = roll < 0.002 ? 'failed' : roll < 0.012 ? 'diverged' : 'done';
      const epochs = status === 'failed' ? Math.max(1, opts.epochs - 1) : opts.epochs;
      for (let e = 1; e <= epochs; e++) {
        const decay = Math.exp(-(e - 1));
        const nan = status === 'diverged' && e === epochs;
        const testErr = nan ? null : final + (0.7 - final) * decay * 0.5 + (r() - 0.5) * 0.01;
        const trainErr = nan ? null : Math.max(0, final - 0.03 + (0.7 - final) * decay * 0.5);
        store.recordEpochs(row.id, [
          {
            epoch: e,
            train_loss: nan ? null : 1.2 * (trainErr ?? 1) + 0.05,
            train_err: trainErr,
            test_loss: nan ? Infinity : 1.3 * (testErr ?? 1) + 0.05,
            test_err: testErr,
            lr: 0.1,
            seconds: 0.4 + 0.1 * r(),
            images_per_sec: 600 + 100 * r(),
          },
        ]);
      }
      if (status === 'failed') store.finishTrial(row.id, 'failed', {error: 'Error: worker exited with code 137 (out of memory?)\n    at Executor.run'});
      else if (status === 'diverged') store.finishTrial(row.id, 'diverged', {error: `loss became NaN at epoch ${epochs}, step 4`});
      else store.finishTrial(row.id, 'done');
      if ((i + 1) % 1000 === 0) opts.progress?.(i + 1, total);
    }
    store.setSweepStatus(sweep.id, 'done');
    return {
      sweepId: sweep.id,
      name: plan.name,
      trials: total,
      variants: opts.variants,
      claimMsFirst: claimFirst / Math.min(1000, total),
      claimMsLast: claimLast / Math.min(1000, total),
      buildSeconds: (performance.now() - t0) / 1000,
    };
  } finally {
    store.close();
  }
}
