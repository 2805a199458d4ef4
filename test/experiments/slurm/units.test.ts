/** The Slurm executor's parts that need no cluster: settling, run folders, output parsers, job script, study section. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {test} from 'node:test';
import {parseStudy} from '../../../src/experiments/config';
import {parseConfig, parseJobId, parseQueue, parseSacct} from '../../../src/experiments/slurm/commands';
import {readEvents, readJson, RunWriter, type DoneMarker} from '../../../src/experiments/slurm/rundir';
import {jobScript, stopFile} from '../../../src/experiments/slurm/script';
import {slurmSchema} from '../../../src/experiments/slurm/settings';
import {settle, type SettleInput} from '../../../src/experiments/slurm/settle';
import {ConfigError} from '../../../src/errors';
import {planStudy} from '../../../src/experiments/runner';
import {tmpDir} from '../../helpers';

const base: SettleInput = {state: 'COMPLETED', seq: 5, finalForMs: 60_000, graceMs: 30_000, timeouts: 0, maxTimeouts: 3, crashes: 0, retries: 1};
const done: DoneMarker = {outcome: {status: 'done', epochs: 2}, seq: 5};

test('settle: a done marker ends the trial once the events it follows are read; until then it waits', () => {
  assert.deepEqual(settle({...base, done}), {kind: 'finish', status: 'done', outcome: 'done', error: undefined});
  assert.equal(settle({...base, done, seq: 3, finalForMs: 0}).kind, 'wait', 'the last epoch lines are not visible yet');
  assert.equal(settle({...base, done, seq: 3, state: 'RUNNING'}).kind, 'wait');
  assert.equal(settle({...base, done, seq: 3}).kind, 'finish', 'after the grace time the marker counts alone');
  assert.deepEqual(settle({...base, done: {outcome: {status: 'failed', epochs: 0, error: 'boom'}, seq: 5}}), {kind: 'finish', status: 'failed', outcome: 'failed', error: 'boom'});
});

test('settle: time-outs are resubmitted up to max_timeouts; preemption and node failures are resubmitted; cancellation waits for the next run', () => {
  assert.equal(settle({...base, state: 'RUNNING'}).kind, 'wait');
  assert.equal(settle({...base, state: 'PENDING'}).kind, 'wait');
  assert.deepEqual(settle({...base, state: 'TIMEOUT'}).kind, 'resubmit');
  const warned = settle({...base, state: 'COMPLETED', status: {state: 'stopped', reason: 'time-limit', at: 0, job: '1_0', node: 'n', restart: 0}});
  assert.equal(warned.kind === 'resubmit' && warned.outcome, 'timeout', 'stopped ahead of the limit counts as a time-out');
  const last = settle({...base, state: 'TIMEOUT', timeouts: 3});
  assert.equal(last.kind, 'finish');
  assert.match((last as {error: string}).error, /hit the time limit 4 times \(slurm\.max_timeouts: 3\)/);
  assert.equal(settle({...base, state: 'PREEMPTED'}).kind, 'resubmit');
  assert.equal(settle({...base, state: 'NODE_FAIL'}).kind, 'resubmit');
  assert.equal(settle({...base, state: 'BOOT_FAIL', crashes: 1}).kind, 'finish', 'beyond resources.retries');
  assert.equal(settle({...base, state: 'CANCELLED'}).kind, 'cancelled');
});

test('settle: FAILED and OUT_OF_MEMORY are reported, not retried, after giving late files their grace time', () => {
  assert.equal(settle({...base, state: 'FAILED', finalForMs: 1000}).kind, 'wait');
  assert.deepEqual(settle({...base, state: 'FAILED', status: {state: 'failed', error: 'ENOSPC', at: 0, job: '1_0', node: 'n', restart: 0}}), {
    kind: 'finish', status: 'failed', outcome: 'failed', error: 'ENOSPC',
  });
  const oom = settle({...base, state: 'OUT_OF_MEMORY'});
  assert.equal(oom.kind === 'finish' && oom.error, 'out of memory (Slurm state OUT_OF_MEMORY); raise slurm.mem');
  assert.equal(settle({...base, state: undefined, finalForMs: 0}).kind, 'wait');
  assert.equal(settle({...base, state: undefined}).kind, 'resubmit', 'a job Slurm forgot without a result is run again');
});

test('run folders: numbered events, a line cut by a kill is skipped, a requeued writer continues the numbering, readers see whole lines only', () => {
  const dir = path.join(tmpDir(), 'attempt-1');
  const w = new RunWriter(dir);
  w.event({type: 'started', pid: 1, node: 'n1', job: '7_0', restart: 0, device: '0'});
  w.event({type: 'epoch', row: {epoch: 1, train_loss: 1, train_err: 0.5, test_loss: 1, test_err: 0.5, lr: 0.1, seconds: 1, images_per_sec: 10}});
  w.close();
  const first = readEvents(dir, 0);
  assert.deepEqual(first.events.map((e) => [e.seq, e.type]), [[1, 'started'], [2, 'epoch']]);
  // A kill in the middle of a line, then nothing new: the reader keeps its place.
  fs.appendFileSync(path.join(dir, 'events.jsonl'), '{"seq":3,"type":"ep');
  assert.deepEqual(readEvents(dir, first.offset), {events: [], offset: first.offset});
  const again = new RunWriter(dir);
  assert.equal(again.event({type: 'started', pid: 2, node: 'n2', job: '7_0', restart: 1, device: '0'}), 3);
  again.done({status: 'done', epochs: 1});
  again.close();
  const second = readEvents(dir, first.offset);
  assert.deepEqual(second.events.map((e) => [e.seq, e.type]), [[3, 'started']]);
  assert.equal(second.offset, fs.statSync(path.join(dir, 'events.jsonl')).size);
  assert.deepEqual(readJson<DoneMarker>(path.join(dir, 'done.json')), {outcome: {status: 'done', epochs: 1}, seq: 3});
  assert.deepEqual(readEvents(path.join(dir, 'not-yet'), 0), {events: [], offset: 0}, 'a folder that appears late reads as empty');
  assert.equal(readJson(path.join(dir, 'status.json')), undefined);
});

test('output parsers: scontrol show config, squeue, sacct, sbatch --parsable', () => {
  assert.deepEqual(parseConfig('AccountingStorageType   = accounting_storage/none\nMaxArraySize            = 5\n'), {maxArraySize: 5, accounting: false});
  assert.deepEqual(parseConfig('AccountingStorageType = accounting_storage/slurmdbd\n'), {maxArraySize: 1001, accounting: true});
  assert.deepEqual(parseQueue('12|3|RUNNING|None|node7|ablate-ab-1\n12|4|PENDING|Priority||ablate-ab-1\n'), [
    {arrayJobId: '12', index: 3, state: 'RUNNING', reason: 'None', node: 'node7', name: 'ablate-ab-1'},
    {arrayJobId: '12', index: 4, state: 'PENDING', reason: 'Priority', node: '', name: 'ablate-ab-1'},
  ]);
  assert.deepEqual(parseSacct('12_3|CANCELLED by 0|node7|ablate-ab-1\n12_4|TIMEOUT|node8|ablate-ab-1\n12.batch|COMPLETED||batch\n'), [
    {arrayJobId: '12', index: 3, state: 'CANCELLED', reason: '', node: 'node7', name: 'ablate-ab-1'},
    {arrayJobId: '12', index: 4, state: 'TIMEOUT', reason: '', node: 'node8', name: 'ablate-ab-1'},
  ]);
  assert.equal(parseJobId('4242\n'), '4242');
  assert.equal(parseJobId('4242;cluster2\n'), '4242');
  assert.equal(parseJobId('sbatch: error: Batch job submission failed'), undefined);
});

test('the job script asks for what the slurm section says, throttles the array, runs the setup lines, then the worker', () => {
  const settings = slurmSchema.parse({
    partition: 'gpu', account: 'lab', qos: 'normal', time: '02:00:00', gpus_per_trial: 1, cpus_per_task: 8, mem: '16G', max_parallel: 4,
    sbatch: ['--constraint=a100', '#SBATCH --exclusive'], setup: ['module load cuda/12.4', 'source /opt/venv/bin/activate'],
  });
  const manifest = '/shared/my runs/submissions/ablate-ab-1.json';
  const s = jobScript({name: 'ablate-ab-1', size: 7, settings, logDir: '/shared/logs', manifest, node: '/usr/bin/node', worker: '/opt/ablate/worker.js'});
  const sbatch = s.split('\n').filter((l) => l.startsWith('#SBATCH ')).map((l) => l.slice(8));
  assert.deepEqual(sbatch, [
    '--job-name=ablate-ab-1', '--array=0-6%4', '--output=/shared/logs/%x-%a.out', '--open-mode=append', '--requeue', '--signal=B:USR1@90',
    '--partition=gpu', '--account=lab', '--qos=normal', '--time=02:00:00', '--gres=gpu:1', '--cpus-per-task=8', '--mem=16G',
    '--constraint=a100', '--exclusive',
  ]);
  assert.ok(s.indexOf('module load cuda/12.4') < s.indexOf('/opt/ablate/worker.js'));
  assert.match(s, /^\/usr\/bin\/node \/opt\/ablate\/worker\.js '\/shared\/my runs\/submissions\/ablate-ab-1\.json' "\$SLURM_ARRAY_TASK_ID" &$/m);
  assert.equal(stopFile(manifest, 3), '/shared/my runs/submissions/ablate-ab-1.3.stop');
  assert.match(s, /^stop='\/shared\/my runs\/submissions\/ablate-ab-1'\."\$SLURM_ARRAY_TASK_ID"\.stop$/m);
  assert.doesNotMatch(s, /CUDA_VISIBLE_DEVICES/, 'Slurm sets the GPUs');
});

test('the slurm section is validated like the rest of the study: position, key path, did-you-mean', () => {
  const text = `name: s
dataset: {name: synthetic}
resources: {executor: slurm, gpus: [0]}
slurm:
  partiton: gpu
  time: two hours
  gpus_per_trial: -1
`;
  assert.throws(
    () => parseStudy(text, 'study.yaml'),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /study\.yaml:5:3: slurm\.partiton: unknown key "partiton" \(did you mean "partition"\?\)/);
      assert.match(e.message, /study\.yaml:6:3: slurm\.time: a Slurm time limit: MM, HH:MM:SS, D-HH or D-HH:MM:SS/);
      assert.match(e.message, /study\.yaml:7:3: slurm\.gpus_per_trial: must be >= 0; received -1/);
      return true;
    },
  );
  assert.throws(() => parseStudy('name: s\ndataset: {name: synthetic}\nresources: {executor: slurm, gpus: [0]}\n', 'g.yaml'), /g\.yaml:3:30: resources\.gpus: on Slurm, GPUs come from the cluster: set slurm\.gpus_per_trial instead/);
  const ok = parseStudy("name: s\ndataset: {name: synthetic}\nresources: {executor: slurm}\nslurm: {partition: gpu, time: '1-00:00:00', mem: 8G}\n").config;
  assert.equal(ok.slurm?.max_timeouts, 3);
});

test('on Slurm, engine auto means native-cpu whatever this machine has, and says why; the torch engine is planned without asking this machine', () => {
  const text = `name: e
dataset: {name: synthetic, image: [8, 8, 3], classes: 4, train_size: 64, test_size: 32}
model: {family: cifar, depth: 8}
train: {epochs: 1, batch_size: 16}
resources: {executor: slurm}
`;
  const plan = planStudy('e.yaml', {configText: text});
  assert.deepEqual([plan.resources.engine, plan.resources.executor], ['native-cpu', 'slurm']);
  assert.match(plan.resources.engineReason, /^auto: native-cpu on Slurm, since this machine says nothing about the compute nodes; --engine torch runs PyTorch there$/);
  assert.equal(planStudy('e.yaml', {configText: text.replace('{executor: slurm}', '{executor: thread}'), executor: 'slurm'}).resources.executor, 'slurm', '--executor slurm overrides the study');
  // No Python here is asked: the compute node finds its own (a Python that does not exist changes nothing).
  const saved = process.env.ABLATE_PYTHON;
  process.env.ABLATE_PYTHON = '/nowhere/python3';
  try {
    const torch = planStudy('e.yaml', {configText: text, engine: 'torch'});
    assert.deepEqual([torch.resources.engine, torch.resources.engineReason, torch.resources.device, torch.resources.python], ['torch', 'chosen with --engine', undefined, undefined]);
    const bf16 = planStudy('e.yaml', {configText: text.replace('train: {', 'train: {precision: bf16, ').replace('{executor: slurm}', '{executor: slurm, engine: torch}')});
    assert.deepEqual([bf16.resources.engine, bf16.resources.engineReason], ['torch', 'resources.engine of the study']);
  } finally {
    if (saved === undefined) delete process.env.ABLATE_PYTHON;
    else process.env.ABLATE_PYTHON = saved;
  }
});
