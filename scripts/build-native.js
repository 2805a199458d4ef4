#!/usr/bin/env node
// Builds the native CPU kernels (native/) when a compiler and oneDNN are present. Never fails the install:
// without the addon, ablate trains on the pure-JavaScript engine and says so.
const fs = require('node:fs');
const path = require('node:path');
if (!fs.existsSync(path.join(__dirname, '..', 'native', 'binding.gyp'))) process.exit(0);
