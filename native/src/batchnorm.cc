// Training batch normalisation (Ioffe & Szegedy 2015, Algorithm 1 and its gradient) on NHWC
// activations: one pass for the statistics and one to normalise, forward; one reduction and one pass for
// dx, backward. The variance is the biased batch variance, as the paper normalises with.
//
// Written with plain OpenMP loops rather than oneDNN's batch-norm primitive: that primitive
// synchronises its threads with spin barriers inside the kernel, and on a machine where other
// processes compete for the cores a descheduled thread stalls its partner for a whole time slice
// (a 2M-element forward pass took 10-40 ms instead of 1). Reductions accumulate in double.
#include "context.h"
#include "relu.h"
#include "simd.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ablate {

namespace {

struct Shape {
  int64_t rows;  // N * H * W
  int64_t c;
};

Shape shapeArg(const Napi::CallbackInfo& info) {
  const int32_t* p = i32Arg(info, 0, 4, "params");
  for (int i = 0; i < 4; ++i) {
    if (p[i] < 1) throw Napi::RangeError::New(info.Env(), "batch norm: every dimension must be >= 1");
  }
  return {int64_t(p[0]) * p[1] * p[2], p[3]};
}

constexpr int64_t kParallelMin = 1 << 14;

// Rows are summed in kParts fixed bands whose partial sums are combined in band order, whatever the
// number of threads that run them: the result depends on the data alone, never on the thread count or
// on how many threads the OpenMP runtime actually grants.
constexpr int64_t kParts = 64;

// Per-channel sums over rows [from, to) of a and of a * (b - center), or of (a - center)^2 without
// Product, added to sa and sp. Float partial sums over blocks of rows keep the inner loop vectorised; the
// blocks feed the doubles. fa and fp are scratch of c floats.
//
// With Gate (`gate` is the output of a ReLU fused after the batch norm), a is read as the ReLU's gradient:
// a where gate > 0, else 0 (NaN where gate is NaN, as the separate ReLU gradient gives).
template <bool Gate, bool Product>
ABLATE_CLONES void sumBand(const float* __restrict a, const float* __restrict b, const float* __restrict cen,
                           const float* __restrict gate, int64_t from, int64_t to, int64_t c, float* __restrict fa,
                           float* __restrict fp, double* __restrict sa, double* __restrict sp) {
  constexpr int64_t kBlock = 32;
  for (int64_t r0 = from; r0 < to; r0 += kBlock) {
    const int64_t r1 = std::min(to, r0 + kBlock);
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) {
      fa[k] = 0.f;
      fp[k] = 0.f;
    }
    for (int64_t r = r0; r < r1; ++r) {
      const float* __restrict pa = a + r * c;
      const float* __restrict pb = Product ? b + r * c : nullptr;
      const float* __restrict pg = Gate ? gate + r * c : nullptr;
#pragma omp simd
      for (int64_t k = 0; k < c; ++k) {
        const float v = Gate ? gated(pa[k], pg[k]) : pa[k];
        const float d = Product ? pb[k] - cen[k] : v - cen[k];
        fa[k] += v;
        fp[k] += Product ? v * d : d * d;
      }
    }
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) {
      sa[k] += fa[k];
      sp[k] += fp[k];
    }
  }
}

// Per-channel sums over all rows of a and of a * (b - center), or of (a - center)^2 when b is null.
// Centering on the mean avoids the cancellation of E[x^2] - E[x]^2 when a channel varies little.
template <bool Gate, bool Product>
void channelSumsImpl(const float* a, const float* b, const float* center, const float* gate, int64_t rows, int64_t c,
                     int threads, std::vector<double>& sumA, std::vector<double>& sumProd) {
  const bool parallel = rows * c >= kParallelMin;
  const int64_t parts = parallel ? std::min<int64_t>(kParts, rows) : 1;
  std::vector<double> part(size_t(parts) * c * 2, 0.0);
#pragma omp parallel num_threads(threads) if (parallel)
  {
    std::vector<float> bufA(c), bufP(c);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < parts; ++t) {
      double* sa = part.data() + size_t(t) * c * 2;
      sumBand<Gate, Product>(a, b, center, gate, rows * t / parts, rows * (t + 1) / parts, c, bufA.data(), bufP.data(),
                             sa, sa + c);
    }
  }
  sumA.assign(c, 0.0);
  sumProd.assign(c, 0.0);
  for (int64_t t = 0; t < parts; ++t) {
    const double* sa = part.data() + size_t(t) * c * 2;
    for (int64_t k = 0; k < c; ++k) {
      sumA[k] += sa[k];
      sumProd[k] += sa[c + k];
    }
  }
}

void channelSums(const float* a, const float* b, const float* center, const float* gate, int64_t rows, int64_t c,
                 int threads, std::vector<double>& sumA, std::vector<double>& sumProd) {
  if (gate) {
    if (b) {
      channelSumsImpl<true, true>(a, b, center, gate, rows, c, threads, sumA, sumProd);
    } else {
      channelSumsImpl<true, false>(a, nullptr, center, gate, rows, c, threads, sumA, sumProd);
    }
  } else if (b) {
    channelSumsImpl<false, true>(a, b, center, nullptr, rows, c, threads, sumA, sumProd);
  } else {
    channelSumsImpl<false, false>(a, nullptr, center, nullptr, rows, c, threads, sumA, sumProd);
  }
}

// out[r, k] = (a[r, k] - center[k]) * scale[k] + shift[k]
// Centering before scaling matters when a channel's mean is large against its spread: x * scale and
// mean * scale would then be large numbers whose difference loses the normalised value.
// With `residual`, a residual block's shortcut is added to the normalised value; with `withRelu`, a ReLU
// follows; all in the same pass (one write instead of up to three passes, and no intermediate tensor).
template <bool WithRelu, bool WithResidual>
ABLATE_CLONES void normaliseRows(const float* __restrict a, const float* __restrict center, const float* __restrict scale,
                                 const float* __restrict shift, const float* __restrict residual, float* __restrict out,
                                 int64_t from, int64_t to, int64_t c) {
  for (int64_t r = from; r < to; ++r) {
    const float* __restrict pa = a + r * c;
    const float* __restrict pr = WithResidual ? residual + r * c : nullptr;
    float* __restrict po = out + r * c;
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) {
      float v = (pa[k] - center[k]) * scale[k] + shift[k];
      if (WithResidual) v += pr[k];
      po[k] = WithRelu ? relu(v) : v;
    }
  }
}

template <bool WithRelu, bool WithResidual>
void normaliseImpl(const float* a, const float* center, const float* scale, const float* shift, const float* residual,
                   float* out, int64_t rows, int64_t c) {
  forBands(rows, std::min<int64_t>(kParts, rows), rows * c >= kParallelMin, [&](int64_t from, int64_t to) {
    normaliseRows<WithRelu, WithResidual>(a, center, scale, shift, residual, out, from, to, c);
  });
}

void normalise(const float* a, const float* center, const float* scale, const float* shift, float* out, int64_t rows,
               int64_t c, bool withRelu, const float* residual = nullptr) {
  if (residual) {
    if (withRelu) {
      normaliseImpl<true, true>(a, center, scale, shift, residual, out, rows, c);
    } else {
      normaliseImpl<false, true>(a, center, scale, shift, residual, out, rows, c);
    }
  } else if (withRelu) {
    normaliseImpl<true, false>(a, center, scale, shift, nullptr, out, rows, c);
  } else {
    normaliseImpl<false, false>(a, center, scale, shift, nullptr, out, rows, c);
  }
}

// dx[r, k] = scale[k] * ((dy[r, k] - dyMean[k]) - (x[r, k] - mean[k]) * proj[k])
// The differences come before the scaling by gamma / sigma, which is large for a channel of (nearly)
// constant values (1 / sqrt(eps) when the variance is 0): scaling first would leave a difference of two
// large rounded products.
// With `gate`, dy is first passed through the gradient of the fused ReLU (see gated()); with `dz` too, that
// gated gradient is also written out (a fused residual's gradient), in the same pass.
template <bool Gate, bool WriteGated>
ABLATE_CLONES void normaliseGradRows(const float* __restrict dy, const float* __restrict gate, const float* __restrict x,
                                     const float* __restrict dyMean, const float* __restrict mean,
                                     const float* __restrict proj, const float* __restrict scale, float* __restrict dx,
                                     float* __restrict dz, int64_t from, int64_t to, int64_t c) {
  for (int64_t r = from; r < to; ++r) {
    const float* __restrict pdy = dy + r * c;
    const float* __restrict pg = Gate ? gate + r * c : nullptr;
    const float* __restrict px = x + r * c;
    float* __restrict po = dx + r * c;
    float* __restrict pz = WriteGated ? dz + r * c : nullptr;
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) {
      const float g = Gate ? gated(pdy[k], pg[k]) : pdy[k];
      if (WriteGated) pz[k] = g;
      po[k] = scale[k] * ((g - dyMean[k]) - (px[k] - mean[k]) * proj[k]);
    }
  }
}

template <bool Gate, bool WriteGated>
void normaliseGradImpl(const float* dy, const float* gate, const float* x, const float* dyMean, const float* mean,
                       const float* proj, const float* scale, float* dx, float* dz, int64_t rows, int64_t c) {
  forBands(rows, std::min<int64_t>(kParts, rows), rows * c >= kParallelMin, [&](int64_t from, int64_t to) {
    normaliseGradRows<Gate, WriteGated>(dy, gate, x, dyMean, mean, proj, scale, dx, dz, from, to, c);
  });
}

void normaliseGrad(const float* dy, const float* gate, const float* x, const float* dyMean, const float* mean,
                   const float* proj, const float* scale, float* dx, float* dz, int64_t rows, int64_t c) {
  if (gate && dz) {
    normaliseGradImpl<true, true>(dy, gate, x, dyMean, mean, proj, scale, dx, dz, rows, c);
  } else if (gate) {
    normaliseGradImpl<true, false>(dy, gate, x, dyMean, mean, proj, scale, dx, nullptr, rows, c);
  } else {
    normaliseGradImpl<false, false>(dy, nullptr, x, dyMean, mean, proj, scale, dx, nullptr, rows, c);
  }
}

}  // namespace

// batchNormForward(params [N,H,W,C], x, gamma, beta, eps, y, mean, variance, relu?, residual?)
//   residual: y = batch norm of x + residual (a residual block's last batch norm and its shortcut)
//   relu: then y = max(0, y), the ReLU that follows most batch norms; all in the same pass
Napi::Value BatchNormForward(Context& ctx, const Napi::CallbackInfo& info) {
  const Shape s = shapeArg(info);
  const size_t n = size_t(s.rows * s.c);
  const float* x = f32Arg(info, 1, n, "x");
  const float* gamma = f32Arg(info, 2, s.c, "gamma");
  const float* beta = f32Arg(info, 3, s.c, "beta");
  const double eps = info[4].As<Napi::Number>().DoubleValue();
  float* y = f32Arg(info, 5, n, "y");
  float* mean = f32Arg(info, 6, s.c, "mean");
  float* var = f32Arg(info, 7, s.c, "variance");
  const bool withRelu = info.Length() > 8 && info[8].ToBoolean().Value();
  const float* residual = info.Length() > 9 && info[9].IsTypedArray() ? f32Arg(info, 9, n, "residual") : nullptr;

  // One pass for sum(x) and sum((x - K)^2) with K the first row: var = E[(x - K)^2] - (mean - K)^2. With K a
  // sample of the channel, mean - K is a few standard deviations at most, so the subtraction keeps its
  // precision even when the mean is large against the spread (where E[x^2] - E[x]^2 would not).
  std::vector<float> shiftK(x, x + s.c);
  std::vector<double> sum, sumSq;
  channelSums(x, nullptr, shiftK.data(), nullptr, s.rows, s.c, ctx.threads, sum, sumSq);
  std::vector<float> mu(s.c), scale(s.c), shift(s.c);
  for (int64_t k = 0; k < s.c; ++k) {
    const double m = sum[k] / s.rows;
    const double dk = m - shiftK[k];
    const double v = std::max(0.0, sumSq[k] / s.rows - dk * dk);
    const double inv = 1.0 / std::sqrt(v + eps);
    mu[k] = static_cast<float>(m);
    mean[k] = mu[k];
    var[k] = static_cast<float>(v);
    scale[k] = static_cast<float>(gamma[k] * inv);
    shift[k] = beta[k];
  }
  normalise(x, mu.data(), scale.data(), shift.data(), y, s.rows, s.c, withRelu, residual);
  return info.Env().Undefined();
}

// batchNormBackward(params [N,H,W,C], x, dy, gamma, mean, variance, eps, dx, dgamma, dbeta, y?, dz?)
//   y: the output of a batch norm with a fused ReLU; dy is then the gradient of the ReLU's output
//   dz (with y): receives the ReLU's input gradient, dy where y > 0: the gradient of a fused residual
//   dbeta = sum dy,  dgamma = sum dy * xhat,  dx = gamma / sigma * (dy - dbeta / M - xhat * dgamma / M)
//   with xhat = (x - mean) / sigma
Napi::Value BatchNormBackward(Context& ctx, const Napi::CallbackInfo& info) {
  const Shape s = shapeArg(info);
  const size_t n = size_t(s.rows * s.c);
  const float* x = f32Arg(info, 1, n, "x");
  const float* dy = f32Arg(info, 2, n, "dy");
  const float* gamma = f32Arg(info, 3, s.c, "gamma");
  const float* mean = f32Arg(info, 4, s.c, "mean");
  const float* var = f32Arg(info, 5, s.c, "variance");
  const double eps = info[6].As<Napi::Number>().DoubleValue();
  float* dx = f32Arg(info, 7, n, "dx");
  float* dgamma = f32Arg(info, 8, s.c, "dgamma");
  float* dbeta = f32Arg(info, 9, s.c, "dbeta");
  const float* gate = info.Length() > 10 && info[10].IsTypedArray() ? f32Arg(info, 10, n, "y") : nullptr;
  float* dz = gate && info.Length() > 11 && info[11].IsTypedArray() ? f32Arg(info, 11, n, "dz") : nullptr;

  std::vector<double> sumDy, sumDyXc;
  channelSums(dy, x, mean, gate, s.rows, s.c, ctx.threads, sumDy, sumDyXc);
  std::vector<float> scale(s.c), dyMean(s.c), proj(s.c);
  const double m = static_cast<double>(s.rows);
  for (int64_t k = 0; k < s.c; ++k) {
    const double inv = 1.0 / std::sqrt(static_cast<double>(var[k]) + eps);
    const double db = sumDy[k];
    const double dg = sumDyXc[k] * inv;  // sum dy * xhat
    dbeta[k] = static_cast<float>(db);
    dgamma[k] = static_cast<float>(dg);
    scale[k] = static_cast<float>(gamma[k] * inv);
    dyMean[k] = static_cast<float>(db / m);
    proj[k] = static_cast<float>(inv * dg / m);
  }
  normaliseGrad(dy, gate, x, dyMean.data(), mean, proj.data(), scale.data(), dx, dz, s.rows, s.c);
  return info.Env().Undefined();
}

// channelNormalise(x, rows, c, center, scale, shift, out): out[r, k] = (x[r, k] - center[k]) * scale[k] + shift[k]
// (batch norm with given statistics, as in inference).
Napi::Value ChannelNormalise(Context& ctx, const Napi::CallbackInfo& info) {
  const int64_t rows = info[1].As<Napi::Number>().Int64Value(), c = info[2].As<Napi::Number>().Int64Value();
  if (rows < 0 || c < 1) throw Napi::RangeError::New(info.Env(), "channelNormalise: bad shape");
  const float* x = f32Arg(info, 0, size_t(rows * c), "x");
  const float* center = f32Arg(info, 3, c, "center");
  const float* scale = f32Arg(info, 4, c, "scale");
  const float* shift = f32Arg(info, 5, c, "shift");
  float* out = f32Arg(info, 6, size_t(rows * c), "out");
  normalise(x, center, scale, shift, out, rows, c, false);
  return info.Env().Undefined();
}

}  // namespace ablate
