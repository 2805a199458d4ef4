// The ReLU and its gradient as every kernel that applies one computes them.
#pragma once

namespace ablate {

// ReLU as tfjs' Math.max(0, v): NaN propagates (a diverged run must show NaN), -0 becomes +0.
inline float relu(float v) { return v > 0.f ? v : (v != v ? v : 0.f); }

// The gradient a ReLU passes back given its output y: dy where y > 0, else 0; NaN where y is NaN. Both
// operands are read unconditionally so that the selects vectorise (a branch on the sign of activations
// is mispredicted half the time).
inline float gated(float dy, float y) {
  const float d = y > 0.f ? dy : 0.f;
  return y != y ? y : d;
}

}  // namespace ablate
