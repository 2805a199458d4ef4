/** Engine names, in a module of their own so that commands can list them without loading TensorFlow. */
export const ENGINE_NAMES = ['native-cpu', 'tfjs-cpu', 'tfjs-node', 'tfjs-node-gpu'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];
