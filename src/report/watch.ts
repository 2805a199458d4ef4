/**
 * A redraw loop for `status --watch`: on a terminal it repaints the screen in place; in a pipe or a
 * log file it appends one snapshot per interval. Ends on SIGINT/SIGTERM (Ctrl-C) or an abort signal.
 */
import {dateTime} from './format';

export interface WatchOptions {
  /** Milliseconds between frames. */
  interval: number;
  /** Repaint in place (ANSI) instead of appending snapshots. */
  tty: boolean;
  render: () => string | Promise<string>;
  write: (text: string) => void;
  /** Append mode only: print a "--- time ---" line before each snapshot (off for JSON lines). */
  separator?: boolean;
  signal?: AbortSignal;
}

const CLEAR = '\x1b[H\x1b[2J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

export async function watch(opts: WatchOptions): Promise<void> {
  let stopped = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopped = true;
    wake?.();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  opts.signal?.addEventListener('abort', stop);
  if (opts.tty) opts.write(HIDE_CURSOR);
  try {
    while (!stopped) {
      let body: string;
      try {
        body = await opts.render();
      } catch (e) {
        // A transient read error (e.g. the file being replaced) should not end a live view.
        body = `error: ${(e as Error).message}\n`;
      }
      const stamp = dateTime(Date.now());
      if (opts.tty) opts.write(`${CLEAR}ablate status · ${stamp} · every ${opts.interval / 1000}s · Ctrl-C to stop\n\n${body}`);
      else opts.write(opts.separator === false ? body : `--- ${stamp} ---\n${body}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, opts.interval);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    if (opts.tty) opts.write(SHOW_CURSOR);
  }
}
