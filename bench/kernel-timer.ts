/**
 * Per-kernel time of everything the tfjs cpu backend runs: wraps each registered kernel with a timer
 * that records wall time and process CPU time (user + system, all threads). CPU time is the steadier
 * figure on a shared machine; with one thread it is close to the kernel's own cost.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface KernelTime {
  name: string;
  calls: number;
  wallMs: number;
  cpuMs: number;
}

export interface KernelTimer {
  reset(): void;
  /** Totals by kernel name, largest CPU time first. */
  report(): KernelTime[];
  /** Puts the original kernels back. */
  stop(): void;
}

export function startKernelTimer(backend = 'cpu'): KernelTimer {
  const totals = new Map<string, KernelTime>();
  const originals = tf.getKernelsForBackend(backend);
  let depth = 0;
  for (const cfg of originals) {
    const inner = cfg.kernelFunc;
    const wrapped: tf.KernelFunc = (args) => {
      // Kernels may call other registered kernels; only the outermost call is timed.
      if (depth > 0) return inner(args);
      depth++;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      try {
        return inner(args);
      } finally {
        const wall = performance.now() - t0;
        const c = process.cpuUsage(c0);
        depth--;
        const e = totals.get(cfg.kernelName) ?? {name: cfg.kernelName, calls: 0, wallMs: 0, cpuMs: 0};
        e.calls++;
        e.wallMs += wall;
        e.cpuMs += (c.user + c.system) / 1000;
        totals.set(cfg.kernelName, e);
      }
    };
    tf.unregisterKernel(cfg.kernelName, backend);
    tf.registerKernel({...cfg, kernelFunc: wrapped});
  }
  return {
    reset: () => totals.clear(),
    report: () => [...totals.values()].sort((a, b) => b.cpuMs - a.cpuMs),
    stop: () => {
      for (const cfg of originals) {
        tf.unregisterKernel(cfg.kernelName, backend);
        tf.registerKernel(cfg);
      }
    },
  };
}

export function formatKernelTimes(rows: KernelTime[], stepMs?: number): string {
  const total = rows.reduce((s, r) => s + r.wallMs, 0);
  const lines = rows.map((r) =>
    `${r.name.padEnd(28)} ${(Math.round(r.calls * 10) / 10).toString().padStart(6)} ${r.wallMs.toFixed(1).padStart(10)} ${r.cpuMs.toFixed(1).padStart(10)}`);
  const head = `${'kernel'.padEnd(28)} ${'calls'.padStart(6)} ${'wall ms'.padStart(10)} ${'cpu ms'.padStart(10)}`;
  const foot = `${'all kernels'.padEnd(28)} ${''.padStart(6)} ${total.toFixed(1).padStart(10)}` +
    (stepMs !== undefined ? `   (step wall ${stepMs.toFixed(1)} ms; outside kernels ${(stepMs - total).toFixed(1)} ms)` : '');
  return [head, ...lines, foot].join('\n');
}
