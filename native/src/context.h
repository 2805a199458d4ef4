// Shared state of the addon. One Context exists per JavaScript context (the main thread and every
// worker thread get their own, because the addon is context-aware), so primitive caches and the
// thread count of a trial's slot are never shared between trials running side by side.
#pragma once

#include <napi.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace ablate {

struct ConvPrim;
struct PoolPrim;

// oneDNN 2.6 initialises some kernels lazily on their first execution (e.g. the JIT GEMM behind
// gemm-based convolutions, in a process-wide std::call_once), and a second thread executing another
// primitive during that initialisation crashes (seen as SIGSEGV / heap corruption with two workers
// building their first convolutions at once). Creating a primitive and executing it for the first time
// therefore happen under this process-wide lock; once built, primitives run concurrently without it.
inline std::mutex& firstUseMutex() {
  static std::mutex m;
  return m;
}

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

struct Context {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  int threads = 1;
  // Time the candidate implementations of each new convolution and keep the fastest (conv.cc). Off by
  // default: the choice then depends on the machine's load, and with it the last bits of the results.
  bool autotune = false;
  // Convolutions in bf16 (train.precision: bf16): activations and weights are converted to bf16 inside
  // the convolution, which accumulates in fp32 and writes fp32 (conv.cc). Needs a CPU with AVX512-BF16.
  bool bf16 = false;

  // Every primitive is created with a user-managed scratchpad; all of them share this one buffer
  // (execution is sequential within a context), which keeps the resident size down.
  std::unique_ptr<char, AlignedFree> scratch;
  size_t scratchBytes = 0;

  // Staging buffers of a convolution: its inputs converted to bf16 (slots 0 and 1: backward-weights converts
  // both), or its activations in the blocked layout of a Winograd convolution (inputs 0 and 1, output 2).
  std::unique_ptr<char, AlignedFree> stage[3];
  size_t stageBytes[3] = {0, 0, 0};

  std::unordered_map<std::string, std::shared_ptr<ConvPrim>> convCache;
  // Whether this context has run a GEMM (tensor_ops.cc: the first one runs under firstUseMutex).
  bool gemmUsed = false;
  std::unordered_map<std::string, std::shared_ptr<PoolPrim>> poolCache;

  // OpenMP's thread count is a per-OS-thread setting, so setting it on every call from the
  // calling thread gives each worker thread exactly its slot's count.
  void enter() const { omp_set_num_threads(threads); }

  dnnl::memory scratchMemory(const dnnl::memory::desc& md) {
    return dnnl::memory(md, eng, grow(scratch, scratchBytes, md.get_size()));
  }

  dnnl::memory stageMemory(int slot, const dnnl::memory::desc& md) {
    return dnnl::memory(md, eng, grow(stage[slot], stageBytes[slot], md.get_size()));
  }

  static char* grow(std::unique_ptr<char, AlignedFree>& buf, size_t& have, size_t bytes) {
    if (bytes > have || !buf) {
      size_t rounded = (bytes + 4096) & ~size_t(4095);
      void* p = std::aligned_alloc(64, rounded);
      if (!p) throw std::bad_alloc();
      buf.reset(static_cast<char*>(p));
      have = rounded;
    }
    return buf.get();
  }

  // Whether oneDNN's effective ISA (the CPU, capped by ONEDNN_MAX_CPU_ISA) has bf16 instructions.
  static bool hasBf16() {
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
    return (isa & bf16) == bf16;
  }
};

// Reads a Float32Array argument and checks that it holds at least `count` elements.
inline float* f32Arg(const Napi::CallbackInfo& info, size_t index, size_t count, const char* name) {
  Napi::Value v = info[index];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a Float32Array");
  }
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (a.ElementLength() < count) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " has " + std::to_string(a.ElementLength()) +
                                                 " elements, expected " + std::to_string(count));
  }
  return a.Data();
}

inline const int32_t* i32Arg(const Napi::CallbackInfo& info, size_t index, size_t count, const char* name) {
  Napi::Value v = info[index];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      v.As<Napi::Int32Array>().ElementLength() < count) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be an Int32Array of " +
                                               std::to_string(count) + " elements");
  }
  return v.As<Napi::Int32Array>().Data();
}

inline std::string keyOf(const int32_t* p, size_t n, int extra) {
  std::string k(reinterpret_cast<const char*>(p), n * sizeof(int32_t));
  k.append(reinterpret_cast<const char*>(&extra), sizeof(extra));
  return k;
}

Napi::Value Conv(Context& ctx, const Napi::CallbackInfo& info);
// How many of the context's convolution primitives run the Winograd algorithm (conv.cc).
size_t winogradPrimitives(const Context& ctx);
Napi::Value BatchNormForward(Context& ctx, const Napi::CallbackInfo& info);
Napi::Value BatchNormBackward(Context& ctx, const Napi::CallbackInfo& info);
Napi::Value ChannelNormalise(Context& ctx, const Napi::CallbackInfo& info);
Napi::Value Relu(Context& ctx, const Napi::CallbackInfo& info);
Napi::Value ReluGrad(Context& ctx, const Napi::CallbackInfo& info);
Napi::Value AddRelu(Context& ctx, const Napi::CallbackInfo& info);
Napi::Value AddN(Context& ctx, const Napi::CallbackInfo& info);
Napi::Value SgdUpdate(Context& ctx, const Napi::CallbackInfo& info);
Napi::Value CopyBlock(Context& ctx, const Napi::CallbackInfo& info);
Napi::Value Fill(Context& ctx, const Napi::CallbackInfo& info);
Napi::Value Binary(Context& ctx, const Napi::CallbackInfo& info);
Napi::Value ReduceSum(Context& ctx, const Napi::CallbackInfo& info);
Napi::Value Pool(Context& ctx, const Napi::CallbackInfo& info);
Napi::Value MatMul(Context& ctx, const Napi::CallbackInfo& info);

}  // namespace ablate
