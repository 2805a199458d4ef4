#!/usr/bin/env node
// Entry point of the `ablate` command (oclif). The TypeScript sources are compiled to dist/ by `npm install`.
require('@oclif/core')
  .execute({dir: __dirname})
  .catch(require('@oclif/core/handle'));
