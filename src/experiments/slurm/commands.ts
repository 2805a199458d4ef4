/**
 * The Slurm client commands ablate calls (sbatch, squeue, sacct, scancel, scontrol, sinfo), each with a
 * timeout, and parsers for their machine-readable output. Nothing here keeps state.
 */
import {execFile} from 'node:child_process';
import {EnvironmentError} from '../../errors';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A Slurm command that could not run at all (missing, or it hung past its timeout). */
export class SlurmCommandError extends Error {
  constructor(message: string, readonly kind: 'missing' | 'timeout' | 'failed', readonly stderr = '') {
    super(message);
  }
}

/** Run a Slurm command; a non-zero exit is returned, a missing binary or a timeout is thrown. */
export function slurmCommand(cmd: string, args: string[], timeoutMs = 30_000): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, {timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024}, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & {killed?: boolean; code?: number | string}) | null;
      if (e?.code === 'ENOENT') return reject(new SlurmCommandError(`${cmd} is not on PATH`, 'missing'));
      if (e?.killed) return reject(new SlurmCommandError(`${cmd} ${args.join(' ')} did not answer within ${timeoutMs / 1000} s`, 'timeout'));
      resolve({code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr});
    });
  });
}

/** Like slurmCommand, but a non-zero exit is an error too. */
async function checked(cmd: string, args: string[], timeoutMs?: number): Promise<string> {
  const r = await slurmCommand(cmd, args, timeoutMs);
  if (r.code !== 0) throw new SlurmCommandError(`${cmd} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`, 'failed', r.stderr);
  return r.stdout;
}

export function missingClient(cmd: string): EnvironmentError {
  return new EnvironmentError(`${cmd} is not on PATH; the slurm executor drives the cluster through Slurm's client commands`, {
    hint: 'run ablate on a login node of the cluster (or apt-get install slurm-client there), or use --executor thread to train on this machine',
  });
}

export interface ClusterConfig {
  /** Array indices must be below this (scontrol show config: MaxArraySize). */
  maxArraySize: number;
  /** Whether slurmdbd accounting is enabled, so that sacct knows finished jobs. */
  accounting: boolean;
}

/** `Key = Value` lines of `scontrol show config`. */
export function parseConfig(text: string): ClusterConfig {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s*=\s*(.*)$/.exec(line.trim());
    if (m) kv.set(m[1], m[2].trim());
  }
  const max = Number.parseInt(kv.get('MaxArraySize') ?? '', 10);
  const storage = kv.get('AccountingStorageType') ?? 'accounting_storage/none';
  return {maxArraySize: Number.isFinite(max) && max > 0 ? max : 1001, accounting: storage !== 'accounting_storage/none'};
}

export async function clusterConfig(): Promise<ClusterConfig> {
  return parseConfig(await checked('scontrol', ['show', 'config']));
}

export async function partitions(): Promise<string[]> {
  const out = await checked('sinfo', ['-h', '-o', '%R']);
  return [...new Set(out.split('\n').map((s) => s.trim()).filter(Boolean))];
}

/** The job id `sbatch --parsable` prints: `123` or `123;cluster`. */
export function parseJobId(stdout: string): string | undefined {
  const m = /^(\d+)(;\S+)?\s*$/.exec(stdout.trim());
  return m?.[1];
}

export async function sbatch(script: string, extra: string[] = []): Promise<CommandResult> {
  return slurmCommand('sbatch', ['--parsable', ...extra, script], 60_000);
}

export interface QueueEntry {
  arrayJobId: string;
  /** The array task index; null for a job that is not an array. */
  index: number | null;
  state: string;
  reason: string;
  node: string;
  name: string;
}

const QUEUE_FORMAT = '%F|%K|%T|%r|%N|%j';

/** `squeue -r -o QUEUE_FORMAT`: one line per array task. */
export function parseQueue(text: string): QueueEntry[] {
  const out: QueueEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split('|');
    if (f.length < 6) continue;
    const index = /^\d+$/.test(f[1]) ? Number(f[1]) : null;
    out.push({arrayJobId: f[0], index, state: f[2].replace(/\+$/, ''), reason: f[3], node: f[4], name: f[5]});
  }
  return out;
}

/** Every task of the named jobs, finished ones included while Slurm remembers them (MinJobAge). One squeue call. */
export async function queue(names: string[]): Promise<QueueEntry[]> {
  if (names.length === 0) return [];
  return parseQueue(await checked('squeue', ['-h', '-r', '-t', 'all', `--name=${names.join(',')}`, '-o', QUEUE_FORMAT]));
}

/** Final states from accounting (sacct), for tasks that squeue has forgotten. */
export function parseSacct(text: string): QueueEntry[] {
  const out: QueueEntry[] = [];
  for (const line of text.split('\n')) {
    const [jobId, state, node, name] = line.trim().split('|');
    const m = /^(\d+)_(\d+)$/.exec(jobId ?? '');
    if (!m || !state) continue;
    // sacct writes "CANCELLED by 0"; the first word is the state.
    out.push({arrayJobId: m[1], index: Number(m[2]), state: state.split(' ')[0], reason: '', node: node ?? '', name: name ?? ''});
  }
  return out;
}

export async function sacct(arrayJobIds: string[]): Promise<QueueEntry[]> {
  if (arrayJobIds.length === 0) return [];
  return parseSacct(await checked('sacct', ['-n', '-P', '-X', '-j', arrayJobIds.join(','), '-o', 'JobID,State,NodeList,JobName']));
}

/** One batched scancel for every given job. */
export async function scancel(jobIds: string[]): Promise<void> {
  if (jobIds.length === 0) return;
  await checked('scancel', jobIds, 30_000);
}
