/**
 * `status` and `report` on a database with Slurm sweeps: first ingest what their jobs wrote since the last
 * look (nothing is submitted). Skipped when no Slurm trial is active, so other sweeps pay one query.
 */
import * as fs from 'node:fs';
import {openDb} from '../../store/db';
import {AblateError} from '../../errors';
import type {Store} from '../../store/store';

function hasActiveSlurmTasks(file: string): boolean {
  const db = openDb(file, {readonly: true});
  try {
    return !!db.prepare('SELECT 1 FROM slurm_tasks WHERE outcome IS NULL LIMIT 1').get();
  } finally {
    db.close();
  }
}

/** Returns a warning when the sync could not be done (the caller still shows what the store holds). */
export async function syncSlurmDb(file: string): Promise<string | undefined> {
  if (!fs.existsSync(file) || !hasActiveSlurmTasks(file)) return undefined;
  // The writer's side of the store is loaded only when there is something to ingest.
  const {SLURM_OWNER, Store} = await import('../../store/store');
  let store: Store;
  try {
    store = new Store(file, SLURM_OWNER);
  } catch (e) {
    return `cannot ingest the Slurm jobs' results (${(e as Error).message}); showing what the database holds`;
  }
  try {
    const {syncSlurm} = await import('./coordinator');
    await syncSlurm(store);
    return undefined;
  } catch (e) {
    if (e instanceof AblateError) return `${e.message}; showing what the database holds`;
    throw e;
  } finally {
    store.close();
  }
}
