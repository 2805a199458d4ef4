/**
 * SGD with momentum and L2 weight decay, with PyTorch's semantics (the reference the papers' numbers
 * are reproduced with): g <- g + wd * w; v <- m * v + g; w <- w - lr * v (Nesterov: w - lr * (g + m * v)).
 */
import * as tf from '@tensorflow/tfjs-core';

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
    const {momentum, weightDecay, nesterov} = this.opts;
    tf.tidy(() => {
      for (const [name, w] of this.vars) {
        const g0 = grads.get(name);
        if (!g0) continue;
        const g = weightDecay > 0 ? tf.add(g0, tf.mul(w, weightDecay)) : g0;
        const buf = this.velocity.get(name)!;
        const v = momentum > 0 ? tf.add(tf.mul(buf, momentum), g) : g;
        if (momentum > 0) buf.assign(v);
        const update = nesterov ? tf.add(g, tf.mul(v, momentum)) : v;
        w.assign(tf.sub(w, tf.mul(update, lr)));
      }
    });
  }

  dispose(): void {
    for (const v of this.velocity.values()) v.dispose();
  }
}
