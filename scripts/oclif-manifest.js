#!/usr/bin/env node
// Writes oclif.manifest.json: the commands with their flags, arguments and help, read from dist/src/commands
// (run after tsc). With it, `ablate` finds a command and prints help without loading every command module.
// bin/run.js uses it only while it names exactly the command files there and is not older than any of them.
const fs = require('node:fs');
const path = require('node:path');
const {Plugin} = require('@oclif/core');

const ROOT = path.resolve(__dirname, '..');

async function main() {
  const plugin = new Plugin({root: ROOT, type: 'core', isRoot: true, ignoreManifest: true, errorOnManifestCreate: true});
  await plugin.load();
  const file = path.join(ROOT, 'oclif.manifest.json');
  fs.writeFileSync(file, JSON.stringify(plugin.manifest, null, 2) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), file) || file}: ${Object.keys(plugin.manifest.commands).length} commands`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
