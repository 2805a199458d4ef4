#!/usr/bin/env node
// Entry point of the `ablate` command (oclif). The TypeScript sources are compiled to dist/ before packing
// (npm pack) and by `npm install` in a clone. `ablate --version` is `ablate version`, which also names the engines.
const args = process.argv.slice(2);
if (args[0] === '--version') args[0] = 'version';
require('@oclif/core')
  .execute({dir: __dirname, args})
  .catch(require('@oclif/core/handle'));
