/**
 * Opt-in timing spans for finding where a run's time goes (bench/smoke-overhead.ts): with ABLATE_TRACE=FILE
 * set, every span appends one JSON line {name, thread, start, end, ...} to FILE, times in unix milliseconds
 * so that the coordinator's and the workers' spans share one clock. Without it, spans cost one check.
 */
import * as fs from 'node:fs';
import {isMainThread, threadId} from 'node:worker_threads';

const file = process.env.ABLATE_TRACE;

/** Milliseconds since the epoch, with sub-millisecond resolution. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Record a span that started at `start` (from `now()`) and ends now. */
export function traceSpan(name: string, start: number, extra?: Record<string, unknown>): void {
  if (!file) return;
  const line = {name, thread: isMainThread ? `pid ${process.pid}` : `pid ${process.pid} thread ${threadId}`, start, end: now(), ...extra};
  fs.appendFileSync(file, JSON.stringify(line) + '\n');
}

/** Time `fn` as a span. */
export function traced<T>(name: string, fn: () => T, extra?: Record<string, unknown>): T {
  if (!file) return fn();
  const t0 = now();
  try {
    return fn();
  } finally {
    traceSpan(name, t0, extra);
  }
}

/** Time an async `fn` as a span. */
export async function tracedAsync<T>(name: string, fn: () => Promise<T>, extra?: Record<string, unknown>): Promise<T> {
  if (!file) return fn();
  const t0 = now();
  try {
    return await fn();
  } finally {
    traceSpan(name, t0, extra);
  }
}

/** Process (or thread) start: performance.timeOrigin. */
export function traceSinceStart(name: string, extra?: Record<string, unknown>): void {
  traceSpan(name, performance.timeOrigin, extra);
}
