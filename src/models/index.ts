/**
 * The ResNet family: config schema and presets, the resolved spec, parameter and MAC accounting,
 * and the builder. See spec.ts for the families and config.ts for how a `model:` section resolves.
 */
export type {ApplyOptions, InputShape, Model} from './types';
export {
  BLOCKS, BOTTLENECK_EXPANSION, DEPTH_RULES, FAMILIES, FAMILY_INFO, SHORTCUTS,
  bottleneckWidth, describeModel, stageOutChannels, stagePlanes,
  type BlockKind, type Family, type ModelSpec, type ShortcutOption,
} from './spec';
export {PRESET_NAMES, PRESET_PATTERNS, lookupPreset, presetInput, suggestPreset, type PresetFields} from './presets';
export {
  MODEL_DEFAULTS, checkModelConfig, modelConfigObject, modelConfigSchema, resolveModelSpec, smokeModelConfig, specToConfig,
  type ModelConfig, type ModelConfigInput, type ModelConfigIssue,
} from './config';
export {networkLayout, type BlockDef, type BnDef, type ConvDef, type NetworkDef, type ShortcutDef} from './layout';
export {accountModel, countMacs, countParams, outputSize, type Accounting} from './accounting';
export {BN_EPS, BN_MOMENTUM, buildModel, type BuildOptions} from './builder';
