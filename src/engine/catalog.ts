/**
 * `ablate engines`: every engine, whether it can run here, its version and device, or why not. Loads an
 * engine's libraries only to ask them their version; a missing library is a reason, not an error.
 */
import * as os from 'node:os';
import {ENGINE_NAMES, type EngineName} from './names';
import {NATIVE_BUILD_HINT, packageVersion} from './available';
import {loadAddon} from './native-addon';
import {chooseAutoEngine, probeTorch} from './torch';

export interface EngineStatus {
  name: EngineName;
  available: boolean;
  version: string | null;
  device: string | null;
  /** Why not, or what to know. */
  note: string;
}

const cpuModel = () => os.cpus()[0]?.model?.trim() ?? os.arch();

function status(name: EngineName): EngineStatus {
  const tfjs = packageVersion('@tensorflow/tfjs-core');
  switch (name) {
    case 'native-cpu': {
      if (!tfjs) return {name, available: false, version: null, device: null, note: 'TensorFlow.js (@tensorflow/tfjs-core) is not installed; npm ci'};
      const loaded = loadAddon();
      if (!loaded.ok) return {name, available: false, version: null, device: null, note: `${loaded.reason}; ${NATIVE_BUILD_HINT}`};
      const info = loaded.addon.info();
      return {name, available: true, version: `tfjs ${tfjs}, oneDNN ${info.dnnl}`, device: `${cpuModel()} (${info.isa})`, note: ''};
    }
    case 'tfjs-cpu':
      return tfjs
        ? {name, available: true, version: `tfjs ${tfjs}`, device: cpuModel(), note: 'pure-JavaScript reference; slow'}
        : {name, available: false, version: null, device: null, note: 'TensorFlow.js (@tensorflow/tfjs-core) is not installed; npm ci'};
    case 'tfjs-node':
    case 'tfjs-node-gpu': {
      const v = packageVersion(`@tensorflow/${name}`);
      return v
        ? {name, available: true, version: `${name} ${v}`, device: name === 'tfjs-node-gpu' ? 'CUDA 11.2 GPU' : cpuModel(), note: 'legacy (libtensorflow 2.9.1)'}
        : {name, available: false, version: null, device: null, note: `not installed (npm install @tensorflow/${name}); legacy, not recommended`};
    }
    case 'torch': {
      const p = probeTorch();
      if (p.error) return {name, available: false, version: null, device: null, note: `${p.error}; pip install torch numpy, or set ABLATE_PYTHON`};
      const version = `torch ${p.torch}${p.cuda ? `, CUDA ${p.cuda}` : ''}${p.cudnn ? `, cuDNN ${p.cudnn}` : ''}, Python ${p.pythonVersion}`;
      const device = p.cudaAvailable ? `${p.gpus.length} x ${p.gpus[0]}` : cpuModel();
      return {name, available: true, version, device, note: `${p.python}${p.cudaAvailable ? '' : ' (no CUDA GPU: trains on the CPU)'}`};
    }
  }
}

export function listEngines(): {engines: EngineStatus[]; auto: {engine: EngineName; reason: string}} {
  const auto = chooseAutoEngine();
  return {engines: ENGINE_NAMES.map(status), auto: {engine: auto.engine, reason: auto.reason}};
}
