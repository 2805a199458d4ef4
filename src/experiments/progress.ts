/**
 * Live progress of `ablate run`. On a terminal: a block redrawn in place (trials done/total with ETA, a
 * line per running trial). Otherwise: plain log lines, one per finished epoch and per finished trial.
 */
import type {TrialRow} from '../store/store';
import {DEFAULT_DB} from '../store/db';
import type {RunOptions, RunReporter, RunResult} from './runner';
import type {TrialEvent} from './trial';
import {percentText} from '../report/format';

interface Live {
  row: TrialRow;
  label: string;
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss?: number;
  err?: number;
  ips?: number;
}

const pct = (x: number | null | undefined) => percentText(x, '  -  ');

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function trialLabel(row: TrialRow): string {
  const variant = Object.entries(JSON.parse(row.variant_json) as Record<string, unknown>)
    .map(([k, v]) => `${k.split('.').pop()}=${JSON.stringify(v)}`)
    .join(' ');
  return `#${row.id} ${variant || 'base'} seed=${row.seed}`;
}

export function createReporter(out: NodeJS.WriteStream = process.stdout, err: NodeJS.WriteStream = process.stderr): RunReporter & {close(): void} {
  const tty = !!out.isTTY && process.env.TERM !== 'dumb';
  const live = new Map<number, Live>();
  let total = 0;
  let done = 0;
  let name = '';
  let work: (key: string) => number = () => 0;
  let workLeft = 0;
  let workDone = 0;
  const started = Date.now();
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;

  /** Remaining time from the work done so far (MACs x images x epochs), counting running trials' progress. */
  const eta = () => {
    const running = [...live.values()].reduce((a, l) => a + work(l.row.key) * Math.min(1, (l.epoch - 1 + (l.steps ? l.step / l.steps : 0)) / Math.max(1, l.epochs)), 0);
    const doneWork = workDone + running;
    if (workLeft <= 0 || doneWork <= 0.01 * workLeft) return '?';
    return formatDuration((((Date.now() - started) / 1000) * (workLeft - doneWork)) / doneWork);
  };
  const clear = () => {
    if (drawn > 0) out.write(`\x1b[${drawn}A\x1b[0J`);
    drawn = 0;
  };
  const draw = () => {
    if (!tty) return;
    clear();
    const lines = [`${name}: ${done}/${total} trials done, ${live.size} running, elapsed ${formatDuration((Date.now() - started) / 1000)}, ETA ${eta()}`];
    for (const l of live.values()) {
      lines.push(
        `  ${l.label.padEnd(40)} epoch ${l.epoch}/${l.epochs} step ${l.step}/${l.steps}  loss ${l.loss?.toFixed(3) ?? '-'}  err ${pct(l.err)}  ${l.ips ? `${l.ips.toFixed(1)} img/s` : ''}`,
      );
    }
    out.write(lines.map((s) => s.slice(0, (out.columns || 120) - 1)).join('\n') + '\n');
    drawn = lines.length;
  };
  const log = (line: string) => {
    if (tty) {
      clear();
      out.write(line + '\n');
      draw();
    } else out.write(line + '\n');
  };

  return {
    start(info) {
      total = info.total;
      done = info.done;
      name = info.name;
      work = info.work;
      workLeft = info.workLeft;
      log(`${info.resumed ? 'resuming' : 'starting'} sweep ${info.name} (id ${info.sweepId}): ${info.total} trials, ${info.done} already finished; ${info.where ?? `${info.workers} worker(s)${info.slots ? ` (${info.slots})` : ''}`}, engine ${info.engine}${info.engineReason ? ` (${info.engineReason})` : ''}`);
      if (tty) timer = setInterval(draw, 500);
    },
    warn(message) {
      if (tty) clear();
      err.write(`warning: ${message}\n`);
      draw();
    },
    trialStart(row) {
      const spec = JSON.parse(row.spec_json) as {train: {epochs: number}};
      live.set(row.id, {row, label: trialLabel(row), epoch: 1, epochs: spec.train.epochs, step: 0, steps: 0});
      if (!tty) log(`${trialLabel(row)}: started (attempt ${row.attempt})`);
    },
    trialEvent(row, ev: TrialEvent) {
      const l = live.get(row.id);
      if (!l) return;
      if (ev.type === 'resumed' && !tty) log(`${l.label}: resumed from its checkpoint (epoch ${ev.epoch + 1}, step ${ev.step})`);
      if (ev.type === 'progress') Object.assign(l, {epoch: ev.epoch, step: ev.step, steps: ev.steps, loss: ev.loss, ips: ev.imagesPerSec});
      if (ev.type === 'epoch') {
        Object.assign(l, {epoch: Math.min(l.epochs, ev.row.epoch + 1), step: 0, err: ev.row.test_err ?? undefined, ips: ev.row.images_per_sec ?? l.ips});
        if (!tty) {
          log(
            `${l.label}: epoch ${ev.row.epoch}/${l.epochs} train loss ${ev.row.train_loss?.toFixed(4) ?? '-'} err ${pct(ev.row.train_err)} | test loss ${ev.row.test_loss?.toFixed(4) ?? '-'} err ${pct(ev.row.test_err)} | ${ev.row.images_per_sec?.toFixed(1) ?? '-'} img/s`,
          );
        }
      }
    },
    trialEnd(row, status, detail) {
      const l = live.get(row.id);
      live.delete(row.id);
      if (status === 'done' || status === 'diverged' || status === 'failed') {
        done++;
        workDone += work(row.key);
      }
      const what = status === 'done' && l?.err !== undefined ? `done, test error ${pct(l.err)}` : status;
      log(`${trialLabel(row)}: ${what}${detail ? ` (${detail.split('\n')[0]})` : ''}  [${done}/${total}, ETA ${eta()}]`);
    },
    trialInfo(row, message) {
      log(`${trialLabel(row)}: ${message}`);
    },
    stopping(signal) {
      log(`${signal}: stopping — running trials checkpoint and stop; press Ctrl-C again to exit at once (the next run resumes either way)`);
    },
    close() {
      if (timer) clearInterval(timer);
      draw();
    },
  };
}

/**
 * `ablate run` and `ablate resume`: run with live progress, then the closing lines. The progress goes
 * to `out` (stderr when stdout carries --json).
 */
export async function runWithProgress(
  opts: Omit<RunOptions, 'reporter' | 'handleSignals'>,
  log: (line: string) => void,
  out: NodeJS.WriteStream = process.stdout,
): Promise<RunResult> {
  const {runStudy} = await import('./runner');
  const reporter = createReporter(out);
  const result = await runStudy({...opts, handleSignals: true, reporter}).finally(() => reporter.close());
  const c = result.counts;
  if (result.detached) {
    const db = opts.db === DEFAULT_DB ? '' : ` --db ${opts.db}`;
    log(`sweep ${result.name} (id ${result.sweepId}): ${c.running} trial(s) on Slurm${result.detached.length ? ` (submitted now: job ${result.detached.join(', ')})` : ''}, ${c.done + c.diverged} finished, ${c.failed} failed`);
    log(`follow it with: ablate status ${result.sweepId}${db}; results with: ablate report ${result.sweepId}${db}; re-attach with: ablate resume ${result.sweepId}${db}`);
    return result;
  }
  log(
    `sweep ${result.name} (id ${result.sweepId}): ${c.done} done, ${c.diverged} diverged, ${c.failed} failed, ${c.pending} not finished` +
      (result.signal ? ` — interrupted by ${result.signal}; run the same command to resume` : '') +
      (!result.signal && c.running > 0 ? ` (${c.running} running in another ablate process)` : ''),
  );
  if (!result.signal) log(`see the results: ablate report ${result.sweepId}${opts.db === DEFAULT_DB ? '' : ` --db ${opts.db}`}`);
  return result;
}
