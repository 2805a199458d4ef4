/** Engine names, in a module of their own so that commands can list them without loading TensorFlow. */
export const ENGINE_NAMES = ['native-cpu', 'tfjs-cpu', 'tfjs-node', 'tfjs-node-gpu'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/** Engines that do not survive worker threads (tfjs-node: tfjs issues 8388, 2079); they need one process per slot. */
export function needsProcess(engine: EngineName): boolean {
  return engine === 'tfjs-node' || engine === 'tfjs-node-gpu';
}

/** Throws when an engine that must be installed separately is missing (checked before a sweep writes anything). */
export function checkEngineInstalled(engine: EngineName): void {
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
