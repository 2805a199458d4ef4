/** What users of oclif CLIs expect: `help COMMAND`, shell completion, --json on the commands that print data, a version that names the engines. */
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {test} from 'node:test';
import {Config} from '@oclif/core';
import {ENGINE_NAMES} from '../../src/engine/names';
import {cli, ROOT, tmpDir} from '../helpers';

test('ablate help COMMAND prints that command\'s usage, flags and examples', () => {
  const r = cli(['help', 'report']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /USAGE\n\s+\$ ablate report \[SWEEP\]/);
  assert.match(r.stdout, /--pivot=<value>/);
  assert.match(r.stdout, /EXAMPLES\n/);
});

test('every ablate command that prints data takes --json; init and version too', async () => {
  const config = await Config.load(ROOT);
  const own = config.commands.filter((c) => c.pluginName === 'ablate');
  assert.deepEqual(own.map((c) => c.id).sort(), ['compare', 'engines', 'init', 'plan', 'report', 'resume', 'run', 'show', 'status', 'version']);
  assert.deepEqual(own.filter((c) => !c.flags.json).map((c) => c.id), []);
});

test('bash completion from @oclif/plugin-autocomplete completes commands and flags', () => {
  const cache = tmpDir('ablate-ac-');
  const env = {XDG_CACHE_HOME: cache};
  const setup = cli(['autocomplete', 'bash'], {env});
  assert.equal(setup.code, 0, setup.stderr);
  const script = cli(['autocomplete', 'script', 'bash'], {env});
  assert.equal(script.code, 0, script.stderr);
  // What `printf "$(ablate autocomplete script bash)" >> ~/.bashrc` adds, then a TAB after `ablate r` and after `ablate run --s`.
  const complete = (words: string[]) => {
    const r = spawnSync('bash', ['-c', `${script.stdout}\nCOMP_WORDS=(${words.join(' ')}); COMP_CWORD=${words.length - 1}; _ablate_autocomplete; printf '%s\\n' "\${COMPREPLY[@]}"`], {encoding: 'utf8'});
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim().split('\n').sort();
  };
  assert.deepEqual(complete(['ablate', 'r']), ['report', 'resume', 'run']);
  assert.deepEqual(complete(['ablate', 'run', '--s']), ['--smoke']);
  assert.ok(fs.existsSync(path.join(cache, 'ablate', 'autocomplete', 'functions', 'zsh', '_ablate')), 'zsh too');
});

test('ablate version (and --version) names every engine and whether it runs here', () => {
  const v = cli(['version']);
  assert.equal(v.code, 0, v.stderr);
  const lines = v.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^ablate\/0\.\d+\.\d+ \S+ node-v\d+/);
  assert.deepEqual(lines.slice(1).map((l) => l.trim().split(/\s+/)[0]), [...ENGINE_NAMES]);
  assert.match(v.stdout, /tfjs-cpu\s+available: tfjs \d+\.\d+\.\d+; .*pure-JavaScript reference/);
  assert.equal(cli(['--version']).stdout, v.stdout);

  const missingAddon = path.join(tmpDir(), 'ablate_native.node');
  const missing = cli(['version', '--json'], {env: {ABLATE_NATIVE_ADDON: missingAddon}});
  assert.equal(missing.code, 0, missing.stderr);
  const json = JSON.parse(missing.stdout) as {version: string; engines: {name: string; available: boolean; note: string}[]};
  assert.equal(json.version, (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string}).version);
  const native = json.engines.find((e) => e.name === 'native-cpu');
  assert.equal(native?.available, false);
  assert.equal(native?.note, `the native addon is not built (${missingAddon} does not exist); apt-get install g++ make libdnnl-dev, then node ${path.join(ROOT, 'scripts', 'build-native.js')}`);
});

/** A package folder that shares this one's compiled commands and dependencies, with its own bin/ and manifest. */
function packageCopy(): string {
  const root = tmpDir('ablate-manifest-');
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(root, 'package.json'));
  fs.cpSync(path.join(ROOT, 'bin'), path.join(root, 'bin'), {recursive: true});
  fs.cpSync(path.join(ROOT, 'scripts'), path.join(root, 'scripts'), {recursive: true});
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'));
  fs.symlinkSync(path.join(ROOT, 'dist'), path.join(root, 'dist'));
  return root;
}

test('oclif.manifest.json is used only while it names exactly the command files and is not older than them', () => {
  const root = packageCopy();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const {manifestIsCurrent} = require(path.join(root, 'bin', 'manifest.js')) as {manifestIsCurrent: (root: string) => boolean};
  const file = path.join(root, 'oclif.manifest.json');
  const run = (args: string[]) => spawnSync(process.execPath, [path.join(root, 'bin', 'run.js'), ...args], {cwd: root, encoding: 'utf8', env: {...process.env, NO_COLOR: '1'}});
  assert.equal(manifestIsCurrent(root), false, 'no manifest');

  const made = spawnSync(process.execPath, [path.join(root, 'scripts', 'oclif-manifest.js')], {cwd: root, encoding: 'utf8'});
  assert.equal(made.status, 0, made.stderr);
  const manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as {commands: Record<string, {summary?: string}>};
  assert.deepEqual(Object.keys(manifest.commands).sort(), ['compare', 'engines', 'init', 'plan', 'report', 'resume', 'run', 'show', 'status', 'version']);
  assert.equal(manifestIsCurrent(root), true);

  // A current manifest is what help reads: a summary changed in it shows.
  manifest.commands.status.summary = 'Summary as the manifest has it.';
  fs.writeFileSync(file, JSON.stringify(manifest));
  assert.match(run(['help']).stdout, /status +Summary as the manifest has it\./);

  // Older than a command file (tsc ran after it): the command files speak.
  const past = new Date(Date.now() - 3600_000);
  fs.utimesSync(file, past, past);
  assert.equal(manifestIsCurrent(root), false);
  assert.match(run(['help']).stdout, /status +Sweeps with trial counts per state/);

  // Missing a command (one added since): that command still runs.
  delete manifest.commands.plan;
  fs.writeFileSync(file, JSON.stringify(manifest));
  assert.equal(manifestIsCurrent(root), false);
  const plan = run(['plan', 'smoke', '--json']);
  assert.equal(plan.status, 0, plan.stderr);
  assert.equal((JSON.parse(plan.stdout) as {name: string}).name, 'smoke');

  fs.writeFileSync(file, '{not json');
  assert.equal(manifestIsCurrent(root), false);
});

test('--json output is indented JSON; a value with a cycle goes to oclif\'s writer, which names the cycle', async () => {
  const config = await Config.load(ROOT);
  const {default: Version} = await import('../../src/commands/version');
  const cmd = new Version([], config);
  const written: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stdout.write;
  try {
    const shared = {a: 1};
    cmd.logJson({x: [shared, shared], s: 'a%%b'});
    const cyclic: Record<string, unknown> = {x: 1};
    cyclic.self = cyclic;
    cmd.logJson(cyclic);
  } finally {
    process.stdout.write = write;
  }
  assert.equal(written[0], JSON.stringify({x: [{a: 1}, {a: 1}], s: 'a%%b'}, null, 2) + '\n');
  assert.match(written.slice(1).join(''), /"self": "\[Circular ~\]"/);
});
