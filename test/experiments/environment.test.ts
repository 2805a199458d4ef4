/**
 * Environment problems get one clear message and exit code 1, with nothing lost: a full disk in the middle
 * of a sweep (resumable once space is freed) and a read-only results folder. Uses small tmpfs mounts, so
 * it needs root; skipped with the reason where mounting is not allowed (a failure in CI: ABLATE_REQUIRE_MOUNT=1).
 */
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import * as path from 'node:path';
import {after, test} from 'node:test';
import Database from 'better-sqlite3';
import {checkLocalDisk, filesystemType} from '../../src/store/db';
import {EnvironmentError} from '../../src/errors';
import {cli, requires, tinyStudy, tmpDir} from '../helpers';

const mounts: string[] = [];
function mountTmpfs(options: string): string | undefined {
  const dir = tmpDir('ablate-mnt-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  if (r.status !== 0) return undefined;
  mounts.push(dir);
  return dir;
}
after(() => {
  for (const m of mounts) spawnSync('umount', ['-l', m]);
});

const cannotMount = requires('MOUNT', mountTmpfs('size=64k') ? false : 'mounting a tmpfs needs root (CAP_SYS_ADMIN)');

test('a disk that fills up mid-sweep: exit 1, one message, nothing lost; the same command resumes after space is freed', {skip: cannotMount}, () => {
  const disk = mountTmpfs('size=320k')!;
  const study = tinyStudy(tmpDir(), 'tiny');
  const db = path.join(disk, 'ablate.db');
  const r = cli(['run', study, '--db', db]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /^error: the disk is full\nTry this: free some space and run the same command again; it resumes where it stopped\n$/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const c = new Database(db, {readonly: true});
  assert.equal(c.pragma('integrity_check', {simple: true}), 'ok');
  c.close();
  assert.equal(spawnSync('mount', ['-o', 'remount,size=64m', disk]).status, 0);
  const again = cli(['run', study, '--db', db]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /2 done, 0 diverged, 0 failed/);
});

test('a read-only results folder: exit 1 and a hint, no stack trace', {skip: cannotMount}, () => {
  const ro = mountTmpfs('size=64k')!;
  assert.equal(spawnSync('mount', ['-o', 'remount,ro', ro]).status, 0);
  const r = cli(['run', tinyStudy(tmpDir(), 'tiny'), '--db', path.join(ro, 'ablate.db')]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /^error: cannot write .*ablate\.db/m);
  assert.match(r.stderr, /Try this: make the results folder writable, or choose another location with --db/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('the filesystem of a path is read from the mount table (network filesystems are refused by type)', () => {
  assert.equal(filesystemType('/proc/self'), 'proc');
  assert.ok(filesystemType(tmpDir()));
});

test('a database on a network filesystem is refused with the reason and a hint', () => {
  const mounts = 'sysfs /sys sysfs rw 0 0\n/dev/sda1 / ext4 rw 0 0\nserver:/export /mnt/lab nfs4 rw 0 0\n';
  assert.equal(filesystemType('/mnt/lab/results/ablate.db', mounts), 'nfs4');
  assert.equal(filesystemType('/mnt/laboratory/x.db', mounts), 'ext4', 'a mount point matches whole path components only');
  assert.throws(() => checkLocalDisk('/mnt/lab/results/ablate.db', mounts), (e: unknown) => {
    assert.ok(e instanceof EnvironmentError);
    assert.equal(e.message, "/mnt/lab/results/ablate.db is on a network filesystem (nfs4); SQLite's WAL mode needs a local disk");
    assert.match(e.hint!, /--db \/local\/path/);
    return true;
  });
  assert.doesNotThrow(() => checkLocalDisk('/home/me/ablate.db', mounts));
});
