/**
 * One definition of every network: the torch modules the Python worker builds from ablate's layout have
 * exactly ablate's parameter count, MACs (counted by forward hooks in torch) and checkpoint tensors
 * (names and shapes of the TypeScript builder's variables), for every preset and every ablation axis.
 */
import assert from 'node:assert/strict';
import {test} from 'node:test';
import {
  PRESET_NAMES, accountModel, buildModel, networkLayout, presetInput, resolveModelSpec, type ModelConfigInput,
} from '../../src/models';
import {useCpuBackend} from '../models/backend';
import {NO_TORCH, runPython} from './torch-helpers';

interface Case {
  label: string;
  cfg: ModelConfigInput;
  input: {height: number; width: number; channels: number};
  classes: number;
}

/** Every preset at its paper's input (224x224 ImageNet, 32x32 CIFAR). */
function presetCases(): Case[] {
  return PRESET_NAMES.map((preset) => ({label: preset, cfg: {preset}, ...presetInput(preset)}));
}

/** The ablation axes crossed on small CIFAR nets: block, plain/residual, shortcut, BN, width, dropout, cardinality. */
function axisCases(): Case[] {
  const out: Case[] = [];
  const input = {height: 16, width: 16, channels: 3};
  const depths = {basic: 8, bottleneck: 11, preact: 10} as const;
  for (const block of ['basic', 'bottleneck', 'preact'] as const) {
    for (const residual of [true, false]) {
      for (const shortcut of residual ? (['A', 'B', 'C'] as const) : (['B'] as const)) {
        for (const batch_norm of [true, false]) {
          for (const widen_factor of [1, 2]) {
            const extras: ModelConfigInput[] = [{}];
            if (block === 'preact') extras.push({dropout: 0.3});
            if (block === 'bottleneck') extras.push({cardinality: 4, base_width: 8});
            if (batch_norm && residual) extras.push({zero_init_residual: true});
            for (const extra of extras) {
              const cfg: ModelConfigInput = {family: 'cifar', block, depth: depths[block], residual, shortcut, batch_norm, widen_factor, ...extra};
              try {
                networkLayout(resolveModelSpec(cfg), 3, 10);
              } catch {
                continue; // a combination ablate refuses (e.g. option A where channels would shrink)
              }
              out.push({label: JSON.stringify(cfg), cfg, input, classes: 10});
            }
          }
        }
      }
    }
  }
  for (const block of ['basic', 'bottleneck'] as const) {
    for (const batch_norm of [true, false]) {
      const cfg: ModelConfigInput = {family: 'imagenet', block, depth: block === 'basic' ? 18 : 50, widen_factor: 0.25, batch_norm};
      out.push({label: JSON.stringify(cfg), cfg, input: {height: 32, width: 32, channels: 3}, classes: 7});
    }
  }
  return out;
}

function torchCounts(cases: Case[]) {
  const payload = {
    cases: cases.map((c) => ({layout: networkLayout(resolveModelSpec(c.cfg), c.input.channels, c.classes), input: [c.input.height, c.input.width, c.input.channels]})),
  };
  return runPython('ablate_torch.count', payload) as {params: number; macs: number; tensors: [string, number[]][]}[];
}

test('every preset: torch parameters and MACs (forward hooks) equal ablate accounting, e.g. ResNet-50 25,557,032 / 4,089,184,256', {skip: NO_TORCH}, () => {
  const cases = presetCases();
  assert.ok(cases.length >= 25, `presets: ${cases.length}`);
  const counted = torchCounts(cases);
  cases.forEach((c, i) => {
    const ours = accountModel(resolveModelSpec(c.cfg), c.input, c.classes);
    assert.deepEqual({params: counted[i].params, macs: counted[i].macs}, ours, c.label);
  });
  const r50 = counted[cases.findIndex((c) => c.label === 'resnet50')];
  assert.deepEqual([r50.params, r50.macs], [25_557_032, 4_089_184_256]);
});

test('every axis: torch parameters, MACs and checkpoint tensors equal the TypeScript builder', {skip: NO_TORCH}, async () => {
  await useCpuBackend();
  const cases = axisCases();
  assert.ok(cases.length >= 60, `axis cases: ${cases.length}`);
  const counted = torchCounts(cases);
  cases.forEach((c, i) => {
    const spec = resolveModelSpec(c.cfg);
    assert.deepEqual({params: counted[i].params, macs: counted[i].macs}, accountModel(spec, c.input, c.classes), c.label);
    const model = buildModel(spec, c.input, c.classes, {seed: 1});
    const ours = new Map<string, number[]>();
    for (const [k, v] of model.trainable) ours.set(`param/${k}`, v.shape);
    for (const [k, v] of model.state) ours.set(`state/${k}`, v.shape);
    model.dispose();
    assert.deepEqual(new Map(counted[i].tensors.map(([k, s]) => [k, s])), ours, c.label);
  });
});
