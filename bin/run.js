#!/usr/bin/env node
// Entry point of the `ablate` command (oclif). The TypeScript sources are compiled to dist/ before packing
// (npm pack) and by `npm install` in a clone. `ablate --version` is `ablate version`, which also names the engines.
const path = require('node:path');
const {manifestIsCurrent} = require('./manifest');

const args = process.argv.slice(2);
if (args[0] === '--version') args[0] = 'version';
const root = path.resolve(__dirname, '..');
// oclif's check of its own Node.js range loads semver at every start (about 20 ms); npm checks ablate's range.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
const oclif = require('@oclif/core');

async function main() {
  // With a current oclif.manifest.json, oclif loads only the module of the command that runs.
  if (manifestIsCurrent(root)) return oclif.execute({dir: __dirname, args});
  // Without one (dist/ rebuilt by tsc alone), the commands are read from their files.
  const own = new oclif.Plugin({root, isRoot: true, ignoreManifest: true});
  await own.load();
  const config = await oclif.Config.load({root, plugins: new Map([[own.name, own]])});
  await config.loadPluginsAndCommands({force: true});
  return oclif.execute({args, loadOptions: config});
}

main().catch(require('@oclif/core/handle'));
