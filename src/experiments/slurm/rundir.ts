/**
 * Run folders on the shared filesystem: how a trial on a compute node tells the coordinator what happened,
 * without ever opening the database. Layout of a sweep's folder:
 *
 *   submissions/<job name>.json|.sh   manifest (array index -> trial) and job script of one sbatch call
 *   logs/<job name>-<index>.out       the array task's stdout and stderr (appended across requeues)
 *   checkpoints/<store id>/<sweep id>/<trial key>.ckpt
 *                                     the trial's newest checkpoint, shared by its attempts; filed under the
 *                                     trial's identity, which its header repeats (experiments/checkpoint.ts)
 *   trials/<key>/attempt-<n>/         one folder per attempt (submission):
 *     events.jsonl   append-only, one JSON line per epoch and per state change, numbered by `seq`
 *     heartbeat.json the latest step (written atomically about once a second while training)
 *     status.json    the attempt's state (written atomically)
 *     done.json      the outcome, written last; its `seq` is the last event the outcome depends on
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type {EngineInfo} from '../../engine';
import type {EpochRow} from '../../store/store';
import type {TrialOutcome} from '../trial';

export type StopReason = 'time-limit' | 'preempted' | 'cancelled';

export type RunEventBody =
  | {type: 'started'; pid: number; node: string; job: string; restart: number; device: string | null}
  | {type: 'engine'; engine: EngineInfo; pid: number; device: string | null}
  | {type: 'resumed'; epoch: number; step: number}
  | {type: 'checkpoint-ignored'; file: string; reason: string}
  | {type: 'epoch'; row: EpochRow}
  | {type: 'stopped'; signal: string; reason: StopReason; epochs: number}
  | {type: 'result'; outcome: TrialOutcome}
  | {type: 'error'; message: string; code?: string};

export type RunEvent = RunEventBody & {seq: number; at: number};

export interface Heartbeat {
  at: number;
  epoch: number;
  step: number;
  steps: number;
  loss: number;
  imagesPerSec: number;
}

export interface RunStatus {
  state: 'running' | 'stopped' | 'done' | 'diverged' | 'failed';
  at: number;
  job: string;
  node: string;
  restart: number;
  reason?: StopReason;
  error?: string;
}

/** How an attempt ended, as far as the trial goes (a stop is not an end: it leaves no done marker). */
export interface AttemptOutcome {
  status: 'done' | 'diverged' | 'failed';
  epochs: number;
  error?: string;
}

export interface DoneMarker {
  outcome: AttemptOutcome;
  /** The last event written before the marker: the coordinator reads up to it before settling the trial. */
  seq: number;
}

/** The folder that `checkpointPath` files a sweep's checkpoints under. */
export function checkpointFolder(sweepDir: string): string {
  return path.join(sweepDir, 'checkpoints');
}

export function trialFolder(sweepDir: string, key: string): string {
  return path.join(sweepDir, 'trials', key);
}

export function attemptFolder(sweepDir: string, key: string, attempt: number): string {
  return path.join(trialFolder(sweepDir, key), `attempt-${attempt}`);
}

/** Write a small file so that readers see the old or the new content, never a part (temp file, rename). */
export function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    // Missing (not written yet, or not visible yet on this node) or replaced mid-read: try again later.
    return undefined;
  }
}

/** The writing side, in the array task. */
export class RunWriter {
  private seq = 0;
  private fd: number;
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    fs.mkdirSync(dir, {recursive: true});
    const file = path.join(dir, 'events.jsonl');
    // A requeued task continues the numbering; a line cut by a kill is closed so that it stays one bad line.
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    for (const line of text.split('\n')) {
      try {
        this.seq = Math.max(this.seq, (JSON.parse(line) as RunEvent).seq ?? 0);
      } catch {
        // a cut line
      }
    }
    this.fd = fs.openSync(file, 'a');
    if (text.length > 0 && !text.endsWith('\n')) fs.writeSync(this.fd, '\n');
  }

  event(body: RunEventBody): number {
    this.seq++;
    fs.writeSync(this.fd, JSON.stringify({seq: this.seq, at: Date.now(), ...body}) + '\n');
    fs.fsyncSync(this.fd);
    return this.seq;
  }

  heartbeat(h: Heartbeat): void {
    writeAtomic(path.join(this.dir, 'heartbeat.json'), JSON.stringify(h));
  }

  status(s: RunStatus): void {
    writeAtomic(path.join(this.dir, 'status.json'), JSON.stringify(s));
  }

  /** The outcome; written last. */
  done(outcome: AttemptOutcome): void {
    writeAtomic(path.join(this.dir, 'done.json'), JSON.stringify({outcome, seq: this.seq} satisfies DoneMarker));
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/**
 * Events after byte `offset`: only whole lines (a line still being written waits for the next read); lines
 * that do not parse (cut by a kill) are skipped. A missing file reads as empty.
 */
export function readEvents(dir: string, offset: number): {events: RunEvent[]; offset: number} {
  let fd: number;
  try {
    fd = fs.openSync(path.join(dir, 'events.jsonl'), 'r');
  } catch {
    return {events: [], offset};
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size <= offset) return {events: [], offset};
    const buf = Buffer.alloc(size - offset);
    const n = fs.readSync(fd, buf, 0, buf.length, offset);
    const end = buf.subarray(0, n).lastIndexOf(0x0a);
    if (end < 0) return {events: [], offset};
    const events: RunEvent[] = [];
    for (const line of buf.toString('utf8', 0, end).split('\n')) {
      try {
        const e = JSON.parse(line) as RunEvent;
        if (typeof e.seq === 'number' && typeof e.type === 'string') events.push(e);
      } catch {
        // a line cut by a kill
      }
    }
    return {events, offset: offset + end + 1};
  } finally {
    fs.closeSync(fd);
  }
}
