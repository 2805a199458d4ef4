import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {UsageError} from '../../src/errors';
import {
  describeModel, modelConfigSchema, PRESET_NAMES, presetInput, resolveModelSpec, smokeModelConfig, stagePlanes,
  type ModelConfigInput,
} from '../../src/models';

/** The issues of a rejected config as `path: message` lines. */
function problems(cfg: unknown): string[] {
  const r = modelConfigSchema.safeParse(cfg);
  assert.equal(r.success, false, `expected ${JSON.stringify(cfg)} to be rejected`);
  return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('model config', () => {
  test('an empty section is ResNet-20 with option A shortcuts, fully resolved', () => {
    assert.deepEqual(modelConfigSchema.parse({}), {
      family: 'cifar', block: 'basic', depth: 20, stages: [3, 3, 3], planes: 16, widen_factor: 1, stem_width: 16, cardinality: 1,
      base_width: 64, residual: true, batch_norm: true, shortcut: 'A', dropout: 0, zero_init_residual: false,
    });
    assert.equal(describeModel(resolveModelSpec({})), 'ResNet-20');
  });

  test('fields override the preset they sit next to', () => {
    assert.equal(describeModel(resolveModelSpec({preset: 'resnet20', depth: 56})), 'ResNet-56');
    assert.equal(describeModel(resolveModelSpec({preset: 'wrn-28-10', widen_factor: 4})), 'WRN-28-4');
    assert.equal(describeModel(resolveModelSpec({preset: 'resnet20', residual: false})), 'plain-20');
    assert.equal(describeModel(resolveModelSpec({preset: 'resnet20', shortcut: 'B', batch_norm: false})), 'ResNet-20 (option B, no BN)');
    assert.equal(describeModel(resolveModelSpec({preset: 'wrn-16-8', dropout: 0.3})), 'WRN-16-8 (dropout 0.3)');
    // Stages given next to a preset replace its depth.
    const spec = resolveModelSpec({preset: 'resnet50', stages: [3, 4, 23, 3]});
    assert.equal(spec.depth, 101);
    assert.equal(describeModel(spec), 'ResNet-101');
  });

  test('two spellings of one network parse to the same object', () => {
    assert.deepEqual(modelConfigSchema.parse({preset: 'resnet56'}), modelConfigSchema.parse({depth: 56}));
    assert.deepEqual(modelConfigSchema.parse({preset: 'wrn-28-10'}), modelConfigSchema.parse({block: 'preact', depth: 28, widen_factor: 10}));
    assert.deepEqual(modelConfigSchema.parse({preset: 'resnet18'}), modelConfigSchema.parse({family: 'imagenet', stages: [2, 2, 2, 2]}));
    // The parsed output is itself a valid config that parses to itself.
    const once = modelConfigSchema.parse({preset: 'resnext29-8x64d'});
    assert.deepEqual(modelConfigSchema.parse(once), once);
  });

  test('family and block choose the conventional depth and shortcut', () => {
    assert.equal(describeModel(resolveModelSpec({family: 'imagenet'})), 'ResNet-18');
    assert.equal(describeModel(resolveModelSpec({family: 'imagenet', block: 'bottleneck'})), 'ResNet-50');
    assert.equal(resolveModelSpec({family: 'imagenet'}).shortcut, 'B');
    assert.equal(describeModel(resolveModelSpec({block: 'preact'})), 'WRN-28-1');
  });

  test('every listed preset parses, with the input of its paper', () => {
    for (const name of PRESET_NAMES) {
      const r = modelConfigSchema.safeParse({preset: name});
      assert.ok(r.success, `${name}: ${JSON.stringify(r.error?.issues)}`);
      const {input, classes} = presetInput(name);
      if (r.data.family === 'cifar') assert.deepEqual([input.height, input.width, input.channels, classes], [32, 32, 3, 10], name);
      else assert.deepEqual([input.height, input.width, input.channels, classes], [224, 224, 3, 1000], name);
    }
    const names = PRESET_NAMES.map((n) => describeModel(resolveModelSpec({preset: n})));
    assert.ok(names.includes('ResNeXt-29 8x64d') && names.includes('ResNeXt-50 32x4d') && names.includes('WRN-50-2'), names.join(', '));
  });

  test('parametric presets accept any valid numbers', () => {
    assert.equal(describeModel(resolveModelSpec({preset: 'wrn-52-3'})), 'WRN-52-3');
    assert.equal(describeModel(resolveModelSpec({preset: 'resnext29-4x24d'})), 'ResNeXt-29 4x24d');
    assert.equal(describeModel(resolveModelSpec({preset: 'resnext50-8x14d'})), 'ResNeXt-50 8x14d');
    assert.throws(() => presetInput('wrn-28'), /unknown preset/);
  });
});

describe('one name per meaning of width', () => {
  test("WRN's k is widen_factor; ResNeXt-29's 64-plane template is planes; ResNeXt's bottleneck width d is base_width", () => {
    const wrn = modelConfigSchema.parse({preset: 'wrn-28-10'});
    assert.deepEqual([wrn.planes, wrn.widen_factor, wrn.base_width], [16, 10, 64]);
    const resnext = modelConfigSchema.parse({preset: 'resnext29-8x64d'});
    assert.deepEqual([resnext.planes, resnext.widen_factor, resnext.cardinality, resnext.base_width], [64, 1, 8, 64]);
    // Each name changes only its own thing: planes of every stage, the first stage's planes, the group width.
    assert.deepEqual([0, 1, 2].map((i) => stagePlanes(resolveModelSpec({preset: 'wrn-16-4'}), i)), [64, 128, 256]);
    assert.equal(describeModel(resolveModelSpec({preset: 'resnext29-8x64d', planes: 32})), 'ResNeXt-29 8x32d (planes 32)');
    assert.equal(describeModel(resolveModelSpec({preset: 'resnext29-8x64d', base_width: 32})), 'ResNeXt-29 8x32d');
    assert.equal(describeModel(resolveModelSpec({preset: 'resnext29-8x64d', widen_factor: 2})), 'ResNeXt-29 8x128d (widen_factor 2)');
    assert.equal(describeModel(resolveModelSpec({depth: 20, widen_factor: 2})), 'ResNet-20 (widen_factor 2)');
  });

  test('the former key width is read as widen_factor where it has no other meaning, refused where it has', () => {
    assert.deepEqual(modelConfigSchema.parse({depth: 20, width: 2}), modelConfigSchema.parse({depth: 20, widen_factor: 2}));
    assert.deepEqual(modelConfigSchema.parse({preset: 'wrn-28-10', width: 4}), modelConfigSchema.parse({preset: 'wrn-28-4'}));
    assert.deepEqual(problems({preset: 'resnext29-8x64d', width: 2}), [
      "width: width is ambiguous on bottleneck blocks; did you mean widen_factor (WRN's k: every stage's planes x k), " +
        "planes (the first stage's planes: 64 in ResNeXt-29) or base_width (ResNeXt's bottleneck width d)? received width=2",
    ]);
    assert.deepEqual(problems({width: 2, widen_factor: 2}), ['width: width is the former name of widen_factor; give widen_factor only; received width=2, widen_factor=2']);
    assert.deepEqual(problems({width: 0.01}), ['width: widen_factor leaves the first stage without channels (planes x widen_factor < 0.5); received planes=16, widen_factor=0.01']);
  });
});

describe('impossible combinations are reported with the values received', () => {
  const cases: [string, ModelConfigInput | Record<string, unknown>, string][] = [
    ['grouped basic block', {cardinality: 32}, 'cardinality: basic block supports cardinality 1; received cardinality=32'],
    ['grouped pre-activation block', {block: 'preact', cardinality: 4}, 'cardinality: preact block supports cardinality 1; received cardinality=4'],
    ['base width on a basic block', {base_width: 128}, 'base_width: basic block supports base_width 64; received base_width=128'],
    ['CIFAR basic depth', {depth: 21}, 'depth: CIFAR basic-block depth must be 6n+2 (8, 14, 20, 32, 44, 56, 110, ...); received depth=21'],
    ['CIFAR bottleneck depth', {block: 'bottleneck', depth: 30}, 'depth: CIFAR bottleneck-block depth must be 9n+2 (11, 20, 29, 38, 56, 110, 164, ...); received depth=30'],
    ['WRN depth', {preset: 'wrn-28-10', depth: 20}, 'depth: CIFAR preact-block (WRN) depth must be 6n+4 (10, 16, 22, 28, 40, ...); received depth=20'],
    ['WRN depth in the preset name', {preset: 'wrn-27-10'},
      'preset: CIFAR preact-block (WRN) depth must be 6n+4 (10, 16, 22, 28, 40, ...); received depth=27 (from preset wrn-27-10)'],
    ['block changed under a preset', {preset: 'resnet20', block: 'preact'},
      'block: CIFAR preact-block (WRN) depth must be 6n+4 (10, 16, 22, 28, 40, ...); received depth=20 (from preset resnet20)'],
    ['ImageNet depth', {family: 'imagenet', depth: 20}, 'depth: ImageNet basic-block depth must be 18 or 34 (or give stages); received depth=20'],
    ['ImageNet pre-activation', {family: 'imagenet', block: 'preact'},
      'block: preact blocks (WRN) are built for the cifar family; received family=imagenet, block=preact'],
    ['zero-init without BN', {zero_init_residual: true, batch_norm: false},
      'zero_init_residual: zero_init_residual needs batch_norm: true; received batch_norm=false'],
    ['zero-init without residual', {zero_init_residual: true, residual: false},
      'zero_init_residual: zero_init_residual needs residual: true; received residual=false'],
    ['dropout outside pre-activation blocks', {dropout: 0.3},
      'dropout: dropout sits between the convolutions of preact (WRN) blocks; received block=basic, dropout=0.3'],
    ['stage count', {stages: [3, 3]}, 'stages: cifar nets have 3 stages; received stages=[3,3]'],
    ['depth against stages', {depth: 20, stages: [3, 4, 6]},
      'depth: depth disagrees with stages (basic blocks in stages=[3,4,6] make depth 28); received depth=20'],
    ['widening to nothing', {widen_factor: 0.01}, 'widen_factor: widen_factor leaves the first stage without channels (planes x widen_factor < 0.5); received planes=16, widen_factor=0.01'],
    ['empty groups', {block: 'bottleneck', cardinality: 32, base_width: 2},
      'base_width: bottleneck groups would be empty in the first stage (int(16 planes x base_width / 64) = 0); received base_width=2, planes=16, widen_factor=1'],
    ['option A narrowing the stem', {stem_width: 64},
      "stem_width: shortcut A zero-pads channels and cannot drop them: the stem's 64 filters exceed the first stage's 16 channels; received stem_width=64, shortcut=A"],
    ['unknown preset near a name', {preset: 'resnet-20'}, 'preset: unknown preset "resnet-20"; did you mean "resnet20"?'],
    ['unknown preset in another case', {preset: 'WRN-28-10'}, 'preset: unknown preset "WRN-28-10"; did you mean "wrn-28-10"?'],
  ];
  for (const [what, cfg, expected] of cases) {
    test(what, () => {
      assert.ok(problems(cfg).includes(expected), `${JSON.stringify(cfg)} gave:\n${problems(cfg).join('\n')}`);
    });
  }

  test('an unknown preset far from any name lists the known ones', () => {
    const [line] = problems({preset: 'vgg16'});
    assert.match(line, /^preset: unknown preset "vgg16"; known: resnet20, resnet32, .*resnet152, and the forms wrn-D-K, resnext29-CxDd/);
  });

  test('all problems at once, each on the field to change', () => {
    const lines = problems({preset: 'resnext50-32x4d', block: 'basic'});
    assert.deepEqual(lines, [
      'block: basic block supports cardinality 1; received cardinality=32 (from preset resnext50-32x4d)',
      'block: basic block supports base_width 64; received base_width=4 (from preset resnext50-32x4d)',
      'block: ImageNet basic-block depth must be 18 or 34 (or give stages); received depth=50 (from preset resnext50-32x4d)',
    ]);
  });

  test('types, enums and unknown keys are zod issues with their paths', () => {
    const r = modelConfigSchema.safeParse({shortcut: 'D', depth: 20.5, dept: 20});
    assert.equal(r.success, false);
    const paths = r.error!.issues.map((i) => `${i.path.join('.')}:${i.code}`).sort();
    assert.deepEqual(paths, [':unrecognized_keys', 'depth:invalid_type', 'shortcut:invalid_enum_value'].sort());
  });

  test('resolveModelSpec throws a UsageError naming each problem', () => {
    assert.throws(
      () => resolveModelSpec({depth: 21, cardinality: 2}),
      (e: unknown) => e instanceof UsageError && e.exitCode === 2 &&
        /model\.cardinality: basic block supports cardinality 1; received cardinality=2/.test(e.message) &&
        /model\.depth: CIFAR basic-block depth must be 6n\+2/.test(e.message),
    );
  });
});

describe('smoke configs', () => {
  test('keep the architecture and shrink only the channels', () => {
    for (const name of PRESET_NAMES) {
      const full = resolveModelSpec({preset: name});
      const smokeCfg = smokeModelConfig({preset: name});
      const smoke = resolveModelSpec(modelConfigSchema.parse(smokeCfg));
      for (const key of ['family', 'block', 'depth', 'stages', 'cardinality', 'residual', 'batchNorm', 'shortcut', 'dropout', 'zeroInitResidual'] as const) {
        assert.deepEqual(smoke[key], full[key], `${name}: ${key}`);
      }
      assert.ok(stagePlanes(smoke, 0) >= 2 && stagePlanes(smoke, 0) <= 16, `${name}: first stage ${stagePlanes(smoke, 0)}`);
      assert.ok(smoke.stemWidth <= 4, `${name}: stem ${smoke.stemWidth}`);
    }
    assert.equal(describeModel(resolveModelSpec(smokeModelConfig({preset: 'resnext29-8x64d'}))), 'ResNeXt-29 8x4d (planes 8, stem 4)');
    assert.equal(describeModel(resolveModelSpec(smokeModelConfig({preset: 'resnext50-32x4d'}))), 'ResNeXt-50 32x1d (planes 4, stem 4)');
  });

  test('keep the order of a width sweep', () => {
    const planes = [1, 2, 4, 8, 10].map((k) => stagePlanes(resolveModelSpec(smokeModelConfig({preset: `wrn-16-${k}`})), 0));
    assert.deepEqual(planes, [4, 6, 8, 11, 13]);
    const narrow = smokeModelConfig({widen_factor: 0.5});
    assert.equal(stagePlanes(resolveModelSpec(narrow), 0), 3);
    assert.equal(narrow.stem_width, 3, 'option A: the stem never exceeds the first stage');
  });

  test('fractional widths narrow the default stem with the first stage', () => {
    assert.equal(resolveModelSpec({widen_factor: 0.25}).stemWidth, 4);
    assert.equal(resolveModelSpec({widen_factor: 2}).stemWidth, 16);
    assert.equal(resolveModelSpec({family: 'imagenet', widen_factor: 0.25}).stemWidth, 16);
  });

  test('refuse an invalid config', () => {
    assert.throws(() => smokeModelConfig({depth: 21}), UsageError);
  });
});
