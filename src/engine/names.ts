/** Engine names, in a module of their own so that commands can list them without loading TensorFlow. */
export const ENGINE_NAMES = ['native-cpu', 'torch', 'tfjs-cpu', 'tfjs-node', 'tfjs-node-gpu'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];
/** What a study or flag may ask for: an engine, or `auto` (torch on CUDA when a GPU and torch are present, else native-cpu). */
export const ENGINE_CHOICES = ['auto', ...ENGINE_NAMES] as const;
export type EngineChoice = (typeof ENGINE_CHOICES)[number];

/** Engines that do not survive worker threads (tfjs-node: tfjs issues 8388, 2079); they need one process per slot. */
export function needsProcess(engine: EngineName | 'auto'): boolean {
  return engine === 'tfjs-node' || engine === 'tfjs-node-gpu' || engine === 'torch';
}

/** Throws when an engine that must be installed separately is missing (checked before a sweep writes anything). */
export function checkEngineInstalled(engine: EngineName): void {
  if (engine === 'torch') {
    const {probeTorch} = require('./torch') as typeof import('./torch');
    const probe = probeTorch();
    if (!probe.error) return;
    const {EnvironmentError} = require('../errors') as typeof import('../errors');
    throw new EnvironmentError(`engine torch cannot run: ${probe.error}`, {
      hint: 'pip install torch numpy (any CUDA 12 or 13 build of PyTorch >= 2.4 for GPUs), or set ABLATE_PYTHON to a Python that has them, or use --engine native-cpu',
    });
  }
  if (!needsProcess(engine)) return;
  const pkg = `@tensorflow/${engine}`;
  try {
    require.resolve(pkg);
  } catch {
    // Lazy import keeps this module free of dependencies.
    const {EnvironmentError} = require('../errors') as typeof import('../errors');
    throw new EnvironmentError(`engine ${engine} is not installed`, {
      hint: `npm install ${pkg} (it downloads libtensorflow at install time${engine === 'tfjs-node-gpu' ? ' and needs CUDA 11.2 + cuDNN 8' : ''}), or use --engine native-cpu`,
    });
  }
}
