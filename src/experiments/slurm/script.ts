/**
 * The job script of one submission: an array with one task per trial. Every option is an #SBATCH line in
 * the script, so the file in submissions/ says exactly what was asked of the cluster.
 */
import * as path from 'node:path';
import type {SlurmSettings} from './settings';

/** Quote a word for bash. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The #SBATCH options that come from the study's slurm section. */
export function resourceOptions(s: SlurmSettings): string[] {
  const out: string[] = [];
  if (s.partition) out.push(`--partition=${s.partition}`);
  if (s.account) out.push(`--account=${s.account}`);
  if (s.qos) out.push(`--qos=${s.qos}`);
  if (s.time !== undefined) out.push(`--time=${s.time}`);
  if (s.gpus_per_trial > 0) out.push(`--gres=gpu:${s.gpus_per_trial}`);
  if (s.cpus_per_task !== undefined) out.push(`--cpus-per-task=${s.cpus_per_task}`);
  if (s.mem !== undefined) out.push(`--mem=${s.mem}`);
  return out;
}

/** The file through which the job script asks array task `index` to stop (it holds USR1 or TERM). */
export function stopFile(manifest: string, index: number): string {
  return `${manifest.replace(/\.json$/, '')}.${index}.stop`;
}

export interface ScriptOptions {
  name: string;
  /** Array tasks 0 .. size-1. */
  size: number;
  settings: SlurmSettings;
  logDir: string;
  manifest: string;
  /** Start only after this job has ended (chunks of a throttled sweep run one after another). */
  after?: string;
  /** The node binary and the worker script; the cluster shares this machine's filesystem. */
  node?: string;
  worker?: string;
}

export function jobScript(o: ScriptOptions): string {
  const s = o.settings;
  const sbatch = [
    `--job-name=${o.name}`,
    `--array=0-${o.size - 1}${s.max_parallel ? `%${s.max_parallel}` : ''}`,
    `--output=${path.join(o.logDir, '%x-%a.out')}`,
    '--open-mode=append',
    '--requeue',
    `--signal=B:USR1@${s.signal_seconds}`,
    ...resourceOptions(s),
    ...(o.after ? [`--dependency=afterany:${o.after}`] : []),
    // Extra lines last: a repeated option overrides the one above.
    ...s.sbatch.map((l) => l.replace(/^#SBATCH\s+/, '')),
  ];
  const node = o.node ?? process.execPath;
  const worker = o.worker ?? path.join(__dirname, 'worker.js');
  return [
    '#!/bin/bash',
    ...sbatch.map((l) => `#SBATCH ${l}`),
    ...(s.setup.length ? ['', '# setup from the study', ...s.setup] : []),
    '',
    '# The worker checkpoints and exits on USR1 (time limit, preemption) and TERM (scancel). Its training',
    '# steps do not yield to signal handlers, so the request also goes into a file that it checks between steps.',
    '# bash runs traps only between commands: the worker runs in the background and the script waits for it.',
    `stop=${shellQuote(o.manifest.replace(/\.json$/, ''))}."$SLURM_ARRAY_TASK_ID".stop`,
    'rm -f "$stop"',
    `${[node, worker, o.manifest].map(shellQuote).join(' ')} "$SLURM_ARRAY_TASK_ID" &`,
    'pid=$!',
    'trap \'echo USR1 > "$stop"; kill -USR2 "$pid" 2>/dev/null\' USR1',
    'trap \'echo TERM > "$stop"; kill -TERM "$pid" 2>/dev/null\' TERM',
    'while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done',
    'wait "$pid"',
    '',
  ].join('\n');
}
