// Element-wise kernels that tfjs-cpu runs single-threaded in JavaScript and that a ResNet training
// step runs over every activation: ReLU, its gradient, a residual sum with its ReLU, and the sum of
// same-shape tensors (gradient accumulation). Memory-bound, so the win is the slot's threads and one pass.
#include "context.h"
#include "relu.h"

namespace ablate {

namespace {

size_t lengthArg(const Napi::CallbackInfo& info, size_t index) {
  double n = info[index].As<Napi::Number>().DoubleValue();
  if (n < 0) throw Napi::RangeError::New(info.Env(), "length must be >= 0");
  return static_cast<size_t>(n);
}

// Below this many elements the OpenMP fork/join costs more than it saves.
constexpr long kParallelMin = 1 << 15;

}  // namespace

// relu(x, y, n)
Napi::Value Relu(Context& ctx, const Napi::CallbackInfo& info) {
  const size_t n = lengthArg(info, 2);
  const float* x = f32Arg(info, 0, n, "x");
  float* y = f32Arg(info, 1, n, "y");
  const long len = static_cast<long>(n);
#pragma omp parallel for schedule(static) if (len >= kParallelMin)
  for (long i = 0; i < len; ++i) y[i] = relu(x[i]);
  return info.Env().Undefined();
}

// reluGrad(dy, y, dx, n): dx = dy where the ReLU passed its input (y > 0), else 0.
Napi::Value ReluGrad(Context& ctx, const Napi::CallbackInfo& info) {
  const size_t n = lengthArg(info, 3);
  const float* dy = f32Arg(info, 0, n, "dy");
  const float* y = f32Arg(info, 1, n, "y");
  float* dx = f32Arg(info, 2, n, "dx");
  const long len = static_cast<long>(n);
#pragma omp parallel for schedule(static) if (len >= kParallelMin)
  for (long i = 0; i < len; ++i) dx[i] = gated(dy[i], y[i]);
  return info.Env().Undefined();
}

// addRelu(a, b, out, n): out = max(0, a + b), a residual block's sum and the ReLU after it in one pass.
Napi::Value AddRelu(Context& ctx, const Napi::CallbackInfo& info) {
  const size_t n = lengthArg(info, 3);
  const float* a = f32Arg(info, 0, n, "a");
  const float* b = f32Arg(info, 1, n, "b");
  float* out = f32Arg(info, 2, n, "out");
  const long len = static_cast<long>(n);
#pragma omp parallel for schedule(static) if (len >= kParallelMin)
  for (long i = 0; i < len; ++i) out[i] = relu(a[i] + b[i]);
  return info.Env().Undefined();
}

// addN([a, b, ...], out, n): out = a + b + ...
Napi::Value AddN(Context& ctx, const Napi::CallbackInfo& info) {
  const size_t n = lengthArg(info, 2);
  Napi::Array list = info[0].As<Napi::Array>();
  const uint32_t k = list.Length();
  if (k < 1) throw Napi::RangeError::New(info.Env(), "addN needs at least one input");
  std::vector<const float*> in(k);
  for (uint32_t j = 0; j < k; ++j) {
    Napi::Value v = list.Get(j);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
        v.As<Napi::Float32Array>().ElementLength() < n) {
      throw Napi::TypeError::New(info.Env(), "addN inputs must be Float32Arrays of the output's length");
    }
    in[j] = v.As<Napi::Float32Array>().Data();
  }
  float* out = f32Arg(info, 1, n, "out");
  const long len = static_cast<long>(n);
  const float* const* src = in.data();
#pragma omp parallel for schedule(static) if (len >= kParallelMin)
  for (long i = 0; i < len; ++i) {
    float s = src[0][i];
    for (uint32_t j = 1; j < k; ++j) s += src[j][i];
    out[i] = s;
  }
  return info.Env().Undefined();
}

// sgdUpdate(w, v, g, n, lr, momentum, weightDecay, nesterov, wOut, vOut): one SGD step with PyTorch's
// semantics (see src/engine/ops.ts): g' = g + wd * w; v' = m * v + g'; w' = w - lr * (nesterov ? g' + m * v' : v').
Napi::Value SgdUpdate(Context& ctx, const Napi::CallbackInfo& info) {
  const size_t n = lengthArg(info, 3);
  const float* w = f32Arg(info, 0, n, "w");
  const float* v = f32Arg(info, 1, n, "velocity");
  const float* g = f32Arg(info, 2, n, "grad");
  const float lr = info[4].As<Napi::Number>().FloatValue();
  const float m = info[5].As<Napi::Number>().FloatValue();
  const float wd = info[6].As<Napi::Number>().FloatValue();
  const bool nesterov = info[7].ToBoolean().Value();
  float* wOut = f32Arg(info, 8, n, "wOut");
  float* vOut = f32Arg(info, 9, n, "velocityOut");
  const long len = static_cast<long>(n);
#pragma omp parallel for schedule(static) if (len >= kParallelMin)
  for (long i = 0; i < len; ++i) {
    const float gi = g[i] + wd * w[i];
    const float vi = m * v[i] + gi;
    vOut[i] = vi;
    wOut[i] = w[i] - lr * (nesterov ? gi + m * vi : vi);
  }
  return info.Env().Undefined();
}

}  // namespace ablate
