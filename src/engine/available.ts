/**
 * Which engines this installation can run, found without loading TensorFlow (`ablate version` lists
 * them), and the one instruction for building the native engine that every "not built" message gives.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {ENGINE_NAMES, needsProcess, type EngineName} from './names';
import {addonPath} from './native-addon';

/** The folder ablate is installed in: a clone, a project's node_modules/ablate, or a global prefix's. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');

const buildScript = path.join(PACKAGE_ROOT, 'scripts', 'build-native.js');

/** How to get the native engine where it is not built: the Debian packages, then this installation's build script. */
export const NATIVE_BUILD_HINT = `apt-get install g++ make libdnnl-dev, then node ${/\s/.test(buildScript) ? JSON.stringify(buildScript) : buildScript}`;

export interface EngineStatus {
  name: EngineName;
  available: boolean;
  /** What runs (versions) when available; why not and how to get it otherwise. */
  detail: string;
}

function nativeStatus(): EngineStatus {
  const file = addonPath();
  if (!fs.existsSync(file)) return {name: 'native-cpu', available: false, detail: `not built (${NATIVE_BUILD_HINT})`};
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const info = (require(file) as {info(): {dnnl: string; cpuRuntime: string; isa: string}}).info();
    return {name: 'native-cpu', available: true, detail: `oneDNN ${info.dnnl}, ${info.cpuRuntime}, ${info.isa}`};
  } catch (err) {
    return {name: 'native-cpu', available: false, detail: `built but does not load: ${(err as Error).message.split('\n')[0]} (${NATIVE_BUILD_HINT})`};
  }
}

function packageStatus(name: EngineName): EngineStatus {
  const pkg = `@tensorflow/${name}`;
  try {
    const manifest = require.resolve(`${pkg}/package.json`);
    return {name, available: true, detail: `${pkg} ${(JSON.parse(fs.readFileSync(manifest, 'utf8')) as {version: string}).version}`};
  } catch {
    return {name, available: false, detail: `not installed (optional: npm install ${pkg})`};
  }
}

export function engineStatus(): EngineStatus[] {
  return ENGINE_NAMES.map((name) => {
    if (name === 'native-cpu') return nativeStatus();
    if (needsProcess(name)) return packageStatus(name);
    return {name, available: true, detail: 'pure JavaScript reference (slow)'};
  });
}
