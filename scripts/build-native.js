#!/usr/bin/env node
// Builds the native CPU kernels (native/) when a compiler and oneDNN are present. Never fails the install:
// without the addon, ablate trains on the pure-JavaScript engine and says so. Prints one line either way.
//   ABLATE_SKIP_NATIVE=1  skip the build
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {spawnSync} = require('node:child_process');

const root = path.join(__dirname, '..');
const nativeDir = path.join(root, 'native');
const addon = path.join(nativeDir, 'build', 'Release', 'ablate_native.node');
const log = path.join(os.tmpdir(), `ablate-native-build-${process.pid}.log`);
// This file's own path: right in a clone, in a project's node_modules/ablate and in a global install alike.
const INSTALL_HINT = `apt-get install g++ make libdnnl-dev, then node ${/\s/.test(__filename) ? JSON.stringify(__filename) : __filename}`;

function done(message) {
  console.log(`ablate: ${message}`);
  process.exit(0);
}

function run(cmd, args, opts = {}) {
  return spawnSync(cmd, args, {encoding: 'utf8', timeout: 600_000, ...opts});
}

function main() {
  if (!fs.existsSync(path.join(nativeDir, 'binding.gyp'))) process.exit(0);
  if (process.env.ABLATE_SKIP_NATIVE) done('native CPU kernels not built (ABLATE_SKIP_NATIVE is set); the slow tfjs-cpu engine will be used');

  const cxx = process.env.CXX || 'c++';
  if (run(cxx, ['--version']).status !== 0) done(`native CPU kernels not built: no C++ compiler (${cxx}) found (${INSTALL_HINT})`);
  if (run('make', ['--version']).status !== 0) done(`native CPU kernels not built: make not found (${INSTALL_HINT})`);
  const python = process.env.npm_config_python || process.env.PYTHON || 'python3';
  if (run(python, ['--version']).status !== 0) done(`native CPU kernels not built: ${python} not found (node-gyp needs Python 3; apt-get install python3)`);

  // One compile-and-link probe checks the oneDNN headers and library together.
  const probe = '#include <oneapi/dnnl/dnnl.hpp>\nint main() { return dnnl_version()->major > 0 ? 0 : 1; }\n';
  const probeOut = path.join(os.tmpdir(), `ablate-dnnl-probe-${process.pid}`);
  const linked = run(cxx, ['-std=c++17', '-x', 'c++', '-', '-ldnnl', '-o', probeOut], {input: probe});
  fs.rmSync(probeOut, {force: true});
  if (linked.status !== 0) {
    const why = /dnnl\.hpp/.test(linked.stderr) ? 'oneDNN headers (oneapi/dnnl/dnnl.hpp) not found' : 'oneDNN library (-ldnnl) not found';
    done(`native CPU kernels not built: ${why} (${INSTALL_HINT})`);
  }

  try {
    require.resolve('node-addon-api/package.json', {paths: [root]});
  } catch {
    done(`native CPU kernels not built: the node-addon-api package is missing (npm install node-addon-api, then node ${__filename})`);
  }

  // npm exports the path of its bundled node-gyp to install scripts; otherwise look beside npm.
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js', {paths: [root]}));
  } catch {
    // not installed as a package; the candidates above may still exist
  }
  const gyp = candidates.find((p) => p && fs.existsSync(p));
  if (!gyp) done('native CPU kernels not built: node-gyp not found (it ships with npm; npm install -g node-gyp)');

  // Use the local Node headers when they exist, so no download is needed (machines without network).
  const args = [gyp, 'rebuild', '-C', nativeDir];
  const headers = path.join(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(headers, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${headers}`);
  const built = run(process.execPath, args);
  fs.writeFileSync(log, `${built.stdout ?? ''}\n${built.stderr ?? ''}\n${built.error ?? ''}`);
  if (built.status !== 0 || !fs.existsSync(addon)) {
    done(`native CPU kernels failed to build (log: ${log}); the slow tfjs-cpu engine will be used`);
  }

  // Load it once in a fresh process: a library missing at run time shows here rather than at the first trial.
  const check = run(process.execPath, ['-e', `const i = require(${JSON.stringify(addon)}).info(); console.log(i.dnnl + ', ' + i.cpuRuntime + ', ' + i.isa)`]);
  if (check.status !== 0) {
    done(`native CPU kernels built but do not load: ${(check.stderr || '').trim().split('\n')[0]}`);
  }
  fs.rmSync(log, {force: true});
  done(`native CPU kernels built (oneDNN ${check.stdout.trim()})`);
}

try {
  main();
} catch (err) {
  done(`native CPU kernels not built: ${err && err.message ? err.message.split('\n')[0] : err}`);
}
