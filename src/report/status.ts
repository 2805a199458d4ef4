/**
 * `ablate status`: sweeps with trial counts per state, progress in epochs with a rough ETA, and the
 * running trials with their last epoch and heartbeat age. Read in one read transaction so the
 * numbers agree with each other while a coordinator writes.
 */
import type {Db} from '../store/db';
import {
  emptyCounts,
  epochCountsByTrial,
  lastEpochs,
  listSweeps,
  resolveSweep,
  statusCounts,
  sweepEpochTotals,
  trialsWithStatus,
  unfinishedProgress,
  type StatusCounts,
  type SweepRow,
  type VariantValue,
} from '../store/queries';
import {plannedEpochs, variantLabel} from './model';
import {age, dateTime, duration, fixed, percent} from './format';
import {renderTerminal, type TextTable} from './render';

export interface RunningTrialStatus {
  id: number;
  key: string;
  variant: Record<string, VariantValue>;
  seed: number;
  attempt: number;
  slot: number | null;
  pid: number | null;
  owner: string | null;
  /** Last completed epoch (null before the first). */
  epoch: number | null;
  plannedEpochs: number | null;
  /** Errors of the last epoch in percent. */
  last: {trainErr: number | null; testErr: number | null; trainLoss: number | null; imagesPerSec: number | null} | null;
  heartbeatAt: number | null;
  heartbeatAgeMs: number | null;
  startedAt: number | null;
  /** Slurm: where the trial's job is, e.g. "queued (Priority)" or "running on node12". */
  where?: string;
}

export interface ProblemTrial {
  id: number;
  key: string;
  variant: Record<string, VariantValue>;
  seed: number;
  status: 'failed' | 'diverged';
  epochs: number;
  error: string | null;
}

export interface SweepStatus {
  id: number;
  name: string;
  status: string;
  configPath: string | null;
  createdAt: number;
  counts: StatusCounts;
  total: number;
  epochsDone: number;
  /** Epochs the unfinished trials still need, when their specs say how many. */
  epochsRemaining: number | null;
  /** Rough time to finish: remaining epochs × mean epoch time ÷ running trials. */
  etaSeconds: number | null;
  running: RunningTrialStatus[];
  /** Failed and diverged trials (only when one sweep was asked for). */
  problems?: ProblemTrial[];
}

export interface StatusReport {
  now: number;
  sweeps: SweepStatus[];
}

export interface StatusOptions {
  /** Sweep name or id; default: every sweep. */
  sweep?: string;
  /** Clock for heartbeat ages (tests pass a fixed one). */
  now?: number;
}

function sweepStatus(db: Db, s: SweepRow, counts: StatusCounts, now: number, detail: boolean): SweepStatus {
  // Totals and the remaining work come from SQL; only running (and, for one sweep, failed) trials are read whole.
  const totals = sweepEpochTotals(db, s.id);
  const epochsDone = totals.epochs;
  const seconds = totals.seconds;
  let remaining: number | null = 0;
  for (const t of unfinishedProgress(db, s.id)) {
    if (t.plannedEpochs === null) remaining = null;
    else if (remaining !== null) remaining += Math.max(0, t.plannedEpochs - t.epochs);
  }
  const runningRows = trialsWithStatus(db, s.id, 'running');
  const last = lastEpochs(db, runningRows.map((t) => t.id));
  const onSlurm = slurmWhere(db, s.id);
  const running: RunningTrialStatus[] = runningRows.map((t) => {
    const e = last.get(t.id);
    return {
      id: t.id,
      key: t.key,
      variant: t.variant,
      seed: t.seed,
      attempt: t.attempt,
      slot: t.slot,
      pid: t.pid,
      owner: t.owner,
      epoch: e?.epoch ?? null,
      plannedEpochs: plannedEpochs(t.spec),
      last: e ? {trainErr: percent(e.trainErr), testErr: percent(e.testErr), trainLoss: e.trainLoss, imagesPerSec: e.imagesPerSec} : null,
      heartbeatAt: t.heartbeatAt,
      heartbeatAgeMs: t.heartbeatAt === null ? null : Math.max(0, now - t.heartbeatAt),
      startedAt: t.startedAt,
      ...(onSlurm.has(t.id) ? {where: onSlurm.get(t.id)} : {}),
    };
  });
  const perEpoch = epochsDone > 0 && seconds > 0 ? seconds / epochsDone : null;
  const etaSeconds = remaining !== null && perEpoch !== null && remaining > 0 ? (remaining * perEpoch) / Math.max(1, running.length) : remaining === 0 ? 0 : null;
  const out: SweepStatus = {
    id: s.id,
    name: s.name,
    status: s.status,
    configPath: s.configPath,
    createdAt: s.createdAt,
    counts,
    total: Object.values(counts).reduce((a, b) => a + b, 0),
    epochsDone,
    epochsRemaining: remaining,
    etaSeconds,
    running,
  };
  if (detail) {
    const problems = [...trialsWithStatus(db, s.id, 'failed'), ...trialsWithStatus(db, s.id, 'diverged')].sort((a, b) => a.idx - b.idx || a.seed - b.seed || a.id - b.id);
    const perTrial = problems.length > 0 ? epochCountsByTrial(db, s.id) : new Map<number, {epochs: number}>();
    out.problems = problems.map((t) => ({
      id: t.id,
      key: t.key,
      variant: t.variant,
      seed: t.seed,
      status: t.status as 'failed' | 'diverged',
      epochs: perTrial.get(t.id)?.epochs ?? 0,
      error: t.error,
    }));
  }
  return out;
}

/** Where each active Slurm job of a sweep is, from the last look at the queue. */
function slurmWhere(db: Db, sweepId: number): Map<number, string> {
  const rows = db
    .prepare(
      `SELECT t.trial_id, t.state, t.reason, t.node, t.array_index, s.job_id FROM slurm_tasks t JOIN slurm_submissions s ON s.id = t.submission_id
       WHERE s.sweep_id = ? AND t.outcome IS NULL`,
    )
    .all(sweepId) as {trial_id: number; state: string; reason: string | null; node: string | null; array_index: number; job_id: string | null}[];
  return new Map(
    rows.map((r) => {
      const job = r.job_id ? `job ${r.job_id}_${r.array_index}` : 'being submitted';
      const where =
        r.state === 'RUNNING' ? `running on ${r.node ?? '?'} (${job})`
        : r.state === 'PENDING' || r.state === 'SUBMITTED' ? `queued${r.reason && r.reason !== 'None' ? ` (${r.reason})` : ''} (${job})`
        : `${r.state.toLowerCase()}${r.node ? ` on ${r.node}` : ''} (${job})`;
      return [r.trial_id, where];
    }),
  );
}

/** Status of one sweep (with its failures) or of every sweep. */
export function getStatus(db: Db, opts: StatusOptions = {}): StatusReport {
  const now = opts.now ?? Date.now();
  return db.transaction(() => {
    const counts = statusCounts(db);
    const sweeps = opts.sweep !== undefined ? [resolveSweep(db, opts.sweep)] : listSweeps(db);
    return {
      now,
      sweeps: sweeps.map((s) => sweepStatus(db, s, counts.get(s.id) ?? emptyCounts(), now, opts.sweep !== undefined)),
    };
  })();
}

function progress(s: SweepStatus): string {
  const finished = s.counts.done + s.counts.failed + s.counts.diverged;
  const eta = s.etaSeconds !== null && s.etaSeconds > 0 && (s.counts.running > 0 || s.counts.pending > 0) ? `, ETA ~${duration(s.etaSeconds)}` : '';
  return `${finished}/${s.total}${eta}`;
}

export function renderStatus(report: StatusReport): string {
  if (report.sweeps.length === 0) return 'no sweeps yet; start one with: ablate run smoke\n';
  const overview: TextTable = {
    head: ['id', 'sweep', 'status', 'created', 'pending', 'running', 'done', 'failed', 'diverged', 'finished'],
    align: ['right', 'left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'],
    rows: report.sweeps.map((s) => [
      String(s.id),
      s.name,
      s.status,
      dateTime(s.createdAt),
      String(s.counts.pending),
      String(s.counts.running),
      String(s.counts.done),
      String(s.counts.failed),
      String(s.counts.diverged),
      progress(s),
    ]),
  };
  let out = renderTerminal(overview);
  for (const s of report.sweeps) {
    if (s.running.length > 0) {
      out += `\nrunning in ${s.name} (#${s.id}):\n`;
      const slurm = s.running.some((r) => r.where !== undefined);
      out += renderTerminal({
        head: ['trial', 'variant', 'seed', 'epoch', 'train err (%)', 'test err (%)', 'images/s', 'attempt', slurm ? 'where' : 'slot', 'heartbeat'],
        align: ['right', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
        rows: s.running.map((r) => [
          String(r.id),
          variantLabel(r.variant),
          String(r.seed),
          `${r.epoch ?? 0}${r.plannedEpochs !== null ? `/${r.plannedEpochs}` : ''}`,
          fixed(r.last?.trainErr),
          fixed(r.last?.testErr),
          fixed(r.last?.imagesPerSec, 1),
          String(r.attempt),
          r.where ?? (r.slot === null ? '—' : String(r.slot)),
          age(r.heartbeatAt, report.now),
        ]),
      });
    }
    if (s.problems && s.problems.length > 0) {
      out += `\nfailed or diverged in ${s.name} (#${s.id}):\n`;
      for (const p of s.problems) {
        const why = p.status === 'diverged' ? `diverged after ${p.epochs} epoch(s)` : `failed: ${(p.error ?? 'no message').split('\n')[0]}`;
        out += `  trial ${p.id} (${variantLabel(p.variant)}, seed ${p.seed}): ${why}\n`;
      }
    }
  }
  return out;
}
