/**
 * SGD with momentum and L2 weight decay, with PyTorch's semantics (the reference the papers' numbers are
 * reproduced with). The update itself is an engine op (engine/ops.sgdUpdate: one native pass per variable on
 * the native engine); this class owns the momentum buffers.
 */
import * as tf from '@tensorflow/tfjs-core';
import {sgdUpdate} from '../engine/ops';

export interface SgdOptions {
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

export class Sgd {
  /** Momentum buffers keyed like the model's trainable variables (checkpointed with them). */
  readonly velocity = new Map<string, tf.Variable>();

  constructor(
    private readonly vars: Map<string, tf.Variable>,
    private readonly opts: SgdOptions,
  ) {
    for (const [name, v] of vars) this.velocity.set(name, tf.variable(tf.zerosLike(v), false));
  }

  /** Apply one update with the given gradients (keyed by variable name). */
  step(grads: Map<string, tf.Tensor>, lr: number): void {
    const step = {lr, ...this.opts};
    tf.tidy(() => {
      for (const [name, w] of this.vars) {
        const g = grads.get(name);
        if (!g) continue;
        const buf = this.velocity.get(name)!;
        const next = sgdUpdate(w, buf, g, step);
        w.assign(next.w);
        if (step.momentum > 0) buf.assign(next.velocity);
      }
    });
  }

  dispose(): void {
    for (const v of this.velocity.values()) v.dispose();
  }
}
