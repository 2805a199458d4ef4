/**
 * The metrics store: one SQLite file (better-sqlite3), WAL mode, schema versioned with PRAGMA user_version.
 * Only the coordinator of a sweep writes; `report`, `status` and `show` open it read-only and may run
 * while a sweep is writing.
 */
import Database from 'better-sqlite3';
import {randomUUID} from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {EnvironmentError, UsageError} from '../errors';

export type Db = Database.Database;

export {DEFAULT_DB} from './default-db';

export const TRIAL_STATUSES = ['pending', 'running', 'done', 'failed', 'diverged'] as const;
export type TrialStatus = (typeof TRIAL_STATUSES)[number];

/**
 * Each entry migrates from version i to i+1. Never edit a released entry; append a new one.
 * Migrations run with foreign keys off (a table rebuild drops and recreates a parent table), inside one
 * immediate transaction each, and end with a foreign key check.
 */
export const MIGRATIONS: (string | ((db: Db) => void))[] = [
  `
  CREATE TABLE sweeps (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    config_path TEXT,
    config_yaml TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    created_at  INTEGER NOT NULL,              -- unix ms
    status      TEXT NOT NULL DEFAULT 'pending', -- pending | running | done | incomplete
    smoke       INTEGER NOT NULL DEFAULT 0,       -- 1: every trial shrunk by --smoke
    UNIQUE (name, config_hash)
  );
  CREATE TABLE trials (
    id           INTEGER PRIMARY KEY,
    sweep_id     INTEGER NOT NULL REFERENCES sweeps(id),
    key          TEXT NOT NULL,                -- hash of the resolved trial spec
    idx          INTEGER NOT NULL,             -- position in the expanded grid
    variant_json TEXT NOT NULL,                -- the swept values of this cell: {"model.depth": 20, ...}
    seed         INTEGER NOT NULL,
    spec_json    TEXT NOT NULL,                -- the fully resolved trial spec
    status       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'running', 'done', 'failed', 'diverged')),
    attempt      INTEGER NOT NULL DEFAULT 0,
    slot         INTEGER,
    pid          INTEGER,
    owner        TEXT,                         -- lease holder: coordinator id
    heartbeat_at INTEGER,                      -- unix ms
    started_at   INTEGER,
    finished_at  INTEGER,
    error        TEXT,
    params       INTEGER,
    macs         INTEGER,
    UNIQUE (sweep_id, key)
  );
  CREATE INDEX trials_by_status ON trials (sweep_id, status);
  CREATE TABLE epochs (
    trial_id       INTEGER NOT NULL REFERENCES trials(id),
    epoch          INTEGER NOT NULL,           -- 1-based
    train_loss     REAL,
    train_err      REAL,                       -- fraction in [0, 1]
    test_loss      REAL,
    test_err       REAL,
    lr             REAL,
    seconds        REAL,
    images_per_sec REAL,
    PRIMARY KEY (trial_id, epoch)
  );
  CREATE TABLE events (
    id       INTEGER PRIMARY KEY,
    sweep_id INTEGER REFERENCES sweeps(id),
    trial_id INTEGER REFERENCES trials(id),
    at       INTEGER NOT NULL,                 -- unix ms
    kind     TEXT NOT NULL,                    -- started | retry | failed | diverged | reclaimed | signal | ...
    message  TEXT
  );
  `,
  (db) => {
    db.exec(`
    -- The store's identity: checkpoints are filed under it, so another database never finds them.
    CREATE TABLE meta (
      key   TEXT PRIMARY KEY,
      value TEXT NOT NULL
    );
    -- A sweep is (name, config, engine): the engine a sweep trains on is part of what it measures.
    CREATE TABLE sweeps_v2 (
      id          INTEGER PRIMARY KEY,
      name        TEXT NOT NULL,
      config_path TEXT,
      config_yaml TEXT NOT NULL,
      config_hash TEXT NOT NULL,
      created_at  INTEGER NOT NULL,
      status      TEXT NOT NULL DEFAULT 'pending',
      smoke       INTEGER NOT NULL DEFAULT 0,
      engine      TEXT,                           -- the engine asked for (--engine or resources.engine); NULL: before schema 2
      UNIQUE (name, config_hash, engine)
    );
    INSERT INTO sweeps_v2 (id, name, config_path, config_yaml, config_hash, created_at, status, smoke)
      SELECT id, name, config_path, config_yaml, config_hash, created_at, status, smoke FROM sweeps;
    DROP TABLE sweeps;
    ALTER TABLE sweeps_v2 RENAME TO sweeps;
    ALTER TABLE trials ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;  -- worker crashes; retries count these, not starts
    ALTER TABLE trials ADD COLUMN engine TEXT;                        -- the engine that ran it (after any fallback)
    ALTER TABLE trials ADD COLUMN engine_json TEXT;                   -- that engine's own description: versions, device, threads
    `);
    db.prepare("INSERT INTO meta (key, value) VALUES ('store_id', ?)").run(randomUUID());
  },
  // Indexes for large sweeps: claiming the next pending trial in grid order reads one index entry instead of
  // sorting every pending trial (a 10,000-trial grid spent 13 ms per claim); a trial's events (ablate show)
  // and its epochs by sweep are found without scanning the tables.
  `
  CREATE INDEX trials_by_status_idx ON trials (sweep_id, status, idx);
  DROP INDEX trials_by_status;
  CREATE INDEX events_by_trial ON events (trial_id);
  `,
  // Sweeps run on Slurm (the slurm executor): where their jobs are and what of their run folders is ingested.
  `
  -- Sweeps run on Slurm: the sweep's token names its jobs (ablate-<token>-<n>) and its folder on the shared filesystem.
  CREATE TABLE slurm_sweeps (
    sweep_id    INTEGER PRIMARY KEY REFERENCES sweeps(id),
    token       TEXT NOT NULL,
    run_dir     TEXT NOT NULL,                 -- absolute; manifests, job scripts, logs, one folder per trial
    coordinator TEXT,                          -- host:pid of the ablate attached to the sweep, if any
    attached_at INTEGER                        -- its last sign of life (unix ms)
  );
  -- One sbatch call: an array of trials. Recorded before sbatch runs, so a crash in between is detected.
  CREATE TABLE slurm_submissions (
    id           INTEGER PRIMARY KEY,
    sweep_id     INTEGER NOT NULL REFERENCES sweeps(id),
    name         TEXT NOT NULL UNIQUE,         -- the job name
    job_id       TEXT,                         -- array job id; NULL until sbatch answered
    state        TEXT NOT NULL,                -- preparing | submitted | abandoned
    created_at   INTEGER NOT NULL,
    submitted_at INTEGER
  );
  -- One trial attempt = one array task; Slurm may requeue it (preemption) without a new attempt.
  CREATE TABLE slurm_tasks (
    trial_id      INTEGER NOT NULL REFERENCES trials(id),
    attempt       INTEGER NOT NULL,
    submission_id INTEGER NOT NULL REFERENCES slurm_submissions(id),
    array_index   INTEGER NOT NULL,
    run_dir       TEXT NOT NULL,               -- the attempt's folder
    state         TEXT NOT NULL DEFAULT 'SUBMITTED', -- last Slurm state seen
    reason        TEXT,                        -- why it waits in the queue
    node          TEXT,
    ingested      INTEGER NOT NULL DEFAULT 0,  -- bytes of events.jsonl already read
    seq           INTEGER NOT NULL DEFAULT 0,  -- last event sequence number read
    outcome       TEXT,                        -- NULL while active; done | diverged | failed | timeout | preempted | node_fail | cancelled | lost
    ended_at      INTEGER,
    PRIMARY KEY (trial_id, attempt)
  );
  CREATE INDEX slurm_tasks_by_submission ON slurm_tasks (submission_id, array_index);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

const NETWORK_FS = new Set(['nfs', 'nfs4', 'cifs', 'smb3', 'smbfs', 'fuse.sshfs', 'afs', '9p', 'fuse.gcsfuse', 'fuse.s3fs']);

/** The filesystem type that holds `file` (longest mount point prefix in the mount table), if known. */
export function filesystemType(file: string, mounts: string | undefined = readMounts()): string | undefined {
  if (mounts === undefined) return undefined;
  const abs = path.resolve(file);
  let best: {point: string; type: string} | undefined;
  for (const line of mounts.split('\n')) {
    const [, point, type] = line.split(' ');
    if (!point || !type) continue;
    const p = point.replace(/\\040/g, ' ');
    if ((abs === p || abs.startsWith(p.endsWith('/') ? p : p + '/')) && (!best || p.length > best.point.length)) best = {point: p, type};
  }
  return best?.type;
}

function readMounts(): string | undefined {
  try {
    return fs.readFileSync('/proc/mounts', 'utf8');
  } catch {
    return undefined;
  }
}

/** Refuse a database on a network filesystem: SQLite's WAL needs shared memory that they do not provide. */
export function checkLocalDisk(file: string, mounts?: string): void {
  const fsType = filesystemType(path.dirname(path.resolve(file)), mounts ?? readMounts());
  if (fsType && NETWORK_FS.has(fsType)) {
    throw new EnvironmentError(`${file} is on a network filesystem (${fsType}); SQLite's WAL mode needs a local disk`, {
      hint: 'put the database on a local disk with --db /local/path/ablate.db',
    });
  }
}

/** How much of the file a read-only connection maps into memory (SQLite's mmap_size). */
const READ_MMAP_BYTES = 256 * 2 ** 20;

export interface OpenOptions {
  readonly?: boolean;
  /** Milliseconds a writer waits for the lock before "database is locked". */
  busyTimeoutMs?: number;
}

/** Open (and create or migrate, unless read-only) the store. */
export function openDb(file: string, opts: OpenOptions = {}): Db {
  const memory = file === ':memory:';
  if (!memory) {
    checkLocalDisk(file);
    if (opts.readonly) {
      if (!fs.existsSync(file)) {
        throw new UsageError(`no database at ${file}`, {hint: 'run a study first (ablate run smoke) or name another file with --db'});
      }
    } else {
      try {
        fs.mkdirSync(path.dirname(path.resolve(file)), {recursive: true});
      } catch (e) {
        throw new EnvironmentError(`cannot create the folder of ${file}: ${(e as Error).message}`, {hint: 'choose a writable location with --db'});
      }
    }
  }
  let db: Db;
  try {
    db = new Database(file, {readonly: !!opts.readonly, fileMustExist: !!opts.readonly});
    db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 10_000}`);
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      migrate(db);
      db.pragma('foreign_keys = ON');
    } else {
      // Reads map the file instead of copying each page through the 2 MB page cache: a report of a
      // 10,000-trial sweep reads every trial row once, which cost 80 ms of system calls at the default.
      if (!memory) db.pragma(`mmap_size = ${READ_MMAP_BYTES}`);
      const version = db.pragma('user_version', {simple: true}) as number;
      if (version > SCHEMA_VERSION) throw new EnvironmentError(`${file} was written by a newer ablate (schema ${version})`, {hint: 'upgrade ablate'});
      db.prepare('SELECT count(*) FROM sqlite_master').get();
      if (version < SCHEMA_VERSION && !memory) {
        // Written by an older ablate: bring the schema up to date once, then read.
        db.close();
        openDb(file, {busyTimeoutMs: opts.busyTimeoutMs}).close();
        return openDb(file, opts);
      }
    }
  } catch (e) {
    throw describeOpenError(file, e);
  }
  return db;
}

function describeOpenError(file: string, e: unknown): Error {
  if (e instanceof EnvironmentError || e instanceof UsageError) return e;
  const err = e as {code?: string; message: string};
  switch (err.code) {
    case 'SQLITE_NOTADB':
    case 'SQLITE_CORRUPT':
      return new UsageError(`${file} is not an ablate database (SQLite says: ${err.message})`, {
        hint: 'name the right file with --db, or a new path to start a fresh database',
      });
    case 'SQLITE_READONLY':
    case 'SQLITE_CANTOPEN':
    case 'SQLITE_PERM':
      return new EnvironmentError(`cannot write ${file} (SQLite says: ${err.message})`, {
        hint: 'make the results folder writable, or choose another location with --db',
      });
    case 'SQLITE_FULL':
      return new EnvironmentError(`the disk that holds ${file} is full`, {hint: 'free some space and run the same command again; it resumes'});
    default:
      return e as Error;
  }
}

function migrate(db: Db): void {
  const version = db.pragma('user_version', {simple: true}) as number;
  if (version > SCHEMA_VERSION) {
    throw new EnvironmentError(`the database was written by a newer ablate (schema ${version}, this one knows ${SCHEMA_VERSION})`, {hint: 'upgrade ablate'});
  }
  if (version === SCHEMA_VERSION) return;
  db.pragma('foreign_keys = OFF');
  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      // Another process may have migrated while this one waited for the lock.
      if ((db.pragma('user_version', {simple: true}) as number) !== v) return;
      const step = MIGRATIONS[v];
      if (typeof step === 'string') db.exec(step);
      else step(db);
      const broken = db.pragma('foreign_key_check') as unknown[];
      if (broken.length > 0) throw new Error(`migration to schema ${v + 1} broke ${broken.length} foreign key reference(s); the database is left at schema ${v}`);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

/** The store's own id (a UUID written when the database was created or migrated to schema 2). */
export function storeId(db: Db): string {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'store_id'").get() as {value: string} | undefined;
  if (!row) throw new UsageError('the database has no store id (meta table edited by hand?)', {hint: 'run the sweep into a new --db'});
  return row.value;
}
