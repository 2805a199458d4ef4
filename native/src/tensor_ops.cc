// Data movement and element-wise kernels that tfjs-cpu runs in JavaScript element by element through
// generic index arithmetic (slices across channels, padding, broadcasting arithmetic, reductions). In
// a ResNet step these come from option-A shortcuts, global average pooling, bias and batch-norm style
// broadcasts and their gradients. The JavaScript side collapses shapes before calling (adjacent
// dimensions that broadcast alike are merged), so these loops see few, long rows.
#include "context.h"
#include "simd.h"

#include <algorithm>
#include <vector>

namespace ablate {

namespace {

constexpr int kMaxRank = 8;
constexpr long kParallelMin = 1 << 15;

std::vector<int64_t> dimsArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = info[index];
  if (!v.IsArray()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be an array");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > kMaxRank) throw Napi::RangeError::New(info.Env(), std::string(name) + ": rank above 8");
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out[i] = a.Get(i).As<Napi::Number>().Int64Value();
  return out;
}

int64_t product(const std::vector<int64_t>& v, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= v[i];
  return p;
}

// Offset of row `row` (an index over all but the last dimension of `shape`) under `strides`.
inline int64_t rowOffset(int64_t row, const int64_t* shape, const int64_t* strides, int rank) {
  int64_t off = 0;
  for (int d = rank - 2; d >= 0; --d) {
    const int64_t i = row % shape[d];
    row /= shape[d];
    off += i * strides[d];
  }
  return off;
}

}  // namespace

// copyBlock(src, srcShape, srcBegin, dst, dstShape, dstBegin, size): copies the box `size` at srcBegin of
// src into dst at dstBegin (both row-major). Slice is a copy at (begin -> 0); pad a copy at (0 -> before).
Napi::Value CopyBlock(Context& ctx, const Napi::CallbackInfo& info) {
  const auto srcShape = dimsArg(info, 1, "srcShape"), srcBegin = dimsArg(info, 2, "srcBegin");
  const auto dstShape = dimsArg(info, 4, "dstShape"), dstBegin = dimsArg(info, 5, "dstBegin");
  const auto size = dimsArg(info, 6, "size");
  const int rank = static_cast<int>(size.size());
  if (srcShape.size() != size.size() || srcBegin.size() != size.size() || dstShape.size() != size.size() ||
      dstBegin.size() != size.size() || rank < 1) {
    throw Napi::RangeError::New(info.Env(), "copyBlock: ranks differ");
  }
  for (int d = 0; d < rank; ++d) {
    if (srcBegin[d] < 0 || dstBegin[d] < 0 || size[d] < 0 || srcBegin[d] + size[d] > srcShape[d] ||
        dstBegin[d] + size[d] > dstShape[d]) {
      throw Napi::RangeError::New(info.Env(), "copyBlock: box outside the tensors");
    }
  }
  const float* src = f32Arg(info, 0, product(srcShape, 0, rank), "src");
  float* dst = f32Arg(info, 3, product(dstShape, 0, rank), "dst");
  int64_t sStr[kMaxRank], dStr[kMaxRank], box[kMaxRank];
  sStr[rank - 1] = dStr[rank - 1] = 1;
  for (int d = rank - 2; d >= 0; --d) {
    sStr[d] = sStr[d + 1] * srcShape[d + 1];
    dStr[d] = dStr[d + 1] * dstShape[d + 1];
  }
  int64_t sBase = 0, dBase = 0;
  for (int d = 0; d < rank; ++d) {
    sBase += srcBegin[d] * sStr[d];
    dBase += dstBegin[d] * dStr[d];
    box[d] = size[d];
  }
  const int64_t rows = product(size, 0, rank - 1), len = size[rank - 1];
  if (rows == 0 || len == 0) return info.Env().Undefined();
#pragma omp parallel for schedule(static) if (rows * len >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + sBase + rowOffset(r, box, sStr, rank);
    float* t = dst + dBase + rowOffset(r, box, dStr, rank);
    std::memcpy(t, s, size_t(len) * sizeof(float));
  }
  return info.Env().Undefined();
}

// fill(dst, value, n)
Napi::Value Fill(Context& ctx, const Napi::CallbackInfo& info) {
  const size_t n = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
  float* dst = f32Arg(info, 0, n, "dst");
  const float v = info[1].As<Napi::Number>().FloatValue();
  const long len = static_cast<long>(n);
#pragma omp parallel for schedule(static) if (len >= kParallelMin)
  for (long i = 0; i < len; ++i) dst[i] = v;
  return info.Env().Undefined();
}

namespace {

enum BinaryOp { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3 };

template <int Op>
inline float apply(float a, float b) {
  if (Op == kAdd) return a + b;
  if (Op == kSub) return a - b;
  if (Op == kMul) return a * b;
  return a / b;
}

// One output row: the inner strides of a and b are each 0 (broadcast) or 1, made compile-time so the
// compiler vectorises the common cases.
template <int Op, int SA, int SB>
ABLATE_CLONES void row(const float* __restrict a, const float* __restrict b, float* __restrict o, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) o[i] = apply<Op>(a[i * SA], b[i * SB]);
}

template <int Op>
void binary(const float* a, const int64_t* sa, const float* b, const int64_t* sb, float* out, const int64_t* shape,
            int rank) {
  const int64_t len = shape[rank - 1];
  int64_t rows = 1;
  for (int d = 0; d < rank - 1; ++d) rows *= shape[d];
  const int64_t ia = sa[rank - 1], ib = sb[rank - 1];
  auto kernel = ia ? (ib ? row<Op, 1, 1> : row<Op, 1, 0>) : (ib ? row<Op, 0, 1> : row<Op, 0, 0>);
  if (rows == 1) {
    // One long row (same-shape or scalar operands): split it between the threads.
    const int64_t chunk = 1 << 14, chunks = (len + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (len >= kParallelMin)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t s = c * chunk, n = std::min(chunk, len - s);
      kernel(a + s * ia, b + s * ib, out + s, n);
    }
    return;
  }
#pragma omp parallel for schedule(static) if (rows * len >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    kernel(a + rowOffset(r, shape, sa, rank), b + rowOffset(r, shape, sb, rank), out + r * len, len);
  }
}

}  // namespace

// binary(op, a, aStrides, b, bStrides, out, outShape): out = a (op) b with broadcasting expressed as
// per-dimension element strides into a and b (0 where that operand broadcasts).
Napi::Value Binary(Context& ctx, const Napi::CallbackInfo& info) {
  const int op = info[0].As<Napi::Number>().Int32Value();
  const auto sa = dimsArg(info, 2, "aStrides"), sb = dimsArg(info, 4, "bStrides"), shape = dimsArg(info, 6, "outShape");
  const int rank = static_cast<int>(shape.size());
  if (rank < 1 || sa.size() != shape.size() || sb.size() != shape.size()) {
    throw Napi::RangeError::New(info.Env(), "binary: ranks differ");
  }
  for (int d = 0; d < rank; ++d) {
    if ((d == rank - 1 && (sa[d] > 1 || sb[d] > 1)) || sa[d] < 0 || sb[d] < 0) {
      throw Napi::RangeError::New(info.Env(), "binary: bad strides");
    }
  }
  int64_t aN = 1, bN = 1;
  for (int d = 0; d < rank; ++d) {
    aN += (shape[d] - 1) * sa[d];
    bN += (shape[d] - 1) * sb[d];
  }
  const float* a = f32Arg(info, 1, aN, "a");
  const float* b = f32Arg(info, 3, bN, "b");
  float* out = f32Arg(info, 5, product(shape, 0, rank), "out");
  switch (op) {
    case kAdd: binary<kAdd>(a, sa.data(), b, sb.data(), out, shape.data(), rank); break;
    case kSub: binary<kSub>(a, sa.data(), b, sb.data(), out, shape.data(), rank); break;
    case kMul: binary<kMul>(a, sa.data(), b, sb.data(), out, shape.data(), rank); break;
    case kDiv: binary<kDiv>(a, sa.data(), b, sb.data(), out, shape.data(), rank); break;
    default: throw Napi::RangeError::New(info.Env(), "binary: unknown op");
  }
  return info.Env().Undefined();
}

// reduceSum(x, outer, reduce, inner, out, scale): out[o, i] = scale * sum_r x[o, r, i].
Napi::Value ReduceSum(Context& ctx, const Napi::CallbackInfo& info) {
  const int64_t outer = info[1].As<Napi::Number>().Int64Value();
  const int64_t red = info[2].As<Napi::Number>().Int64Value();
  const int64_t inner = info[3].As<Napi::Number>().Int64Value();
  const float scale = info[5].As<Napi::Number>().FloatValue();
  if (outer < 0 || red < 0 || inner < 0) throw Napi::RangeError::New(info.Env(), "reduceSum: negative size");
  const float* x = f32Arg(info, 0, size_t(outer * red * inner), "x");
  float* out = f32Arg(info, 4, size_t(outer * inner), "out");
  if (inner == 1) {
    // Sums along contiguous rows, in double as tfjs does (its JavaScript accumulator is a double).
#pragma omp parallel for schedule(static) if (outer * red >= kParallelMin)
    for (int64_t o = 0; o < outer; ++o) {
      const float* p = x + o * red;
      double s = 0;
      for (int64_t r = 0; r < red; ++r) s += p[r];
      out[o] = static_cast<float>(s * scale);
    }
    return info.Env().Undefined();
  }
  // Which path runs depends on the sizes alone, never on the thread count, so results do not either.
  if (outer >= 8) {
#pragma omp parallel for schedule(static) num_threads(ctx.threads) if (outer * red * inner >= kParallelMin)
    for (int64_t o = 0; o < outer; ++o) {
      std::vector<double> acc(inner, 0.0);
      const float* p = x + o * red * inner;
      for (int64_t r = 0; r < red; ++r, p += inner) {
        for (int64_t i = 0; i < inner; ++i) acc[i] += p[i];
      }
      for (int64_t i = 0; i < inner; ++i) out[o * inner + i] = static_cast<float>(acc[i] * scale);
    }
    return info.Env().Undefined();
  }
  // Few outer rows (e.g. a per-channel sum over N*H*W): the reduced axis is cut into a fixed number of
  // bands, summed in parallel and combined in band order, so the result does not depend on the thread count.
  constexpr int64_t kParts = 64;
  const bool parallel = outer * red * inner >= kParallelMin;
  const int64_t parts = parallel ? std::min<int64_t>(kParts, std::max<int64_t>(red, 1)) : 1;
  std::vector<double> partial(size_t(parts) * inner, 0.0);
  for (int64_t o = 0; o < outer; ++o) {
    std::fill(partial.begin(), partial.end(), 0.0);
#pragma omp parallel for schedule(static) num_threads(ctx.threads) if (parallel)
    for (int64_t t = 0; t < parts; ++t) {
      const int64_t from = red * t / parts, to = red * (t + 1) / parts;
      double* acc = partial.data() + size_t(t) * inner;
      const float* p = x + (o * red + from) * inner;
      for (int64_t r = from; r < to; ++r, p += inner) {
        for (int64_t i = 0; i < inner; ++i) acc[i] += p[i];
      }
    }
    for (int64_t i = 0; i < inner; ++i) {
      double s = 0;
      for (int64_t t = 0; t < parts; ++t) s += partial[size_t(t) * inner + i];
      out[o * inner + i] = static_cast<float>(s * scale);
    }
  }
  return info.Env().Undefined();
}

// matMul(a, b, out, batch, aBatched, bBatched, m, n, k, transposeA, transposeB):
//   out[i] = op(a[i]) x op(b[i]) for i < batch, every matrix row-major; op(a) is a^T with transposeA
//   (a[i] is then k x m), and likewise for b. An operand that is not batched is shared by all i.
// oneDNN's sgemm (its JIT GEMM kernels), with the context's threads.
Napi::Value MatMul(Context& ctx, const Napi::CallbackInfo& info) {
  auto dim = [&](size_t i) {
    const int64_t v = info[i].As<Napi::Number>().Int64Value();
    if (v < 0) throw Napi::RangeError::New(info.Env(), "matMul: negative size");
    return v;
  };
  const int64_t batch = dim(3), m = dim(6), n = dim(7), k = dim(8);
  const bool aBatched = info[4].ToBoolean().Value(), bBatched = info[5].ToBoolean().Value();
  const bool ta = info[9].ToBoolean().Value(), tb = info[10].ToBoolean().Value();
  const float* a = f32Arg(info, 0, size_t((aBatched ? batch : 1) * m * k), "a");
  const float* b = f32Arg(info, 1, size_t((bBatched ? batch : 1) * k * n), "b");
  float* out = f32Arg(info, 2, size_t(batch * m * n), "out");
  if (batch * m * n == 0) return info.Env().Undefined();
  if (k == 0) {
    std::fill(out, out + batch * m * n, 0.f);
    return info.Env().Undefined();
  }
  // The first GEMM of a process builds its JIT kernels (see firstUseMutex).
  std::unique_lock<std::mutex> firstUse(firstUseMutex(), std::defer_lock);
  if (!ctx.gemmUsed) firstUse.lock();
  for (int64_t i = 0; i < batch; ++i) {
    const dnnl::status s = dnnl::sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.f, a + (aBatched ? i * m * k : 0),
                                       ta ? m : k, b + (bBatched ? i * k * n : 0), tb ? k : n, 0.f, out + i * m * n, n);
    if (s != dnnl::status::success) throw dnnl::error(static_cast<dnnl_status_t>(s), "sgemm");
  }
  ctx.gemmUsed = true;
  return info.Env().Undefined();
}

}  // namespace ablate
