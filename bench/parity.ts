/**
 * Parameter and MAC parity of the torch engine's networks with ablate's accounting, for every preset at
 * its paper's input: one JSON line per preset, then a summary line. Needs only Node.js and the Python
 * that has torch (no TensorFlow.js); the GPU check runs it.
 *
 *   node dist/bench/parity.js
 */
import {spawnSync} from 'node:child_process';
import {probeTorch, workerEnv} from '../src/engine/torch';
import {accountModel} from '../src/models/accounting';
import {resolveModelSpec} from '../src/models/config';
import {networkLayout} from '../src/models/layout';
import {PRESET_NAMES, presetInput} from '../src/models/presets';

const probe = probeTorch();
if (probe.error) {
  console.error(`engine torch cannot run: ${probe.error}`);
  process.exit(1);
}
const cases = PRESET_NAMES.map((preset) => ({preset, ...presetInput(preset), spec: resolveModelSpec({preset})}));
const payload = {cases: cases.map((c) => ({layout: networkLayout(c.spec, c.input.channels, c.classes), input: [c.input.height, c.input.width, c.input.channels]}))};
const r = spawnSync(probe.python, ['-m', 'ablate_torch.count'], {env: workerEnv(), input: JSON.stringify(payload), encoding: 'utf8', maxBuffer: 256 * 2 ** 20});
if (r.status !== 0) {
  console.error(r.stderr);
  process.exit(1);
}
const counted = JSON.parse(r.stdout) as {params: number; macs: number}[];
let equal = 0;
cases.forEach((c, i) => {
  const ours = accountModel(c.spec, c.input, c.classes);
  const same = ours.params === counted[i].params && ours.macs === counted[i].macs;
  if (same) equal++;
  console.log(JSON.stringify({preset: c.preset, params: ours.params, macs: ours.macs, torch_params: counted[i].params, torch_macs: counted[i].macs, equal: same}));
});
console.log(JSON.stringify({presets: cases.length, equal, torch: probe.torch}));
process.exit(equal === cases.length ? 0 : 1);
