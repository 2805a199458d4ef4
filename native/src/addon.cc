// Node-API entry point of the native CPU kernels. The addon is context-aware (Napi::Addon): each
// JavaScript context that loads it gets its own Context, so it may be loaded in several worker
// threads at once.
#include "context.h"

namespace ablate {

namespace {

const char* isaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

}  // namespace

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
                             InstanceMethod("info", &Addon::Info),
                             InstanceMethod("setThreads", &Addon::SetThreads),
                             InstanceMethod("setAutotune", &Addon::SetAutotune),
                             InstanceMethod("setPrecision", &Addon::SetPrecision),
                             InstanceMethod("conv", &Addon::Call<Conv>),
                             InstanceMethod("batchNormForward", &Addon::Call<BatchNormForward>),
                             InstanceMethod("batchNormBackward", &Addon::Call<BatchNormBackward>),
                             InstanceMethod("channelNormalise", &Addon::Call<ChannelNormalise>),
                             InstanceMethod("relu", &Addon::Call<Relu>),
                             InstanceMethod("reluGrad", &Addon::Call<ReluGrad>),
                             InstanceMethod("addRelu", &Addon::Call<AddRelu>),
                             InstanceMethod("addN", &Addon::Call<AddN>),
                             InstanceMethod("sgdUpdate", &Addon::Call<SgdUpdate>),
                             InstanceMethod("copyBlock", &Addon::Call<CopyBlock>),
                             InstanceMethod("fill", &Addon::Call<Fill>),
                             InstanceMethod("binary", &Addon::Call<Binary>),
                             InstanceMethod("reduceSum", &Addon::Call<ReduceSum>),
                             InstanceMethod("pool", &Addon::Call<Pool>),
                             InstanceMethod("matMul", &Addon::Call<MatMul>),
                         });
  }

 private:
  Context ctx_;

  // oneDNN reports failures as dnnl::error; they become JavaScript errors carrying oneDNN's status,
  // so the JavaScript side can fall back to the reference kernel.
  template <Napi::Value (*Fn)(Context&, const Napi::CallbackInfo&)>
  Napi::Value Call(const Napi::CallbackInfo& info) {
    try {
      ctx_.enter();
      return Fn(ctx_, info);
    } catch (const dnnl::error& e) {
      Napi::Error err = Napi::Error::New(info.Env(), std::string("oneDNN: ") + e.what());
      err.Set("dnnlStatus", Napi::Number::New(info.Env(), static_cast<int>(e.status)));
      throw err;
    } catch (const std::bad_alloc&) {
      throw Napi::Error::New(info.Env(), "native kernel: out of memory");
    }
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const dnnl_version_t* v = dnnl_version();
    Napi::Object o = Napi::Object::New(env);
    o.Set("dnnl", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
    o.Set("cpuRuntime", v->cpu_runtime == DNNL_RUNTIME_OMP ? "omp"
                        : v->cpu_runtime == DNNL_RUNTIME_TBB ? "tbb"
                        : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "sequential"
                                                             : "other");
    o.Set("isa", isaName(dnnl::get_effective_cpu_isa()));
    o.Set("threads", ctx_.threads);
    o.Set("autotune", ctx_.autotune);
    o.Set("bf16", Context::hasBf16());
    o.Set("precision", ctx_.bf16 ? "bf16" : "fp32");
    o.Set("ompMaxThreads", omp_get_max_threads());
    o.Set("convPrimitives", static_cast<double>(ctx_.convCache.size()));
    o.Set("winogradPrimitives", static_cast<double>(winogradPrimitives(ctx_)));
    // The convolution algorithms (results depend on them): direct kernels, and Winograd where it fits (conv.cc).
    o.Set("convolutions", "direct+winograd");
    o.Set("matrixProducts", "sgemm");
    o.Set("scratchpadBytes", static_cast<double>(ctx_.scratchBytes));
    return o;
  }

  Napi::Value SetThreads(const Napi::CallbackInfo& info) {
    int n = info[0].As<Napi::Number>().Int32Value();
    if (n < 1) throw Napi::RangeError::New(info.Env(), "threads must be >= 1");
    if (n != ctx_.threads) {
      // Some implementations choose their blocking from the thread count at creation time.
      ctx_.convCache.clear();
      ctx_.poolCache.clear();
      ctx_.threads = n;
    }
    ctx_.enter();
    return info.Env().Undefined();
  }

  Napi::Value SetAutotune(const Napi::CallbackInfo& info) {
    const bool on = info[0].ToBoolean().Value();
    if (on != ctx_.autotune) {
      // Primitives chosen under the other policy must not be reused.
      ctx_.convCache.clear();
      ctx_.autotune = on;
    }
    return info.Env().Undefined();
  }

  // setPrecision("fp32" | "bf16"): the type convolutions compute in. bf16 is refused where the CPU (as oneDNN
  // sees it) has no bf16 instructions: oneDNN would emulate it slowly.
  Napi::Value SetPrecision(const Napi::CallbackInfo& info) {
    const std::string p = info[0].ToString().Utf8Value();
    if (p != "fp32" && p != "bf16") throw Napi::RangeError::New(info.Env(), "precision must be fp32 or bf16");
    if (p == "bf16" && !Context::hasBf16()) {
      throw Napi::Error::New(info.Env(), std::string("bf16 convolutions need a CPU with AVX512-BF16; oneDNN runs on ") +
                                             isaName(dnnl::get_effective_cpu_isa()));
    }
    ctx_.bf16 = p == "bf16";
    return info.Env().Undefined();
  }
};

}  // namespace ablate

using AblateAddon = ablate::Addon;
NODE_API_ADDON(AblateAddon)
