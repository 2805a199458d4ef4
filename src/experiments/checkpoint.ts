/**
 * Trial checkpoints: weights, BN running statistics, momentum buffers, the position in the data order
 * (epoch and step: the order and augmentation are pure functions of seed, epoch and step) and the metrics
 * written so far. Written atomically: temp file, fsync, rename, fsync of the folder.
 *
 * Layout: "ABLCKPT1" | uint32 LE header length | header JSON | zero padding to 4 bytes | float32 data.
 *
 * A checkpoint belongs to exactly one trial: (store id, sweep id, trial key). The coordinator files it under
 * that identity (`checkpointPath`) and the header repeats it, so a checkpoint copied or moved to another
 * store's, sweep's or trial's place is refused on load instead of being resumed as if it were that trial's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type {EpochRow} from '../store/store';

const MAGIC = 'ABLCKPT1';

/** Whose checkpoint it is. */
export interface CheckpointIdentity {
  /** The database's store id (meta.store_id). */
  store: string;
  sweep: number;
  /** The trial key (hash of the resolved trial spec). */
  trial: string;
}

/** Where a trial's checkpoint lives under the checkpoint folder: one folder per store and sweep. */
export function checkpointPath(dir: string, id: CheckpointIdentity): string {
  return path.join(dir, id.store, String(id.sweep), `${id.trial}.ckpt`);
}

function sameIdentity(a: CheckpointIdentity, b: CheckpointIdentity): boolean {
  return a.store === b.store && a.sweep === b.sweep && a.trial === b.trial;
}

function identityText(id: CheckpointIdentity): string {
  return `store ${id.store}, sweep ${id.sweep}, trial ${id.trial}`;
}

export interface PartialEpoch {
  lossSum: number;
  errSum: number;
  seen: number;
  seconds: number;
}

export interface CheckpointState {
  /** The trial it belongs to; absent only in checkpoints of tests that run a trial without a store. */
  identity?: CheckpointIdentity;
  /** Completed epochs. */
  epoch: number;
  /** Steps already taken in epoch `epoch + 1` (0 at an epoch boundary). */
  step: number;
  partial?: PartialEpoch;
  history: EpochRow[];
  tensors: Map<string, {shape: number[]; data: Float32Array}>;
}

interface Header {
  identity?: CheckpointIdentity;
  epoch: number;
  step: number;
  partial?: PartialEpoch;
  history: EpochRow[];
  tensors: {name: string; shape: number[]; offset: number; length: number}[];
}

export function saveCheckpoint(file: string, state: CheckpointState): void {
  fs.mkdirSync(path.dirname(file), {recursive: true});
  const tensors: Header['tensors'] = [];
  let offset = 0;
  for (const [name, t] of state.tensors) {
    tensors.push({name, shape: t.shape, offset, length: t.data.length});
    offset += t.data.length;
  }
  const header = Buffer.from(JSON.stringify({identity: state.identity, epoch: state.epoch, step: state.step, partial: state.partial, history: state.history, tensors} satisfies Header));
  const pad = (4 - ((MAGIC.length + 4 + header.length) % 4)) % 4;
  const prefix = Buffer.alloc(MAGIC.length + 4 + header.length + pad);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(header.length, MAGIC.length);
  header.copy(prefix, MAGIC.length + 4);
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, prefix);
    for (const t of state.tensors.values()) fs.writeSync(fd, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dir = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}

/**
 * The checkpoint at `file`: `state` when there is one and it belongs to `expected`; `ignored` (why) when
 * there is one that does not (another store's, sweep's or trial's, or one that names no owner), which the
 * caller must not resume from. Neither when there is no file. A damaged file is an error naming it.
 * Without `expected` (a trial run outside a store) any intact checkpoint is taken.
 */
export function loadCheckpoint(file: string, expected?: CheckpointIdentity): {state?: CheckpointState; ignored?: string} {
  if (!fs.existsSync(file)) return {};
  const buf = fs.readFileSync(file);
  if (buf.length < MAGIC.length + 4 || buf.toString('latin1', 0, MAGIC.length) !== MAGIC) {
    throw new Error(`checkpoint ${file} is damaged (bad header); delete it to restart this trial from scratch`);
  }
  const len = buf.readUInt32LE(MAGIC.length);
  const header = JSON.parse(buf.toString('utf8', MAGIC.length + 4, MAGIC.length + 4 + len)) as Header;
  if (expected) {
    if (!header.identity) return {ignored: `checkpoint ${file} names no owner (written by an older ablate); this trial (${identityText(expected)}) starts from scratch`};
    if (!sameIdentity(header.identity, expected)) {
      return {ignored: `checkpoint ${file} belongs to ${identityText(header.identity)}, not to this trial (${identityText(expected)}); it starts from scratch`};
    }
  }
  const start = MAGIC.length + 4 + len + ((4 - ((MAGIC.length + 4 + len) % 4)) % 4);
  const floats = new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length));
  const tensors = new Map<string, {shape: number[]; data: Float32Array}>();
  for (const t of header.tensors) {
    if (t.offset + t.length > floats.length) throw new Error(`checkpoint ${file} is truncated; delete it to restart this trial from scratch`);
    tensors.set(t.name, {shape: t.shape, data: floats.subarray(t.offset, t.offset + t.length)});
  }
  return {state: {identity: header.identity, epoch: header.epoch, step: header.step, partial: header.partial, history: header.history, tensors}};
}
