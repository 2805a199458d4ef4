/**
 * The stop protocol, the same for every executor and engine.
 *
 * A stop request means: finish the step in progress, write a checkpoint (weights, optimizer state, position
 * in the data order, partial epoch metrics), report the outcome `stopped`, and end. The trial resumes from
 * that checkpoint later and ends exactly where an uninterrupted run ends. A trial checks for a request after
 * every training step, and yields to its event loop there, so that a request that arrives as a message or
 * a signal is seen within one step.
 *
 * How a request reaches the trial depends on where it runs:
 *
 * | where the trial runs            | request                                                            |
 * |---------------------------------|--------------------------------------------------------------------|
 * | worker thread (`thread`)        | an Int32 flag in a SharedArrayBuffer, set by the coordinator       |
 * | child process (`process`)       | the IPC message `{type: 'stop'}`; or a signal, below               |
 * | a worker of another language    | the line `{"type": "stop"}` on its standard input; or a signal     |
 *
 * Signals to a worker process: SIGUSR1 always means "stop". SIGTERM means "stop" only where the worker was
 * told so through ABLATE_STOP_SIGNALS (a comma-separated list, e.g. `SIGUSR1,SIGTERM`): a cluster scheduler
 * such as Slurm sends SIGTERM (and, with `--signal`, SIGUSR1 ahead of time) before it kills a job, and
 * there is no coordinator beside the worker to decide. Elsewhere SIGTERM and SIGINT are ignored by workers:
 * the first Ctrl-C reaches the whole process group, and the coordinator decides (it sends each worker a
 * stop request). A worker stopped by a signal exits with EXIT_STOPPED once its last event is delivered;
 * one with no trial running exits at once with the same code.
 *
 * Events the coordinator sees, from any executor: `engine`, `progress`, `epoch`, then exactly one `result`
 * (outcome done, diverged or stopped) or `error`. A worker that dies without either is a crash.
 */

/** Exit code of a worker process that stopped on request after checkpointing (EX_TEMPFAIL: run it again). */
export const EXIT_STOPPED = 75;

/** Environment variable that lists the signals a worker process treats as a stop request. */
export const STOP_SIGNALS_ENV = 'ABLATE_STOP_SIGNALS';

/** Signals that may be named in ABLATE_STOP_SIGNALS. */
export const STOPPABLE_SIGNALS = ['SIGUSR1', 'SIGUSR2', 'SIGTERM', 'SIGINT', 'SIGHUP'] as const;
export type StopSignal = (typeof STOPPABLE_SIGNALS)[number];

/** The signals a worker process treats as stop requests (default: SIGUSR1). */
export function stopSignals(env: NodeJS.ProcessEnv = process.env): StopSignal[] {
  const raw = env[STOP_SIGNALS_ENV];
  if (raw === undefined || raw.trim() === '') return ['SIGUSR1'];
  const out: StopSignal[] = [];
  for (const part of raw.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean)) {
    const name = (part.startsWith('SIG') ? part : `SIG${part}`) as StopSignal;
    if (!STOPPABLE_SIGNALS.includes(name)) {
      throw new Error(`${STOP_SIGNALS_ENV}=${raw}: ${part} is not a signal a worker can stop on; use ${STOPPABLE_SIGNALS.join(', ')}`);
    }
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** A stop request within one process: set by a message or a signal, polled by the trial after every step. */
export class StopRequest {
  private requested = false;

  /** Ask the running trial to checkpoint and stop at its next step. */
  request(): void {
    this.requested = true;
  }

  /** Forget an earlier request (a new trial starts). */
  reset(): void {
    this.requested = false;
  }

  /** The poll function a trial takes (RunTrialOptions.shouldStop). */
  readonly poll = (): boolean => this.requested;
}

/**
 * The coordinator's side: route SIGINT and SIGTERM (when `handleSignals`) and an abort signal (as SIGTERM)
 * to `requestStop`. Returns what removes the listeners again.
 */
export function listenForStop(opts: {handleSignals?: boolean; abort?: AbortSignal}, requestStop: (signal: 'SIGINT' | 'SIGTERM') => void): () => void {
  const cleanups: (() => void)[] = [];
  if (opts.handleSignals) {
    const onInt = () => requestStop('SIGINT');
    const onTerm = () => requestStop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    cleanups.push(() => process.off('SIGINT', onInt), () => process.off('SIGTERM', onTerm));
  }
  if (opts.abort) {
    const onAbort = () => requestStop('SIGTERM');
    opts.abort.addEventListener('abort', onAbort);
    cleanups.push(() => opts.abort!.removeEventListener('abort', onAbort));
  }
  return () => {
    for (const c of cleanups) c();
  };
}
