/**
 * Where this installation lives, the versions of the packages it resolves, and the one instruction for
 * building the native engine that every "not built" message gives.
 */
import * as path from 'node:path';

/** The folder ablate is installed in: a clone, a project's node_modules/ablate, or a global prefix's. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');

const buildScript = path.join(PACKAGE_ROOT, 'scripts', 'build-native.js');

/** How to get the native engine where it is not built: the Debian packages, then this installation's build script. */
export const NATIVE_BUILD_HINT = `apt-get install g++ make libdnnl-dev, then node ${/\s/.test(buildScript) ? JSON.stringify(buildScript) : buildScript}`;

/** The version of an installed package as this installation resolves it; undefined when it is not installed. */
export function packageVersion(pkg: string): string | undefined {
  try {
    return (require(`${pkg}/package.json`) as {version?: string}).version;
  } catch {
    return undefined;
  }
}
