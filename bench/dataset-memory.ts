/**
 * Peak memory of a CIFAR-size sweep on worker threads: two trials at once (resources.workers: 2, thread
 * executor) on synthetic 32x32x3 images, 50,000 for training and 10,000 for testing (the size of CIFAR-10),
 * through the same coordinator as `ablate run`. The network is tiny (CIFAR depth 8 at width 1/4), so the
 * dataset dominates: as normalised float32 it is 703 MiB, and what matters is how many copies of it the
 * process holds. The sweep is stopped once both trials have trained (both have their data), and the process's
 * peak resident size is printed.
 *
 *   node dist/bench/dataset-memory.js [--train 50000] [--test 10000] [--workers 2]
 *
 * Prints one JSON line: {train, test, workers, dataset_mb, peak_rss_mb, seconds}.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {parseArgs} from 'node:util';
import {runStudy} from '../src/experiments/runner';

function peakRssMb(): number {
  // VmHWM: the process's peak resident set, worker threads included (they share the process).
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return Math.round((m ? Number(m[1]) : process.resourceUsage().maxRSS) / 1024);
}

async function main(): Promise<void> {
  const {values} = parseArgs({
    options: {train: {type: 'string', default: '50000'}, test: {type: 'string', default: '10000'}, workers: {type: 'string', default: '2'}},
  });
  const train = Number(values.train), test = Number(values.test), workers = Number(values.workers);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-bench-mem-'));
  const study = path.join(dir, 'memory.yaml');
  fs.writeFileSync(study, `name: memory
dataset: {name: synthetic, image: [32, 32, 3], classes: 10, train_size: ${train}, test_size: ${test}}
model: {family: cifar, depth: 8, width: 0.25}
train: {epochs: 1, batch_size: 128}
seeds: [${Array.from({length: workers}, (_, i) => i + 1).join(', ')}]
resources: {workers: ${workers}, threads: 1, executor: thread}
`);
  const abort = new AbortController();
  const training = new Set<number>();
  const t0 = performance.now();
  await runStudy({
    configPath: study,
    db: path.join(dir, 'ablate.db'),
    abort: abort.signal,
    reporter: {
      trialEvent(row, ev) {
        if (ev.type !== 'progress') return;
        training.add(row.id);
        if (training.size === workers) abort.abort();
      },
    },
  });
  fs.rmSync(dir, {recursive: true, force: true});
  const datasetMb = Math.round(((train + test) * 32 * 32 * 3 * 4) / 2 ** 20);
  console.log(JSON.stringify({train, test, workers, dataset_mb: datasetMb, peak_rss_mb: peakRssMb(), seconds: Math.round((performance.now() - t0) / 100) / 10}));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
