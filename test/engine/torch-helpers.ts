/** Shared by the torch engine tests: the Python that has torch, and running the worker's tools. */
import {spawnSync} from 'node:child_process';
import {probeTorch, workerEnv, type TorchProbe} from '../../src/engine/torch';
import {requires} from '../helpers';

export const probe: TorchProbe = probeTorch();
/** Tests of the torch engine need PyTorch (scripts/setup.sh installs Debian's python3-torch); never a GPU. */
export const NO_TORCH = requires('TORCH', probe.error ? `needs PyTorch: ${probe.error} (apt-get install python3-torch python3-numpy)` : false);

/** Runs `python -m MODULE` with `input` on stdin; returns its stdout parsed as JSON. */
export function runPython(module: string, input: unknown, args: string[] = []): unknown {
  const r = spawnSync(probe.python, ['-m', module, ...args], {env: workerEnv(), input: JSON.stringify(input), encoding: 'utf8', timeout: 600_000, maxBuffer: 256 * 1024 * 1024});
  if (r.status !== 0) throw new Error(`python -m ${module} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}
