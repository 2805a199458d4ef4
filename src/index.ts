/**
 * ablate as a library: the core functions behind the commands. Each takes an options object and returns
 * data; the commands in src/commands only parse flags and render.
 */
export {planStudy, runStudy, type Plan, type PlannedTrial, type RunOptions, type RunResult} from './experiments/runner';
export {loadStudy, parseStudy, type StudyConfig} from './experiments/config';
export {expandStudy, type TrialSpec} from './experiments/sweep';
export {runTrial, type TrialEvent, type TrialOutcome} from './experiments/trial';
export {buildModel, countMacs, countParams, describeModel, resolveModelSpec, PRESET_NAMES, presetInput} from './models';
export {loadDataset, datasetInfo} from './data';
export {openDb} from './store/db';
export {buildReport} from './report/model';
export {AblateError, ConfigError, EnvironmentError, UsageError} from './errors';
