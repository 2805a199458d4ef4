/**
 * A realistic store for report tests, written with plain SQL the way the coordinator writes it:
 * several sweeps, variants × seeds, per-epoch curves that fall like He et al. Fig. 6 (deeper plain nets
 * worse, deeper residual nets better), a diverged trial (NaN losses are stored as NULL), a failed
 * trial, a running trial with a fresh heartbeat and a pending one.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {datasetInfo} from '../../src/data';
import {countMacs, countParams, resolveModelSpec} from '../../src/models';
import {openDb, type Db} from '../../src/store/db';
import {makeRng} from '../../src/data/rng';

/** Uniform numbers in [0, 1) from ablate's seeded generator. */
const uniform = (seed: number): (() => number) => makeRng(seed).next;

/** Final test error (fraction) by depth for plain and residual nets, in the spirit of He et al. Table 6. */
const FINAL_TEST: Record<string, number> = {
  'false:20': 0.0950,
  'false:32': 0.1040,
  'false:56': 0.1290,
  'true:20': 0.0875,
  'true:32': 0.0751,
  'true:56': 0.0697,
};

/** The engine every started trial of the fixture ran on, as the native engine describes itself. */
export const ENGINE = {
  requested: 'native-cpu', name: 'native-cpu', backend: 'cpu', threads: 2,
  versions: {node: '20.19.2', 'tfjs-core': '4.22.0', cpu: 'Test CPU', oneDNN: '2.6.3', 'cpu runtime': 'omp', isa: 'avx2'},
};

export interface TrialPlan {
  depth: number;
  residual: boolean;
  seed: number;
  status: 'pending' | 'running' | 'done' | 'failed' | 'diverged';
  /** Epochs written (default: all for done, fewer for others). */
  epochs?: number;
  error?: string;
}

export interface SweepPlan {
  name: string;
  epochs: number;
  depths: number[];
  createdAt: number;
  /** Shift of every error (fraction), to tell two sweeps apart in compare. */
  shift?: number;
  overrides?: TrialPlan[];
  seeds?: number[];
}

export const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);

function spec(name: string, depth: number, residual: boolean, seed: number, epochs: number) {
  return {
    name,
    dataset: {name: 'cifar10' as const, path: 'data/cifar-10-batches-bin', train_size: 50000, test_size: 10000},
    model: {family: 'cifar' as const, depth, planes: 16, widen_factor: 1, residual, batch_norm: true, shortcut: 'A' as const},
    train: {
      epochs,
      batch_size: 128,
      optimizer: {name: 'sgd', lr: 0.1, momentum: 0.9, weight_decay: 1e-4},
      schedule: {name: 'multistep', milestones: [Math.floor(epochs / 2)], gamma: 0.1},
    },
    seed,
  };
}

/** Parameters and MACs of a trial as `ablate run` stores them: the model's own accounting of its spec. */
export function accounting(s: ReturnType<typeof spec>): {params: number; macs: number} {
  const model = resolveModelSpec(s.model);
  const info = datasetInfo(s.dataset);
  return {params: countParams(model, info.shape, info.classes), macs: countMacs(model, info.shape, info.classes)};
}

export function insertSweep(db: Db, plan: SweepPlan): number {
  const seeds = plan.seeds ?? [1, 2, 3];
  const sweepId = Number(
    db
      .prepare('INSERT INTO sweeps (name, config_path, config_yaml, config_hash, created_at, status, engine) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(plan.name, `configs/${plan.name}.yaml`, `name: ${plan.name}\nseeds: [${seeds.join(', ')}]\n`, `hash-${plan.name}-${plan.createdAt}`, plan.createdAt, 'running', 'native-cpu')
      .lastInsertRowid,
  );
  const insTrial = db.prepare(
    `INSERT INTO trials (sweep_id, key, idx, variant_json, seed, spec_json, status, attempt, slot, pid, heartbeat_at, started_at, finished_at, error, params, macs, engine, engine_json)
     VALUES (@sweep, @key, @idx, @variant, @seed, @spec, @status, @attempt, @slot, @pid, @hb, @started, @finished, @error, @params, @macs, @engine, @engineJson)`,
  );
  const insEpoch = db.prepare(
    `INSERT INTO epochs (trial_id, epoch, train_loss, train_err, test_loss, test_err, lr, seconds, images_per_sec)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  let idx = 0;
  for (const depth of plan.depths) {
    for (const residual of [false, true]) {
      for (const seed of seeds) {
        const o = plan.overrides?.find((x) => x.depth === depth && x.residual === residual && x.seed === seed);
        const status = o?.status ?? 'done';
        const nEpochs = o?.epochs ?? (status === 'done' ? plan.epochs : status === 'pending' ? 0 : Math.max(1, plan.epochs - 3));
        const key = `${plan.name.slice(0, 2)}${sweepIdHex(plan.createdAt)}${depth.toString(16).padStart(2, '0')}${residual ? 'r' : 'p'}${seed}`.padEnd(16, '0');
        const start = plan.createdAt + idx * 60_000;
        const trialSpec = spec(plan.name, depth, residual, seed, plan.epochs);
        const {params, macs} = accounting(trialSpec);
        const trialId = Number(
          insTrial.run({
            sweep: sweepId,
            key,
            idx: idx,
            variant: JSON.stringify({'model.depth': depth, 'model.residual': residual}),
            seed,
            spec: JSON.stringify(trialSpec),
            status,
            attempt: status === 'pending' ? 0 : 1,
            slot: status === 'running' ? 0 : null,
            pid: status === 'running' ? 4242 : null,
            hb: status === 'running' ? NOW - 1500 : status === 'pending' ? null : start + nEpochs * 20_000,
            started: status === 'pending' ? null : start,
            finished: status === 'done' || status === 'failed' || status === 'diverged' ? start + nEpochs * 20_000 : null,
            error: o?.error ?? (status === 'failed' ? 'Error: worker exited with code 137 (out of memory?)' : null),
            params,
            macs,
            engine: status === 'pending' ? null : ENGINE.name,
            engineJson: status === 'pending' ? null : JSON.stringify(ENGINE),
          }).lastInsertRowid,
        );
        if (status === 'failed' || status === 'diverged') {
          db.prepare('INSERT INTO events (sweep_id, trial_id, at, kind, message) VALUES (?, ?, ?, ?, ?)').run(
            sweepId,
            trialId,
            start + nEpochs * 20_000,
            status,
            status === 'failed' ? (o?.error ?? 'worker exited').split('\n')[0] : `loss became NaN in epoch ${nEpochs}`,
          );
        }
        const r = uniform(depth * 1000 + (residual ? 500 : 0) + seed * 7 + plan.createdAt % 97);
        const final = (FINAL_TEST[`${residual}:${depth}`] ?? 0.1) + (plan.shift ?? 0) + (r() - 0.5) * 0.006;
        for (let e = 1; e <= nEpochs; e++) {
          const decay = Math.exp(-(e - 1) / Math.max(1, plan.epochs / 5));
          const diverging = status === 'diverged' && e >= nEpochs - 1;
          const testErr = diverging && e === nEpochs ? null : final + (0.6 - final) * decay + (r() - 0.5) * 0.012;
          const trainErr = diverging && e === nEpochs ? null : Math.max(0, final - 0.04 + (0.62 - final) * decay + (r() - 0.5) * 0.004);
          insEpoch.run(
            trialId,
            e,
            diverging && e === nEpochs ? null : 2.3 * (testErr ?? 1) + 0.05,
            trainErr,
            diverging && e === nEpochs ? Infinity : 2.2 * (testErr ?? 1) + 0.1,
            testErr,
            e <= plan.epochs / 2 ? 0.1 : 0.01,
            20 + r(),
            3000 + 100 * r(),
          );
        }
        idx++;
      }
    }
  }
  db.prepare('INSERT INTO events (sweep_id, trial_id, at, kind, message) VALUES (?, NULL, ?, ?, ?)').run(sweepId, plan.createdAt, 'started', 'sweep started');
  return sweepId;
}

function sweepIdHex(t: number): string {
  return (t % 4096).toString(16).padStart(3, '0');
}

export interface Fixture {
  dir: string;
  file: string;
  smokeId: number;
  depthId: number;
  otherId: number;
  cleanup(): void;
}

/**
 * Three sweeps: `smoke` (old, 2×2 variants × 2 seeds, all done), `depth-sweep` (depth 20/32/56 × plain/
 * residual × 3 seeds with one diverged, one failed, one running and one pending trial) and
 * `depth-sweep-b` (the same grid, all done, errors 1 point higher), the newest.
 */
export function makeFixture(): Fixture {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-report-'));
  const file = path.join(dir, 'ablate.db');
  const db = openDb(file);
  // One transaction: the store syncs every commit (synchronous=FULL), which would make fixtures slow.
  db.exec('BEGIN');
  try {
    const smokeId = insertSweep(db, {name: 'smoke', epochs: 2, depths: [20, 32], seeds: [1, 2], createdAt: NOW - 86_400_000});
    const depthId = insertSweep(db, {
      name: 'depth-sweep',
      epochs: 6,
      depths: [20, 32, 56],
      createdAt: NOW - 3_600_000,
      overrides: [
        {depth: 56, residual: false, seed: 3, status: 'diverged', epochs: 4},
        {depth: 32, residual: true, seed: 2, status: 'failed', epochs: 2, error: 'Error: worker exited with code 137 (out of memory?)\n    at Executor.run'},
        {depth: 56, residual: true, seed: 2, status: 'pending'},
        {depth: 56, residual: true, seed: 3, status: 'running', epochs: 3},
      ],
    });
    const otherId = insertSweep(db, {name: 'depth-sweep-b', epochs: 6, depths: [20, 32, 56], createdAt: NOW - 60_000, shift: 0.01});
    db.exec('COMMIT');
    return {dir, file, smokeId, depthId, otherId, cleanup: () => fs.rmSync(dir, {recursive: true, force: true})};
  } finally {
    db.close();
  }
}

/** The fixture database, opened read-only as the reading commands open it (for before/after hooks). */
export function openFixture(): {fx: Fixture; db: Db} {
  const fx = makeFixture();
  return {fx, db: openDb(fx.file, {readonly: true})};
}

export function closeFixture(fx: Fixture, db: Db): void {
  db.close();
  fx.cleanup();
}

/** Final test errors (%) of the done trials of one variant of the fixture, straight from SQL, by seed. */
export function finalTestErrBySeed(db: Db, sweepId: number, depth: number, residual: boolean): Map<number, number> {
  const rows = db
    .prepare(
      `SELECT t.seed AS seed, e.test_err AS err FROM trials t JOIN epochs e ON e.trial_id = t.id
       WHERE t.sweep_id = ? AND t.status = 'done' AND t.variant_json = ?
         AND e.epoch = (SELECT max(epoch) FROM epochs WHERE trial_id = t.id)`,
    )
    .all(sweepId, JSON.stringify({'model.depth': depth, 'model.residual': residual})) as {seed: number; err: number}[];
  return new Map(rows.map((r) => [r.seed, r.err * 100]));
}
