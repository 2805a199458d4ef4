// Whether oclif.manifest.json (written by `npm run build` and when the package is packed) describes the
// compiled commands: it must name exactly the command files of dist/src/commands and be no older than any
// of them. A manifest left behind by an older build (tsc run alone) would hide a new command or show
// old help, so then the command files are read instead.
const fs = require('node:fs');
const path = require('node:path');

const MANIFEST = 'oclif.manifest.json';
const COMMANDS = path.join('dist', 'src', 'commands');

/** @param {string} root the package folder */
function manifestIsCurrent(root) {
  let manifest;
  let files;
  try {
    manifest = fs.statSync(path.join(root, MANIFEST));
    files = fs.readdirSync(path.join(root, COMMANDS)).filter((f) => f.endsWith('.js'));
  } catch {
    return false;
  }
  const ids = files.map((f) => f.slice(0, -3)).sort();
  let named;
  try {
    named = Object.keys(JSON.parse(fs.readFileSync(path.join(root, MANIFEST), 'utf8')).commands ?? {}).sort();
  } catch {
    return false;
  }
  if (named.length !== ids.length || named.some((id, i) => id !== ids[i])) return false;
  for (const f of files) {
    if (fs.statSync(path.join(root, COMMANDS, f)).mtimeMs > manifest.mtimeMs) return false;
  }
  return true;
}

module.exports = {manifestIsCurrent, MANIFEST};
