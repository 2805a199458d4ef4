/**
 * The contract between the model builder and the rest of ablate (trainer, checkpoints, plan).
 * The builder itself (spec, presets, blocks, accounting) lives beside this file.
 */
import type * as tf from '@tensorflow/tfjs-core';

export interface InputShape {
  height: number;
  width: number;
  channels: number;
}

export interface ApplyOptions {
  /** Training mode: batch statistics in BN (and running averages updated), dropout active. */
  training: boolean;
  /** Seed for this step's dropout masks (deterministic from trial seed, epoch and step). */
  seed?: number;
}

export interface Model {
  /** Trainable variables keyed by deterministic names (`stage2.block3.conv1.weight`), in build order. */
  trainable: Map<string, tf.Variable>;
  /** Non-trainable state (BN running mean / variance), keyed the same way. */
  state: Map<string, tf.Variable>;
  /** Logits [batch, classes] for an NHWC batch. */
  apply(x: tf.Tensor4D, opts: ApplyOptions): tf.Tensor2D;
  dispose(): void;
}
