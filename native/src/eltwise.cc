// Element-wise kernels that tfjs-cpu runs single-threaded in JavaScript and that a ResNet training
// step runs over every activation: ReLU, its gradient, a residual sum with its ReLU, and the sum of
// same-shape tensors (gradient accumulation). Memory-bound, so the win is the slot's threads and one pass.
#include "context.h"
#include "relu.h"
#include "simd.h"

namespace ablate {

namespace {

size_t lengthArg(const Napi::CallbackInfo& info, size_t index) {
  double n = info[index].As<Napi::Number>().DoubleValue();
  if (n < 0) throw Napi::RangeError::New(info.Env(), "length must be >= 0");
  return static_cast<size_t>(n);
}

// Below this many elements the OpenMP fork/join costs more than it saves.
constexpr long kParallelMin = 1 << 15;

// Elements [0, len) in one contiguous range per thread (one range below kParallelMin).
template <typename Range>
void forRanges(long len, int threads, Range range) {
  const long parts = len >= kParallelMin ? threads : 1;
  forBands(len, parts, parts > 1, [&](int64_t from, int64_t to) { range(long(from), long(to)); });
}

ABLATE_CLONES void reluRange(const float* __restrict x, float* __restrict y, long from, long to) {
#pragma omp simd
  for (long i = from; i < to; ++i) y[i] = relu(x[i]);
}

ABLATE_CLONES void reluGradRange(const float* __restrict dy, const float* __restrict y, float* __restrict dx, long from,
                                 long to) {
#pragma omp simd
  for (long i = from; i < to; ++i) dx[i] = gated(dy[i], y[i]);
}

ABLATE_CLONES void addReluRange(const float* __restrict a, const float* __restrict b, float* __restrict out, long from,
                                long to) {
#pragma omp simd
  for (long i = from; i < to; ++i) out[i] = relu(a[i] + b[i]);
}

// out = in[0] + in[1] + ... + in[k-1], summed in that order for every element; in blocks that stay in the
// L1 cache while the inputs are added one by one.
ABLATE_CLONES void addNRange(const float* const* in, uint32_t k, float* __restrict out, long from, long to) {
  constexpr long kBlock = 2048;
  for (long b0 = from; b0 < to; b0 += kBlock) {
    const long b1 = b0 + kBlock < to ? b0 + kBlock : to;
    const float* __restrict first = in[0];
#pragma omp simd
    for (long i = b0; i < b1; ++i) out[i] = first[i];
    for (uint32_t j = 1; j < k; ++j) {
      const float* __restrict src = in[j];
#pragma omp simd
      for (long i = b0; i < b1; ++i) out[i] += src[i];
    }
  }
}

ABLATE_CLONES void sgdRange(const float* __restrict w, const float* __restrict v, const float* __restrict g, float lr,
                            float m, float wd, bool nesterov, float* __restrict wOut, float* __restrict vOut, long from,
                            long to) {
#pragma omp simd
  for (long i = from; i < to; ++i) {
    const float gi = g[i] + wd * w[i];
    const float vi = m * v[i] + gi;
    vOut[i] = vi;
    wOut[i] = w[i] - lr * (nesterov ? gi + m * vi : vi);
  }
}

}  // namespace

// relu(x, y, n)
Napi::Value Relu(Context& ctx, const Napi::CallbackInfo& info) {
  const size_t n = lengthArg(info, 2);
  const float* x = f32Arg(info, 0, n, "x");
  float* y = f32Arg(info, 1, n, "y");
  forRanges(static_cast<long>(n), ctx.threads, [&](long from, long to) { reluRange(x, y, from, to); });
  return info.Env().Undefined();
}

// reluGrad(dy, y, dx, n): dx = dy where the ReLU passed its input (y > 0), else 0.
Napi::Value ReluGrad(Context& ctx, const Napi::CallbackInfo& info) {
  const size_t n = lengthArg(info, 3);
  const float* dy = f32Arg(info, 0, n, "dy");
  const float* y = f32Arg(info, 1, n, "y");
  float* dx = f32Arg(info, 2, n, "dx");
  forRanges(static_cast<long>(n), ctx.threads, [&](long from, long to) { reluGradRange(dy, y, dx, from, to); });
  return info.Env().Undefined();
}

// addRelu(a, b, out, n): out = max(0, a + b), a residual block's sum and the ReLU after it in one pass.
Napi::Value AddRelu(Context& ctx, const Napi::CallbackInfo& info) {
  const size_t n = lengthArg(info, 3);
  const float* a = f32Arg(info, 0, n, "a");
  const float* b = f32Arg(info, 1, n, "b");
  float* out = f32Arg(info, 2, n, "out");
  forRanges(static_cast<long>(n), ctx.threads, [&](long from, long to) { addReluRange(a, b, out, from, to); });
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
  forRanges(static_cast<long>(n), ctx.threads, [&](long from, long to) { addNRange(in.data(), k, out, from, to); });
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
  forRanges(static_cast<long>(n), ctx.threads,
            [&](long from, long to) { sgdRange(w, v, g, lr, m, wd, nesterov, wOut, vOut, from, to); });
  return info.Env().Undefined();
}

}  // namespace ablate
