// Element-wise loops compiled for more than one instruction set and chosen by the CPU when the addon
// loads (target_clones: each function gets an AVX-512, an AVX2 and a baseline x86-64 body, and an ifunc
// resolver picks one). The addon is otherwise built for the baseline ISA, so that one build runs on any
// x86-64 machine, including the nodes of a cluster that share an install; oneDNN dispatches the same way.
//
// Every body rounds alike: the loops vectorise across independent elements (channels or positions) and
// never reorder a sum, and the build keeps multiplications and additions apart (-ffp-contract=off in
// binding.gyp), so results do not depend on which body ran.
//
// The functions take __restrict pointers and mark their inner loops `#pragma omp simd`: without both,
// GCC leaves a loop over several arrays scalar (it will not version it for every pair that may alias).
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ABLATE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ABLATE_CLONES
#endif

#include <cstdint>

namespace ablate {

// Cuts [0, len) into `parts` contiguous bands, fixed by the sizes alone, and runs range(from, to) on each,
// spread over the OpenMP threads when `parallel`: the loop around the vectorised row functions.
template <typename Range>
void forBands(int64_t len, int64_t parts, bool parallel, Range range) {
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < parts; ++t) range(len * t / parts, len * (t + 1) / parts);
}

}  // namespace ablate
