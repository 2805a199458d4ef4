/**
 * The torch engine's side in this process: finding a Python with PyTorch, and what it offers (versions,
 * CUDA, GPUs). The engine itself runs in Python worker processes (python/ablate_torch, one per slot,
 * started by experiments/torch-executor.ts); nothing here loads TensorFlow.js.
 */
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The folder holding the `ablate_torch` package (shipped with ablate). */
export const PYTHON_DIR = path.resolve(__dirname, '..', '..', '..', 'python');

export interface TorchProbe {
  /** The Python that was asked. */
  python: string;
  pythonVersion?: string;
  torch?: string;
  cuda?: string | null;
  cudnn?: string | null;
  cudaAvailable: boolean;
  gpus: string[];
  compile: boolean;
  /** Why the engine cannot run with this Python (missing torch, no Python at all). */
  error?: string;
}

/** Pythons tried in order: ABLATE_PYTHON alone when set, else `python3` on the PATH, then the system's. */
export function pythonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.ABLATE_PYTHON) return [env.ABLATE_PYTHON];
  return [...new Set(['python3', '/usr/bin/python3'])];
}

/**
 * The environment a worker (or probe) runs with: the ablate_torch package importable, output unbuffered, and
 * OpenMP threads that sleep instead of spinning when idle (as the native engine's): with more runnable threads
 * than cores, spinning made a CPU training step 100x slower (12 s instead of 0.1 s for ResNet-20 at batch 32).
 */
export function workerEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const pythonPath = [PYTHON_DIR, base.PYTHONPATH].filter(Boolean).join(path.delimiter);
  return {...base, PYTHONPATH: pythonPath, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1', OMP_WAIT_POLICY: base.OMP_WAIT_POLICY ?? 'PASSIVE'};
}

function probeOne(python: string, env: NodeJS.ProcessEnv): TorchProbe {
  const r = spawnSync(python, ['-m', 'ablate_torch', '--probe'], {env: workerEnv(env), encoding: 'utf8', timeout: 120_000});
  const base = {python, cudaAvailable: false, gpus: [], compile: false};
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    return {...base, error: code === 'ENOENT' ? `no Python at ${python}` : `${python} could not run: ${r.error.message}`};
  }
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let out: Record<string, unknown>;
  try {
    out = JSON.parse(line) as Record<string, unknown>;
  } catch {
    const why = (r.stderr || r.stdout).trim().split('\n').slice(-1)[0] ?? `exit code ${r.status}`;
    return {...base, error: `${python} -m ablate_torch --probe failed: ${why}`};
  }
  return {
    python,
    pythonVersion: out.python as string | undefined,
    torch: out.torch as string | undefined,
    cuda: (out.cuda as string | null | undefined) ?? null,
    cudnn: (out.cudnn as string | null | undefined) ?? null,
    cudaAvailable: out.cuda_available === true,
    gpus: (out.gpus as string[] | undefined) ?? [],
    compile: out.compile === true,
    ...(out.error ? {error: `PyTorch is not importable in ${python} (${String(out.error)})`} : {}),
    ...(out.cuda_error && !out.error ? {cudaError: String(out.cuda_error)} : {}),
  };
}

const cache = new Map<string, TorchProbe>();

/**
 * What the torch engine would run on: the first candidate Python that imports torch (or the first
 * candidate's reason when none does). Cached per process; importing torch takes a second or two.
 */
export function probeTorch(env: NodeJS.ProcessEnv = process.env): TorchProbe {
  const candidates = pythonCandidates(env);
  const key = candidates.join('\0') + '\0' + (env.CUDA_VISIBLE_DEVICES ?? '');
  const hit = cache.get(key);
  if (hit) return hit;
  let first: TorchProbe | undefined;
  let found: TorchProbe | undefined;
  for (const python of candidates) {
    const p = probeOne(python, env);
    first ??= p;
    if (!p.error) {
      found = p;
      break;
    }
  }
  const result = found ?? first!;
  cache.set(key, result);
  return result;
}

/** Cheap check before importing torch: does this machine have an NVIDIA driver at all? */
export function nvidiaDriverPresent(): boolean {
  return fs.existsSync('/proc/driver/nvidia/version') || fs.existsSync('/dev/nvidiactl');
}

export interface AutoChoice {
  engine: 'torch' | 'native-cpu';
  reason: string;
  probe?: TorchProbe;
}

/** `engine: auto`: torch on CUDA when a GPU and torch are present, else native-cpu. */
export function chooseAutoEngine(env: NodeJS.ProcessEnv = process.env): AutoChoice {
  if (!nvidiaDriverPresent()) return {engine: 'native-cpu', reason: 'no NVIDIA GPU driver on this machine'};
  const probe = probeTorch(env);
  if (probe.error) return {engine: 'native-cpu', reason: `an NVIDIA driver is present but ${probe.error}`, probe};
  if (!probe.cudaAvailable) return {engine: 'native-cpu', reason: `torch ${probe.torch} in ${probe.python} sees no CUDA GPU`, probe};
  return {engine: 'torch', reason: `CUDA GPU ${probe.gpus[0] ?? ''} and torch ${probe.torch} (CUDA ${probe.cuda}) in ${probe.python}`.replace('  ', ' '), probe};
}
