/**
 * The package as users get it: `npm pack` (which builds dist/), then the tarball installed globally into a
 * temporary prefix (the native engine built where the build tools and oneDNN are present) and as a
 * project's dependency without the native build (ABLATE_SKIP_NATIVE=1). Each runs an example study by
 * name and reports on it. Slow: every install compiles better-sqlite3 (and the addon), minutes each.
 */
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {before, describe, test} from 'node:test';
import {nativeSkipReason} from '../engine/backend';
import {ROOT, tmpDir} from '../helpers';

const SLOW = !process.env.ABLATE_SLOW && 'slow: set ABLATE_SLOW=1 (npm test does)';
const NPM_FLAGS = ['--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts'];

interface Run {
  code: number | null;
  out: string;
  err: string;
  seconds: number;
}

function sh(cmd: string, args: string[], opts: {cwd: string; env?: Record<string, string | undefined>; timeoutS?: number}): Run {
  const started = Date.now();
  const r = spawnSync(cmd, args, {cwd: opts.cwd, env: {...process.env, NO_COLOR: '1', ...opts.env}, encoding: 'utf8', timeout: (opts.timeoutS ?? 300) * 1000});
  return {code: r.status, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? String(r.error) : ''), seconds: (Date.now() - started) / 1000};
}

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what} failed:\n${r.err}\n${r.out}`.slice(-6000));
  return r;
}

/** Files of the tarball, without the `package/` prefix. */
function tarList(tarball: string): string[] {
  return ok(sh('tar', ['tzf', tarball], {cwd: path.dirname(tarball)}), 'tar').out.trim().split('\n').map((f) => f.replace(/^package\//, '')).sort();
}

/** An empty folder's contents after the run: only results/ may appear. */
function assertOnlyResults(dir: string, ignore: string[] = []): void {
  assert.deepEqual(fs.readdirSync(dir).filter((f) => !ignore.includes(f)), ['results']);
  assert.ok(fs.statSync(path.join(dir, 'results', 'ablate.db')).size > 0);
}

describe('the packed package', {skip: SLOW}, () => {
  let tarball = '';
  const work = tmpDir('ablate-package-');

  before(() => {
    // Pack a copy of the sources, so that packing (which rebuilds dist/) never touches the tree under test.
    const src = path.join(work, 'src');
    const skip = new Set(['node_modules', 'dist', 'results', '.git', 'test-artifacts', path.join('native', 'build')].map((p) => path.join(ROOT, p)));
    fs.cpSync(ROOT, src, {recursive: true, filter: (p) => !skip.has(p) && !p.endsWith('.tgz')});
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(src, 'node_modules'));
    const packed = ok(sh('npm', ['pack', '--pack-destination', work], {cwd: src}), 'npm pack');
    tarball = path.join(work, packed.out.trim().split('\n').pop() ?? '');
    console.log(`# npm pack: ${packed.seconds.toFixed(0)}s, ${path.basename(tarball)} ${(fs.statSync(tarball).size / 1024).toFixed(0)} KiB`);
  });

  test('holds what ablate needs at run time and nothing else', () => {
    const files = tarList(tarball);
    for (const f of ['package.json', 'README.md', 'bin/run.js', 'bin/manifest.js', 'oclif.manifest.json', 'dist/src/commands/run.js', 'dist/src/experiments/worker.js', 'scripts/build-native.js',
      'native/binding.gyp', 'native/src/conv.cc', 'configs/smoke.yaml', 'configs/depth-sweep.yaml', 'templates/study.yaml']) {
      assert.ok(files.includes(f), `${f} is in the package`);
    }
    const unwanted = files.filter((f) => /^(test|bench|src|results|native\/build|dist\/(test|bench))\/|\.map$|\.ts$|^\.ci\//.test(f));
    assert.deepEqual(unwanted, [], 'no tests, benchmarks, sources, builds or results');
  });

  test('installs globally, builds the native engine where it can, and runs an example study by name from an empty folder', () => {
    const prefix = path.join(work, 'global');
    const install = ok(sh('npm', ['install', '-g', '--prefix', prefix, tarball, '--allow-scripts=ablate,better-sqlite3', ...NPM_FLAGS], {cwd: work, timeoutS: 1800}), 'npm install -g');
    console.log(`# npm install -g: ${install.seconds.toFixed(0)}s`);
    const said = (install.out + install.err).match(/^ablate: native CPU kernels .*$/m)?.[0];
    assert.ok(said, 'the install says whether the native engine was built');
    assert.doesNotMatch(install.out + install.err, /EBADENGINE/, 'every dependency supports the Node.js versions ablate declares');
    const native = nativeSkipReason() === false;
    if (native) assert.match(said, /^ablate: native CPU kernels built \(oneDNN /);

    // The packed manifest describes the packed commands, so the installed ablate loads only the command it runs.
    const installed = path.join(prefix, 'lib', 'node_modules', 'ablate');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    assert.ok((require(path.join(installed, 'bin', 'manifest.js')) as {manifestIsCurrent: (root: string) => boolean}).manifestIsCurrent(installed));
    const env = {PATH: `${path.join(prefix, 'bin')}${path.delimiter}${process.env.PATH}`};
    const empty = tmpDir('ablate-user-');
    const version = ok(sh('ablate', ['version', '--json'], {cwd: empty, env}), 'ablate version');
    const engines = (JSON.parse(version.out) as {engines: {name: string; available: boolean}[]}).engines;
    assert.equal(engines.find((e) => e.name === 'native-cpu')?.available, native);

    const run = ok(sh('ablate', ['run', 'smoke'], {cwd: empty, env}), 'ablate run smoke');
    console.log(`# ablate run smoke (installed): ${run.seconds.toFixed(0)}s`);
    assert.match(run.out, /sweep smoke \(id 1\): 8 done, 0 diverged, 0 failed, 0 not finished/);
    assert.equal((run.err.match(/^warning: native-cpu engine unavailable/gm) ?? []).length, native ? 0 : 1);
    const report = ok(sh('ablate', ['report', '--pivot', 'model.depth,model.residual'], {cwd: empty, env}), 'ablate report');
    assert.match(report.out, /model\.depth.*model\.residual=false.*model\.residual=true/);
    assert.match(report.out, /│ 14\s+│/);
    assertOnlyResults(empty);

    const help = ok(sh('ablate', ['help', 'init'], {cwd: empty, env}), 'ablate help init');
    assert.match(help.out, /\$ ablate init \[DIR\]/);
    ok(sh('ablate', ['init', 'mine'], {cwd: empty, env}), 'ablate init');
    const plan = ok(sh('ablate', ['plan', 'mine/study.yaml', '--json'], {cwd: empty, env}), 'ablate plan');
    assert.equal((JSON.parse(plan.out) as {name: string}).name, 'mine');
  });

  test('installs as a dependency without the native build; ablate says once which engine it uses and how to get the fast one', () => {
    const project = path.join(work, 'project');
    fs.mkdirSync(project);
    // npm 11.16+ asks a project to name the dependencies whose install scripts may run.
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({name: 'project', private: true, allowScripts: {ablate: true, 'better-sqlite3': true}}));
    const install = ok(sh('npm', ['install', tarball, ...NPM_FLAGS], {cwd: project, env: {ABLATE_SKIP_NATIVE: '1'}, timeoutS: 1800}), 'npm install');
    console.log(`# npm install (dependency): ${install.seconds.toFixed(0)}s`);
    assert.match(install.out + install.err, /^ablate: native CPU kernels not built \(ABLATE_SKIP_NATIVE is set\)/m);

    const script = path.join(project, 'node_modules', 'ablate', 'scripts', 'build-native.js');
    const version = ok(sh('npx', ['ablate', 'version'], {cwd: project}), 'npx ablate version');
    const nativeLine = version.out.split('\n').find((l) => l.trim().startsWith('native-cpu')) ?? '';
    assert.ok(nativeLine.includes('unavailable: the native addon is not built (') && nativeLine.endsWith(`; apt-get install g++ make libdnnl-dev, then node ${script}`), version.out);

    // The example studies resolve here too; training one trial of a tiny study of the project's own keeps
    // the slow pure-JavaScript engine to seconds (the smoke study takes it many minutes).
    const plan = ok(sh('npx', ['ablate', 'plan', 'smoke', '--json'], {cwd: project}), 'npx ablate plan smoke');
    assert.equal((JSON.parse(plan.out) as {trials: unknown[]}).trials.length, 8);
    fs.writeFileSync(path.join(project, 'tiny.yaml'), [
      'name: tiny',
      'dataset: {name: synthetic, image: [8, 8, 3], classes: 2, train_size: 16, test_size: 8}',
      'model: {family: cifar, depth: 8, width: 0.25}',
      'train: {epochs: 1, batch_size: 8}',
      'seeds: [1, 2]',
      'resources: {workers: 2}',  // two workers, one warning
      '',
    ].join('\n'));
    const run = ok(sh('npx', ['ablate', 'run', 'tiny.yaml'], {cwd: project, timeoutS: 900}), 'npx ablate run tiny.yaml');
    console.log(`# npx ablate run tiny.yaml (tfjs-cpu): ${run.seconds.toFixed(0)}s`);
    assert.match(run.out, /sweep tiny \(id 1\): 2 done/);
    const warnings = run.err.match(/^warning: .*$/gm) ?? [];
    assert.equal(warnings.length, 1, run.err);
    assert.match(warnings[0], /native-cpu engine unavailable \(the native addon is not built .*\); training on the slow pure-JavaScript tfjs-cpu engine\. For the fast one: apt-get install g\+\+ make libdnnl-dev, then node /);
    assert.ok(warnings[0].endsWith(script), warnings[0]);
    const report = ok(sh('npx', ['ablate', 'report', '--json'], {cwd: project}), 'npx ablate report');
    assert.equal((JSON.parse(report.out) as {sweep: {name: string}}).sweep.name, 'tiny');
    assertOnlyResults(project, ['package.json', 'package-lock.json', 'node_modules', 'tiny.yaml']);
  });
});
