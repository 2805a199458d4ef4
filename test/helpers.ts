/** Shared test helpers: temp folders, running the real CLI, and the invariants of a finished sweep. */
import assert from 'node:assert/strict';
import {spawn, spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {test} from 'node:test';
import Database from 'better-sqlite3';

export const ROOT = path.resolve(__dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'run.js');

/** What some tests need from the machine; CI requires each with `ABLATE_REQUIRE_<NAME>=1` (see .ci/run). */
export type Requirement = 'NATIVE' | 'CHROMIUM' | 'FASHION_MNIST' | 'MOUNT' | 'TORCH' | 'SLURM' | 'GPU';

/**
 * The `skip` option of tests that need something this machine may lack: `missing` says what is missing
 * and how to get it, or is false when it is there. Skipping is for a developer's machine; where
 * `ABLATE_REQUIRE_<NAME>=1` (CI), a missing requirement is a failure: one test named after the variable
 * fails with the reason, so a run cannot pass with those tests quietly skipped.
 */
export function requires(name: Requirement, missing: string | false): string | false {
  if (missing === false) return false;
  const variable = `ABLATE_REQUIRE_${name}`;
  if (process.env[variable] === '1') {
    test(`${variable}=1: the tests that need it must run here`, () => {
      throw new Error(`${variable}=1, but ${missing}`);
    });
  }
  return missing;
}

export function tmpDir(prefix = 'ablate-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function writeFile(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `ablate ARGS` synchronously in ROOT (or cwd). */
export function cli(args: string[], opts: {cwd?: string; env?: Record<string, string>; timeoutMs?: number} = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: {...process.env, ...opts.env, NO_COLOR: '1'},
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
  });
  // Killed by a signal: the shell's convention, 128 + signal number (137 for SIGKILL).
  const code = r.status ?? (r.signal ? 128 + (os.constants.signals[r.signal] ?? 0) : null);
  return {code, stdout: r.stdout, stderr: r.stderr};
}

/** Start `ablate ARGS` in the background. */
export function cliAsync(args: string[], opts: {cwd?: string; env?: Record<string, string>} = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {cwd: opts.cwd ?? ROOT, env: {...process.env, ...opts.env, NO_COLOR: '1'}, stdio: ['ignore', 'pipe', 'pipe']});
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<CliResult>((resolve) => child.on('exit', (code, signal) => resolve({code: code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : null), stdout, stderr})));
  return {child, exited, output: () => ({stdout, stderr})};
}

/** A tiny study (synthetic 8x8 data) written to `dir`; `extra` replaces top-level sections. */
export function tinyStudy(dir: string, name: string, body?: string): string {
  return writeFile(
    dir,
    `${name}.yaml`,
    body ??
      `name: ${name}
dataset: {name: synthetic, image: [8, 8, 3], classes: 4, train_size: 64, test_size: 32}
model: {family: cifar, depth: 8, widen_factor: 0.5}
train:
  epochs: 2
  batch_size: 16
  optimizer: {lr: 0.05}
  schedule: {name: multistep, milestones: [1]}
seeds: [1]
sweep:
  model.residual: [false, true]
resources: {workers: 2}
`,
  );
}

/**
 * The invariants a sweep ends with, however it was interrupted: integrity ok, every trial `done` with
 * exactly one `done` event, and every (trial, epoch) row stored once.
 */
export function assertEveryTrialDoneOnce(db: string, trials: number, epochs = 2): void {
  const c = new Database(db, {readonly: true});
  try {
    assert.equal(c.pragma('integrity_check', {simple: true}), 'ok');
    const rows = c.prepare('SELECT id, status FROM trials').all() as {id: number; status: string}[];
    assert.equal(rows.length, trials);
    assert.deepEqual([...new Set(rows.map((r) => r.status))], ['done'], JSON.stringify(rows));
    const doneEvents = c.prepare("SELECT trial_id, count(*) AS n FROM events WHERE kind = 'done' GROUP BY trial_id").all() as {n: number}[];
    assert.equal(doneEvents.length, trials);
    assert.ok(doneEvents.every((e) => e.n === 1), 'each trial ended done exactly once');
    const perTrial = c.prepare('SELECT trial_id, count(*) AS n, count(DISTINCT epoch) AS d, max(epoch) AS m FROM epochs GROUP BY trial_id').all() as {n: number; d: number; m: number}[];
    assert.equal(perTrial.length, trials);
    for (const p of perTrial) assert.deepEqual([p.n, p.d, p.m], [epochs, epochs, epochs]);
  } finally {
    c.close();
  }
}
