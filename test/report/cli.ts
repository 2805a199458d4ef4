/** Run the built CLI (`node bin/run.js ...`) the way a user does, capturing stdout, stderr and the exit code. */
import {spawn, spawnSync} from 'node:child_process';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const BIN = path.join(ROOT, 'bin', 'run.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: {env?: NodeJS.ProcessEnv; timeoutMs?: number} = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: {...process.env, NO_COLOR: '1', ...opts.env},
    timeout: opts.timeoutMs ?? 30_000,
  });
  return {code: r.status, stdout: r.stdout, stderr: r.stderr};
}

/** Start the CLI in the background; `until` resolves once stdout matches a pattern. */
export function startCli(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], {cwd: ROOT, env: {...process.env, NO_COLOR: '1'}, stdio: ['ignore', 'pipe', 'pipe']});
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    async until(pred: (out: string) => boolean, timeoutMs = 20_000): Promise<void> {
      const start = Date.now();
      while (!pred(stdout)) {
        if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting; stdout so far:\n${stdout}\nstderr:\n${stderr}`);
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}; stdout:\n${stdout}\nstderr:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}
