/**
 * `ablate show TRIAL`: one trial's identity, resolved spec, per-epoch curve and events.
 */
import YAML from 'yaml';
import type {Db} from '../store/db';
import {epochsOfTrial, eventsOfTrial, findTrial, getSweep, type EpochRow, type EventRow, type TrialRow} from '../store/queries';
import {age, dateTime, duration, fixed, humanCount} from './format';
import {engineText, engineVersions, plannedEpochs, variantLabel} from './model';
import {renderTerminal} from './render';

/** An epoch row as shown: the stored row with its errors in percent. */
export type ShownEpoch = Omit<EpochRow, 'trialId'>;

export interface TrialDetail {
  sweep: {id: number; name: string};
  trial: Omit<TrialRow, 'spec' | 'variantKey'> & {plannedEpochs: number | null};
  spec: unknown;
  epochs: ShownEpoch[];
  events: EventRow[];
  units: {err: 'percent'; time: 'seconds'};
}

const num = (v: number | null) => (v !== null && Number.isFinite(v) ? v : null);

/** Find a trial by id or key prefix and read everything about it. */
export function getTrialDetail(db: Db, ref: string): TrialDetail {
  return db.transaction(() => {
    const t = findTrial(db, ref);
    const sweep = getSweep(db, t.sweepId);
    const {spec, variantKey: _variantKey, ...trial} = t;
    return {
      sweep: {id: t.sweepId, name: sweep?.name ?? '?'},
      trial: {...trial, plannedEpochs: plannedEpochs(spec)},
      spec,
      epochs: epochsOfTrial(db, t.id).map((e) => ({
        epoch: e.epoch,
        trainLoss: e.trainLoss,
        trainErr: num(e.trainErr) === null ? null : (e.trainErr as number) * 100,
        testLoss: e.testLoss,
        testErr: num(e.testErr) === null ? null : (e.testErr as number) * 100,
        lr: e.lr,
        seconds: e.seconds,
        imagesPerSec: e.imagesPerSec,
      })),
      events: eventsOfTrial(db, t.id),
      units: {err: 'percent' as const, time: 'seconds' as const},
    };
  })();
}

function indent(text: string, by = '  '): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => by + l)
    .join('\n');
}

/** The spec as YAML, lists of scalars on one line (`stages: [3, 3, 3]`) as in the study files. */
function specYaml(spec: unknown): string {
  const doc = new YAML.Document(spec ?? null);
  YAML.visit(doc, {
    Seq(_, node) {
      if (node.items.every((i) => YAML.isScalar(i))) node.flow = true;
    },
  });
  return doc.toString({flowCollectionPadding: false});
}

/** A loss as stored: SQLite keeps ±Infinity but turns NaN into NULL, which reads as "—". */
function lossText(v: number | null): string {
  if (v === null) return '—';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  return fixed(v, 4);
}

/** "native-cpu (oneDNN 2.6.3, ...), 2 threads[, bf16 convolutions], asked for native-cpu"; "not recorded" before a trial starts. */
function engineLine(engine: string | null, info: Record<string, unknown> | null): string {
  if (engine === null) return 'not recorded';
  const parts = [engineText({engine, versions: engineVersions(info)})];
  if (typeof info?.threads === 'number') parts.push(`${info.threads} thread${info.threads === 1 ? '' : 's'}`);
  if (info?.precision === 'bf16') parts.push('bf16 convolutions');
  if (typeof info?.requested === 'string' && info.requested !== engine) parts.push(`asked for ${info.requested}`);
  return parts.join(', ');
}

export function renderTrial(d: TrialDetail, now = Date.now()): string {
  const t = d.trial;
  const lines: string[] = [];
  lines.push(`trial ${t.id} of sweep ${d.sweep.name} (#${d.sweep.id})`);
  lines.push(`  key       ${t.key}`);
  lines.push(`  variant   ${variantLabel(t.variant)}`);
  lines.push(`  seed      ${t.seed}`);
  const where = [t.slot !== null ? `slot ${t.slot}` : '', t.pid !== null ? `pid ${t.pid}` : ''].filter(Boolean).join(', ');
  const crashes = t.crashes > 0 ? `, ${t.crashes} crash${t.crashes === 1 ? '' : 'es'}` : '';
  lines.push(`  status    ${t.status} (attempt ${t.attempt}${crashes}${where ? `, ${where}` : ''})`);
  lines.push(`  engine    ${engineLine(t.engine, t.engineInfo)}`);
  lines.push(`  params    ${humanCount(t.params)}${t.params !== null ? ` (${t.params.toLocaleString('en-US')})` : ''}`);
  lines.push(`  MACs      ${humanCount(t.macs)}${t.macs !== null ? ` (${t.macs.toLocaleString('en-US')}) per image` : ''}`);
  lines.push(`  epochs    ${d.epochs.length}${t.plannedEpochs !== null ? ` of ${t.plannedEpochs}` : ''}`);
  const secs = d.epochs.reduce((a, e) => a + (e.seconds ?? 0), 0);
  lines.push(`  started   ${dateTime(t.startedAt)}${t.finishedAt !== null ? `, finished ${dateTime(t.finishedAt)}` : ''}${secs > 0 ? ` (training ${duration(secs)})` : ''}`);
  if (t.status === 'running') lines.push(`  heartbeat ${age(t.heartbeatAt, now)}`);
  if (t.error) lines.push(`  error     ${t.error.split('\n').join('\n            ')}`);
  lines.push('', 'resolved spec:', indent(specYaml(d.spec)));
  lines.push('', 'epochs:');
  if (d.epochs.length === 0) lines.push('  (none recorded yet)');
  else {
    lines.push(
      renderTerminal({
        head: ['epoch', 'train loss', 'train err (%)', 'test loss', 'test err (%)', 'lr', 'time', 'images/s'],
        align: ['right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
        rows: d.epochs.map((e) => [
          String(e.epoch),
          lossText(e.trainLoss),
          e.trainErr === null ? '—' : fixed(e.trainErr),
          lossText(e.testLoss),
          e.testErr === null ? '—' : fixed(e.testErr),
          e.lr === null ? '—' : String(Number(e.lr.toPrecision(4))),
          duration(e.seconds),
          fixed(e.imagesPerSec, 1),
        ]),
      }).trimEnd(),
    );
    if (d.epochs.some((e) => e.trainLoss === null || e.testLoss === null || e.testErr === null)) lines.push('  — = NaN (stored as NULL) or not measured');
  }
  if (d.events.length > 0) {
    lines.push('', 'events:');
    for (const e of d.events) lines.push(`  ${dateTime(e.at)}  ${e.kind}${e.message ? `: ${e.message}` : ''}`);
  }
  return lines.join('\n') + '\n';
}
