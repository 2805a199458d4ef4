import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {test} from 'node:test';
import Database from 'better-sqlite3';
import {MIGRATIONS, openDb, SCHEMA_VERSION, storeId} from '../../src/store/db';
import {Store, type NewTrial} from '../../src/store/store';
import {EnvironmentError, UsageError} from '../../src/errors';
import {tmpDir} from '../helpers';

const trials = (n: number): NewTrial[] =>
  Array.from({length: n}, (_, i) => ({key: `k${i}`, idx: i, variant: {'model.depth': 8 + 6 * i}, seed: 1, spec: {i}, params: 100 + i, macs: 1000 + i}));

function fresh(owner?: string): {store: Store; file: string; sweepId: number} {
  const file = path.join(tmpDir(), 'ablate.db');
  const store = new Store(file, owner);
  const {sweep} = store.openSweep({name: 's', configPath: 's.yaml', yaml: 'name: s', hash: 'h1', engine: 'native-cpu'});
  store.addTrials(sweep.id, trials(3));
  return {store, file, sweepId: sweep.id};
}

test('the same grid inserted twice keeps one row per key', () => {
  const {store, sweepId} = fresh();
  assert.equal(store.addTrials(sweepId, trials(3)), 0);
  assert.equal(store.addTrials(sweepId, trials(4)), 1);
  assert.equal((store.db.prepare('SELECT count(*) AS n FROM trials').get() as {n: number}).n, 4);
});

test('a changed config under an existing name is refused unless forced new', () => {
  const {store} = fresh();
  assert.equal(store.openSweep({name: 's', configPath: 's.yaml', yaml: 'name: s', hash: 'h1', engine: 'native-cpu'}).created, false);
  assert.throws(() => store.openSweep({name: 's', configPath: 's.yaml', yaml: 'name: s\n', hash: 'h2', engine: 'native-cpu'}), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /sweep "s" already exists .* with a different config/);
    assert.match(e.hint!, /--new/);
    return true;
  });
  const again = store.openSweep({name: 's', configPath: 's.yaml', yaml: 'name: s\n', hash: 'h2', engine: 'native-cpu', forceNew: true});
  assert.equal(again.created, true);
});

test('claims are FIFO and a claimed trial is never handed out twice', () => {
  const {store, file, sweepId} = fresh('hostA:1');
  const other = new Store(file, 'hostB:2');
  const a = store.claimNext(sweepId, 0, 1)!;
  const b = other.claimNext(sweepId, 0, 2)!;
  const c = store.claimNext(sweepId, 1, 1)!;
  assert.deepEqual([a.idx, b.idx, c.idx], [0, 1, 2]);
  assert.equal(store.claimNext(sweepId, 0, 1), undefined);
  assert.equal(a.attempt, 1);
  assert.equal(a.status, 'running');
  other.close();
});

test('epoch rows are idempotent: a replayed epoch overwrites, never duplicates', () => {
  const {store, sweepId} = fresh();
  const t = store.claimNext(sweepId, 0, process.pid)!;
  const row = {epoch: 1, train_loss: 1, train_err: 0.5, test_loss: 1.1, test_err: 0.6, lr: 0.1, seconds: 1, images_per_sec: 10};
  store.recordEpochs(t.id, [row]);
  store.recordEpochs(t.id, [{...row, test_err: 0.55}]);
  const rows = store.db.prepare('SELECT * FROM epochs WHERE trial_id = ?').all(t.id) as {test_err: number}[];
  assert.equal(rows.length, 1);
  assert.equal(rows[0].test_err, 0.55);
});

test('trials left running by a dead coordinator on this host are reclaimed; a live one keeps its lease', () => {
  const {store, file, sweepId} = fresh();
  // A coordinator that has exited: a real process that is gone now.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {encoding: 'utf8'});
  const host = store.owner.split(':')[0];
  const ghost = new Store(file, `${host}:${dead.stdout}`);
  const lost = ghost.claimNext(sweepId, 0, Number(dead.stdout))!;
  ghost.close();
  const alive = new Store(file, `${host}:${process.ppid}`);
  const kept = alive.claimNext(sweepId, 1, process.ppid)!;
  alive.close();
  const reclaimed = store.reclaim(sweepId, 60_000);
  assert.deepEqual(reclaimed.map((r) => r.id), [lost.id]);
  assert.equal(store.trial(lost.id).status, 'pending');
  assert.equal(store.trial(kept.id).status, 'running');
  const ev = store.db.prepare("SELECT kind FROM events WHERE trial_id = ? AND kind = 'reclaimed'").all(lost.id);
  assert.equal(ev.length, 1);
});

test('another host\'s trial is reclaimed only when its heartbeat is stale', () => {
  const {store, file, sweepId} = fresh();
  const remote = new Store(file, 'elsewhere:1');
  const t = remote.claimNext(sweepId, 0, 1)!;
  remote.close();
  assert.equal(store.reclaim(sweepId, 60_000).length, 0);
  store.db.prepare('UPDATE trials SET heartbeat_at = ? WHERE id = ?').run(Date.now() - 120_000, t.id);
  assert.equal(store.reclaim(sweepId, 60_000).length, 1);
});

test('finishing needs the lease: a coordinator cannot end a trial it does not hold', () => {
  const {store, file, sweepId} = fresh('hostA:1');
  const t = store.claimNext(sweepId, 0, 1)!;
  const intruder = new Store(file, 'hostB:2');
  const events = () => (store.db.prepare('SELECT kind FROM events WHERE trial_id = ?').all(t.id) as {kind: string}[]).map((e) => e.kind);
  assert.equal(intruder.finishTrial(t.id, 'done'), false);
  assert.equal(store.trial(t.id).status, 'running');
  assert.deepEqual(events(), ['started'], 'a finish that matched nothing writes no event');
  assert.equal(intruder.recordEpochs(t.id, [{epoch: 1, train_loss: 1, train_err: 0.5, test_loss: 1, test_err: 0.5, lr: 0.1, seconds: 1, images_per_sec: 1}]), false);
  assert.equal((store.db.prepare('SELECT count(*) AS n FROM epochs').get() as {n: number}).n, 0, 'nor epoch rows');
  assert.equal(intruder.crashTrial(t.id, 'worker died', 1), undefined);
  assert.equal(intruder.recordEngine(t.id, {pid: 1, engine: {name: 'tfjs-cpu'}, device: null, slot: 0}), undefined);
  assert.equal(store.trial(t.id).engine, null);
  assert.equal(store.finishTrial(t.id, 'done'), true);
  assert.equal(store.trial(t.id).status, 'done');
  assert.notEqual(store.trial(t.id).finished_at, null);
  assert.equal(store.finishTrial(t.id, 'failed', {error: 'late'}), false, 'a finished trial is not finished again');
  assert.deepEqual(events(), ['started', 'done']);
  intruder.close();
});

test('failed trials are queued again on request', () => {
  const {store, sweepId} = fresh();
  const t = store.claimNext(sweepId, 0, process.pid)!;
  store.finishTrial(t.id, 'failed', {error: 'boom'});
  assert.equal(store.counts(sweepId).failed, 1);
  assert.equal(store.requeueFailed(sweepId), 1);
  assert.equal(store.trial(t.id).status, 'pending');
  assert.equal(store.trial(t.id).error, null);
});

test('a file that is not SQLite is refused with a clear message', () => {
  const file = path.join(tmpDir(), 'notes.db');
  fs.writeFileSync(file, 'these are my notes, not a database '.repeat(50));
  const before = fs.readFileSync(file);
  assert.throws(() => openDb(file), (e: unknown) => e instanceof UsageError && /is not an ablate database/.test(e.message));
  assert.deepEqual(fs.readFileSync(file), before, 'the file is left untouched');
});

test('read-only opening of a missing database says how to get one', () => {
  assert.throws(() => openDb(path.join(tmpDir(), 'none.db'), {readonly: true}), (e: unknown) => e instanceof UsageError && /no database at/.test(e.message));
});

test('a results folder that cannot be written is an environment error', {skip: process.getuid?.() === 0 && 'root can write anywhere; covered by the read-only mount check below'}, () => {
  const dir = tmpDir();
  fs.chmodSync(dir, 0o500);
  assert.throws(() => openDb(path.join(dir, 'x.db')), (e: unknown) => e instanceof EnvironmentError);
});

test('WAL mode and the schema version are set', () => {
  const {store} = fresh();
  assert.equal(store.db.pragma('journal_mode', {simple: true}), 'wal');
  assert.equal(store.db.pragma('user_version', {simple: true}), SCHEMA_VERSION);
  assert.equal(store.db.pragma('integrity_check', {simple: true}), 'ok');
});

test('retries count crashes, not starts: a trial stopped and resumed many times still gets its retry', () => {
  const {store, sweepId} = fresh();
  let t = store.claimNext(sweepId, 0, process.pid)!;
  for (let i = 0; i < 4; i++) {
    assert.ok(store.finishTrial(t.id, 'pending', {event: 'stopped'}));
    t = store.claimNext(sweepId, 0, process.pid)!;
  }
  assert.equal(t.attempt, 5);
  assert.deepEqual(store.crashTrial(t.id, 'worker process 1 exited (SIGKILL)', 1), {outcome: 'retry', crashes: 1});
  assert.equal(store.trial(t.id).status, 'pending');
  t = store.claimNext(sweepId, 0, process.pid)!;
  assert.deepEqual(store.crashTrial(t.id, 'worker process 1 exited (SIGKILL)', 1), {outcome: 'failed', crashes: 2});
  const row = store.trial(t.id);
  assert.equal(row.status, 'failed');
  assert.equal(row.error, 'worker process 1 exited (SIGKILL)');
  const msgs = store.db.prepare("SELECT kind, message FROM events WHERE trial_id = ? AND kind IN ('retry', 'failed') ORDER BY id").all(t.id) as {kind: string; message: string}[];
  assert.deepEqual(msgs.map((m) => m.kind), ['retry', 'failed']);
  assert.match(msgs[0].message, /retrying \(crash 1, 1 retry allowed\)/);
  // --retry-failed gives the trial its retries again.
  assert.equal(store.requeueFailed(sweepId), 1);
  assert.equal(store.trial(t.id).crashes, 0);
});

test('each database has its own store id, kept across opens', () => {
  const a = fresh();
  const b = fresh();
  assert.match(a.store.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(a.store.id, b.store.id);
  const again = new Store(a.file);
  assert.equal(again.id, a.store.id);
  again.close();
  const ro = openDb(a.file, {readonly: true});
  assert.equal(storeId(ro), a.store.id);
  ro.close();
});

test('another engine on an existing sweep is refused with the fix; --new starts a sweep of its own', () => {
  const {store, sweepId} = fresh();
  const open = (engine: string, forceNew = false) => store.openSweep({name: 's', configPath: 's.yaml', yaml: 'name: s', hash: 'h1', engine, forceNew});
  assert.deepEqual([open('native-cpu').sweep.id, open('native-cpu').created], [sweepId, false]);
  assert.throws(() => open('tfjs-cpu'), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.equal(e.message, `sweep "s" (id ${sweepId}) trains on engine native-cpu; running it on tfjs-cpu would mix two engines in one sweep`);
    assert.match(e.hint!, /run it with --engine native-cpu to continue it, or add --new to start a new sweep "s" on tfjs-cpu/);
    return true;
  });
  const other = open('tfjs-cpu', true);
  assert.equal(other.created, true);
  assert.equal(other.sweep.engine, 'tfjs-cpu');
  assert.equal(open('tfjs-cpu').sweep.id, other.sweep.id, 'each engine resumes its own sweep');
  assert.equal(open('native-cpu').sweep.id, sweepId);
});

test('the engine a trial ran on is stored with its description; a variant that mixes engines is recorded', () => {
  const {store, sweepId} = fresh();
  store.addTrials(sweepId, [{key: 'k0-seed2', idx: 3, variant: {'model.depth': 8}, seed: 2, spec: {i: 0}, params: 100, macs: 1000}]);
  const info = {requested: 'native-cpu', name: 'native-cpu', threads: 2, versions: {oneDNN: '2.6.3'}};
  const a = store.claimNext(sweepId, 0, process.pid)!;
  assert.deepEqual(store.recordEngine(a.id, {pid: 4321, engine: info, device: '3', slot: 0}), []);
  const row = store.trial(a.id);
  assert.deepEqual([row.engine, row.pid, JSON.parse(row.engine_json!)], ['native-cpu', 4321, info]);
  assert.ok(store.finishTrial(a.id, 'done'));
  // Its second seed falls back to the reference engine: not silently.
  const b = store.db.prepare("SELECT id FROM trials WHERE key = 'k0-seed2'").get() as {id: number};
  store.db.prepare("UPDATE trials SET idx = -1 WHERE id = ?").run(b.id);
  const claimed = store.claimNext(sweepId, 0, process.pid)!;
  assert.equal(claimed.id, b.id);
  assert.deepEqual(store.recordEngine(b.id, {pid: 1, engine: {...info, name: 'tfjs-cpu'}, device: null, slot: 0}), ['native-cpu']);
  const kinds = store.db.prepare('SELECT kind, message FROM events WHERE trial_id = ? ORDER BY id').all(b.id) as {kind: string; message: string}[];
  assert.deepEqual(kinds.map((k) => k.kind), ['started', 'engine-mixed']);
  assert.match(kinds[1].message, /runs on tfjs-cpu; its variant \(or an earlier attempt of it\) ran on native-cpu/);
  const device = store.db.prepare("SELECT message FROM events WHERE trial_id = ? AND kind = 'device'").get(a.id) as {message: string};
  assert.equal(device.message, 'slot 0 CUDA_VISIBLE_DEVICES=3');
});

test('a schema-1 database is migrated in place: rows, ids and references kept, a store id given, sweeps adopt an engine', () => {
  const file = path.join(tmpDir(), 'old.db');
  const old = new Database(file);
  old.exec(MIGRATIONS[0] as string);
  old.pragma('user_version = 1');
  old.prepare("INSERT INTO sweeps (id, name, config_path, config_yaml, config_hash, created_at) VALUES (7, 's', 's.yaml', 'name: s', 'h1', 1)").run();
  old.prepare("INSERT INTO trials (id, sweep_id, key, idx, variant_json, seed, spec_json, status, attempt) VALUES (3, 7, 'k', 0, '{}', 1, '{}', 'done', 4)").run();
  old.prepare("INSERT INTO events (sweep_id, trial_id, at, kind) VALUES (7, 3, 1, 'done')").run();
  old.close();
  // A reading command upgrades it first.
  const ro = openDb(file, {readonly: true});
  assert.equal(ro.pragma('user_version', {simple: true}), SCHEMA_VERSION);
  ro.close();
  const store = new Store(file);
  assert.equal((store.db.pragma('foreign_key_check') as unknown[]).length, 0);
  assert.equal(store.db.pragma('integrity_check', {simple: true}), 'ok');
  const t = store.trial(3);
  assert.deepEqual([t.sweep_id, t.status, t.attempt, t.crashes, t.engine], [7, 'done', 4, 0, null]);
  const {sweep, created} = store.openSweep({name: 's', configPath: 's.yaml', yaml: 'name: s', hash: 'h1', engine: 'native-cpu'});
  assert.deepEqual([sweep.id, created, sweep.engine], [7, false, 'native-cpu']);
  assert.throws(() => store.db.prepare("INSERT INTO trials (sweep_id, key, idx, variant_json, seed, spec_json) VALUES (99, 'x', 0, '{}', 1, '{}')").run(), /FOREIGN KEY/);
  store.close();
});

test('every write to the database goes through the Store (one transactional path)', () => {
  // Raw SQL writes anywhere else would bypass the lease checks and the one-transaction-per-write rule.
  const src = path.resolve(__dirname, '..', '..', '..', 'src');
  const offenders: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, {withFileTypes: true})) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts') && !p.endsWith(path.join('store', 'store.ts')) && !p.endsWith(path.join('store', 'db.ts'))) {
        fs.readFileSync(p, 'utf8').split('\n').forEach((line, i) => {
          if (/\b(INSERT|UPDATE|DELETE|REPLACE)\b\s+(INTO\s+)?\w+/.test(line) && /prepare|exec|\.run\(/.test(line)) offenders.push(`${path.relative(src, p)}:${i + 1}: ${line.trim()}`);
        });
      }
    }
  };
  walk(src);
  assert.deepEqual(offenders, []);
});

test('claiming the next trial and reading a trial\'s events use an index, not a scan and a sort', () => {
  const {store} = fresh();
  const plan = (sql: string) => (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(1) as {detail: string}[]).map((r) => r.detail).join('; ');
  // The query of Store.claimNext: with 10,000 pending trials a sort of all of them took 13 ms per claim.
  const claim = plan("SELECT id FROM trials WHERE sweep_id = ? AND status = 'pending' ORDER BY idx LIMIT 1");
  assert.match(claim, /USING (COVERING )?INDEX trials_by_status_idx/);
  assert.doesNotMatch(claim, /TEMP B-TREE/);
  assert.match(plan('SELECT id, kind FROM events WHERE trial_id = ? ORDER BY at, id'), /USING INDEX events_by_trial/);
});

test('a database from before the index migration gains the indexes on the next write open, its rows intact', () => {
  const file = path.join(tmpDir(), 'old.db');
  const {store} = (() => {
    const s = new Store(file);
    const {sweep} = s.openSweep({name: 's', configPath: 's.yaml', yaml: 'name: s', hash: 'h1', engine: 'native-cpu'});
    s.addTrials(sweep.id, trials(3));
    return {store: s};
  })();
  // Back to schema 2, before the index migration (the third; the Slurm tables of the fourth go too).
  store.db.exec(`DROP INDEX trials_by_status_idx; DROP INDEX events_by_trial; CREATE INDEX trials_by_status ON trials (sweep_id, status);
    DROP TABLE slurm_tasks; DROP TABLE slurm_submissions; DROP TABLE slurm_sweeps; PRAGMA user_version = 2`);
  store.close();
  const reopened = new Store(file);
  try {
    assert.equal(reopened.db.pragma('user_version', {simple: true}), SCHEMA_VERSION);
    const names = (reopened.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as {name: string}[]).map((r) => r.name);
    assert.ok(names.includes('trials_by_status_idx') && names.includes('events_by_trial') && !names.includes('trials_by_status'), names.join(', '));
    assert.equal((reopened.db.prepare('SELECT count(*) AS n FROM trials').get() as {n: number}).n, 3);
    assert.equal(reopened.claimNext(1, 0, process.pid)?.key, 'k0');
  } finally {
    reopened.close();
  }
});

test('epoch rows, heartbeats and the engine record commit without waiting for the disk; state changes wait for it', () => {
  const {store, sweepId} = fresh();
  const seen: {name: string; sync: number}[] = [];
  const tx = store.tx.bind(store);
  let name = '';
  store.tx = ((fn: () => unknown, opts?: {durable?: boolean}) =>
    tx(() => {
      seen.push({name, sync: store.db.pragma('synchronous', {simple: true}) as number});
      return fn();
    }, opts)) as typeof store.tx;
  const call = (n: string, f: () => unknown) => {
    name = n;
    return f();
  };
  const row = call('claim', () => store.claimNext(sweepId, 0, process.pid)) as NonNullable<ReturnType<Store['claimNext']>>;
  call('engine', () => store.recordEngine(row.id, {pid: 4242, engine: {name: 'native-cpu'}, device: null, slot: 0}));
  call('epoch', () => store.recordEpochs(row.id, [{epoch: 1, train_loss: 1, train_err: 0.5, test_loss: 1, test_err: 0.5, lr: 0.1, seconds: 1, images_per_sec: 10}]));
  call('heartbeat', () => store.heartbeat([row.id]));
  call('finish', () => store.finishTrial(row.id, 'done'));
  // synchronous: 2 = FULL (the commit syncs the WAL), 1 = NORMAL (synced at the next durable commit or checkpoint).
  assert.deepEqual(seen, [
    {name: 'claim', sync: 2},
    {name: 'engine', sync: 1},
    {name: 'epoch', sync: 1},
    {name: 'heartbeat', sync: 1},
    {name: 'finish', sync: 2},
  ]);
  assert.equal(store.db.pragma('synchronous', {simple: true}), 2, 'FULL again after a relaxed write');
  assert.equal(store.trial(row.id).pid, 4242);
});
