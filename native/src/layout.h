// Moving tensors between the layouts and types the convolutions need, without oneDNN's reorder
// primitive: it costs about 0.1-0.2 ms per call whatever the size (threads woken for microseconds of
// copying), and a ResNet-56 step would make some 220 weight reorders in fp32 and some 900 conversions
// and reorders in bf16.
#pragma once

#include <immintrin.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

namespace ablate {

// Copies the elements of a float tensor (a weights tensor: at most a few hundred thousand elements
// here) between two layouts that oneDNN memory descriptors describe (strided, with optional inner blocks
// such as ABcd16b16a), one thread walking per-dimension offset tables: microseconds. Offsets count
// elements, so a descriptor of another type gives its layout for a float buffer (a bf16 layout is
// filled in floats, then converted with toBf16). Padding in a blocked destination is never written: its
// buffer is zeroed once, when allocated.
class LayoutCopy {
 public:
  // Empty (`ok()` false) unless both descriptors are blocked with the same logical dimensions.
  LayoutCopy() = default;
  LayoutCopy(const dnnl::memory::desc& from, const dnnl::memory::desc& to) {
    const dnnl_memory_desc_t &a = from.data, &b = to.data;
    if (a.format_kind != dnnl_blocked || b.format_kind != dnnl_blocked || a.ndims != b.ndims || a.ndims < 1) return;
    for (int j = 0; j < a.ndims; ++j) {
      if (a.dims[j] != b.dims[j]) return;
      dims_.push_back(a.dims[j]);
    }
    src_ = tables(a);
    dst_ = tables(b);
    // The innermost loop runs over the dimension whose steps are shortest in both layouts (the output
    // channels of a weights tensor: contiguous in the tfjs filter and in oneDNN's 16-wide blocks), so that
    // loads and stores are sequential; any order copies the same elements.
    int inner = 0;
    int64_t best = INT64_MAX;
    for (int j = 0; j < a.ndims; ++j) {
      if (dims_[j] < 2) continue;
      const int64_t step = std::abs(src_[j][1] - src_[j][0]) + std::abs(dst_[j][1] - dst_[j][0]);
      if (step < best) best = step, inner = j;
    }
    std::swap(dims_[inner], dims_.back());
    std::swap(src_[inner], src_.back());
    std::swap(dst_[inner], dst_.back());
  }
  bool ok() const { return !dims_.empty(); }

  void run(const float* from, float* to) const {
    const int nd = static_cast<int>(dims_.size());
    const std::vector<int64_t>& inner = src_.back();
    const std::vector<int64_t>& innerDst = dst_.back();
    const int64_t n = dims_.back();
    std::vector<int64_t> idx(nd, 0);
    // Walks every index of the leading dimensions; the last dimension is the inner loop.
    while (true) {
      int64_t so = 0, dO = 0;
      for (int j = 0; j + 1 < nd; ++j) {
        so += src_[j][idx[j]];
        dO += dst_[j][idx[j]];
      }
      for (int64_t i = 0; i < n; ++i) to[dO + innerDst[i]] = from[so + inner[i]];
      int j = nd - 2;
      while (j >= 0 && ++idx[j] == dims_[j]) idx[j--] = 0;
      if (j < 0) break;
    }
  }

 private:
  // For each dimension, the offset contributed by each of its indices: the outer part times the
  // dimension's stride, plus its digits within the inner blocks (the innermost block holds the lowest).
  static std::vector<std::vector<int64_t>> tables(const dnnl_memory_desc_t& d) {
    const auto& blk = d.format_desc.blocking;
    std::vector<int64_t> innerStride(blk.inner_nblks, 1);
    for (int k = blk.inner_nblks - 2; k >= 0; --k) innerStride[k] = innerStride[k + 1] * blk.inner_blks[k + 1];
    std::vector<std::vector<int64_t>> out(d.ndims);
    for (int j = 0; j < d.ndims; ++j) {
      out[j].resize(d.dims[j]);
      for (int64_t i = 0; i < d.dims[j]; ++i) {
        int64_t rem = i, off = 0;
        for (int k = blk.inner_nblks - 1; k >= 0; --k) {
          if (blk.inner_idxs[k] != j) continue;
          off += (rem % blk.inner_blks[k]) * innerStride[k];
          rem /= blk.inner_blks[k];
        }
        out[j][i] = off + rem * blk.strides[j] + (j == 0 ? d.offset0 : 0);
      }
    }
    return out;
  }

  std::vector<int64_t> dims_;
  std::vector<std::vector<int64_t>> src_, dst_;
};

// Activations between NHWC (tfjs) and nChw16c (channels in blocks of 16, image by image: the layout oneDNN's
// Winograd convolutions read and write), one way or the other. `c` must be a multiple of 16; `hw` is
// height x width. Each pixel's 16-channel block is 64 contiguous bytes on both sides.
inline void copyBlocked16(const float* src, float* dst, int64_t n, int64_t hw, int64_t c, bool toBlocked, int threads) {
  const int64_t cb = c / 16;
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads) if (n * hw * c >= (int64_t(1) << 16))
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t b = 0; b < cb; ++b) {
      const int64_t nhwc = i * hw * c + b * 16, blocked = (i * cb + b) * hw * 16;
      for (int64_t p = 0; p < hw; ++p) {
        if (toBlocked) {
          std::memcpy(dst + blocked + p * 16, src + nhwc + p * c, 16 * sizeof(float));
        } else {
          std::memcpy(dst + nhwc + p * c, src + blocked + p * 16, 16 * sizeof(float));
        }
      }
    }
  }
}

// fp32 -> bf16, rounding to nearest even, as oneDNN's own conversions do on CPUs with AVX512-BF16
// (VCVTNEPS2BF16; callers use it only where the context runs bf16, which requires those instructions).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) inline void toBf16(const float* src, uint16_t* dst,
                                                                                   size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), reinterpret_cast<const __m256i&>(v));
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i));
    _mm256_mask_storeu_epi16(dst + i, m, reinterpret_cast<const __m256i&>(v));
  }
}

// The same over `threads` threads in equal contiguous shares (activations: millions of elements).
inline void toBf16(const float* src, uint16_t* dst, size_t n, int threads) {
  constexpr size_t kParallelMin = size_t(1) << 16;
  if (threads <= 1 || n < kParallelMin) return toBf16(src, dst, n);
#pragma omp parallel num_threads(threads)
  {
    const size_t t = omp_get_thread_num(), k = omp_get_num_threads();
    // Shares rounded to 16 elements, so that only the last one has a tail.
    const size_t from = (n * t / k) & ~size_t(15), to = t + 1 == k ? n : (n * (t + 1) / k) & ~size_t(15);
    toBf16(src + from, dst + from, to - from);
  }
}

}  // namespace ablate
