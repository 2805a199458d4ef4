// 2-D convolution (forward, backward-data, backward-weights, with groups) over oneDNN.
//
// Activations stay in the NHWC layout tfjs uses, so no reorder is spent on them; oneDNN's NHWC
// ("nspc") kernels take them directly. Weights arrive as tfjs filters [kh, kw, in/groups, out] and are
// copied into whatever blocked layout oneDNN picks (format `any`): they are small, and the blocked
// layout is what its fast kernels need. Copies and bf16 conversions are layout.h's, not oneDNN reorders.
//
// In bf16 (Context::bf16, train.precision: bf16) the tensors at the JavaScript boundary stay fp32: the
// convolution converts its inputs (activations, gradients, weights) to bf16, multiplies with the CPU's
// bf16 dot-product instructions (AVX512-BF16), accumulates in fp32 and writes fp32 outputs, so
// weights, weight gradients, batch norm and the optimiser all stay fp32. A convolution that oneDNN
// offers in bf16 only as a reference (scalar) implementation runs in fp32 instead.
//
// Wide 3x3 convolutions of stride 1 in fp32 (at least 64 input and output channels, outputs of at least
// 8x8) use oneDNN's Winograd algorithm, F(4x4, 3x3): about 2.25x fewer multiplications. Measured on a
// 2-core AVX-512 machine, batch 64, its time against the direct kernels' was 0.7x at 64 channels on 8x8
// images and 0.35-0.45x at 256-512 channels (forward, backward-data and backward-weights alike); at 32
// channels or on 4x4 images it was slower. It reads and writes activations in oneDNN's nChw16c layout, so
// they are copied from and to NHWC around it (a small fraction of its time). Its results differ from the
// direct kernels' in the last bits (the transforms round differently), and are as repeatable; the engine
// records the algorithms in each trial's versions.
//
// bf16 backward-weights splits the batch between the threads itself: each thread runs a single-threaded
// primitive on its share of the images and the per-thread weight gradients are summed. oneDNN 2.6's
// multi-threaded bf16 backward-weights kernel (jit_bf16) synchronises its threads with spinning barriers
// many times per call; on a machine whose cores are shared with other processes, a thread descheduled
// at one of them stalls the other (measured on 2 loaded cores: 0.5-1.5 s instead of 2 ms per call, ten
// times the fp32 kernel's time). Split this way, threads meet only once, at the end, and wait passively.
#include "context.h"
#include "layout.h"

#include <cstdio>
#include <functional>
#include <vector>

namespace ablate {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

enum Kind { kForward = 0, kBackwardData = 1, kBackwardWeights = 2 };

// Layout of the params Int32Array passed from JavaScript.
struct ConvParams {
  int32_t N, H, W, C, OC, KH, KW, OH, OW, SH, SW, DH, DW, PT, PL, PB, PR, G;
};
constexpr size_t kNumParams = sizeof(ConvParams) / sizeof(int32_t);

// Activation fused into the forward convolution (tfjs FusedConv2D's `activation`).
enum Act { kLinear = 0, kRelu = 1, kRelu6 = 2, kLeakyRelu = 3, kElu = 4, kSigmoid = 5 };

}  // namespace

// One thread's share of a split backward-weights convolution (see above).
struct SplitPart {
  memory::dim n0 = 0;                // first image of this part
  dnnl::primitive prim;
  memory::desc x, dy;                // this part's x and dy in bf16 (staged)
  memory::desc dwMd, scratchMd;
  std::unique_ptr<float, AlignedFree> dwBuf;  // this part's weight gradient, in the primitive's layout
  std::unique_ptr<float[]> dwUser;   // the same in the tfjs filter layout
  LayoutCopy dwOut;                  // dwBuf -> dwUser
  std::unique_ptr<char, AlignedFree> scratch;
  dnnl::stream strm;
};

struct ConvPrim {
  dnnl::primitive prim;
  memory::desc inMd, outMd;          // activations seen by the primitive (NHWC)
  memory::desc userWMd, primWMd;     // weights (or weight gradient) in tfjs and in oneDNN layout
  memory::desc biasMd;
  memory::desc scratchMd;
  bool reorderW = false;
  LayoutCopy wCopy;                  // weights between the tfjs layout and the primitive's
  std::unique_ptr<float, AlignedFree> wBuf;  // weights in the primitive's layout (bf16 weights: as uint16)
  std::unique_ptr<float[]> wTmp;     // bf16 weights: the primitive's layout in fp32, before conversion
  size_t wElems = 0;                 // elements of the primitive's layout, padding included
  // bf16: the fp32 inputs a (and, for backward-weights, b) are converted into the context's staging buffers.
  bool bf16 = false;
  // Winograd: the primitive's activations are nChw16c, staged from and to the caller's NHWC buffers.
  bool blocked = false;
  std::vector<SplitPart> split;      // bf16 backward-weights on several threads: one part per thread
};

namespace {

memory::desc userWeights(const ConvParams& p) {
  const memory::dim icg = p.C / p.G, ocg = p.OC / p.G;
  // tfjs filter [kh][kw][ic/g][oc]; output channel o belongs to group o / (oc/g).
  if (p.G == 1) {
    return memory::desc({p.OC, p.C, p.KH, p.KW}, dt::f32,
                        memory::dims{1, p.OC, (memory::dim)p.KW * p.C * p.OC, (memory::dim)p.C * p.OC});
  }
  return memory::desc({p.G, ocg, icg, p.KH, p.KW}, dt::f32,
                      memory::dims{ocg, 1, p.OC, (memory::dim)p.KW * icg * p.OC, icg * p.OC});
}

memory::dims weightDims(const ConvParams& p) {
  if (p.G == 1) return {p.OC, p.C, p.KH, p.KW};
  return {p.G, p.OC / p.G, p.C / p.G, p.KH, p.KW};
}

// oneDNN offers several implementations for most convolutions and takes the first that accepts the
// problem; on NHWC activations that is not always the fastest (measured on a 2-core AVX-512 machine:
// its first choice for the 16-channel 3x3 forward pass ran at half the speed of the backward-data
// kernel on the same sizes). With autotuning on (Context::autotune, the study's `resources.autotune`),
// each new primitive times every candidate on zero-filled buffers and keeps the fastest. That choice
// depends on the machine's load at that moment, and implementations sum in different orders, so two
// runs could differ in the last bits; autotuning is therefore off unless asked for, and oneDNN's first
// choice (a function of the shapes, the ISA and the thread count) is kept. ABLATE_NATIVE_TUNE_LOG=1
// prints the candidates and their times to stderr.
// Milliseconds of one execution (best of two after a warm-up); a candidate whose warm-up run already
// takes longer than `limitMs` is not timed further.
double timeImpl(Context& ctx, const dnnl::primitive_desc& pd, double limitMs) {
  dnnl::primitive prim(pd.get());
  static const int kArgs[] = {DNNL_ARG_SRC,      DNNL_ARG_WEIGHTS,  DNNL_ARG_BIAS,         DNNL_ARG_DST,
                              DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_SCRATCHPAD};
  std::vector<std::unique_ptr<char, AlignedFree>> buffers;
  std::unordered_map<int, dnnl::memory> args;
  for (int arg : kArgs) {
    const memory::desc md = pd.query_md(dnnl::query::exec_arg_md, arg);
    const size_t bytes = md.get_size();
    if (bytes == 0) continue;
    void* buf = std::aligned_alloc(64, (bytes + 63) & ~size_t(63));
    if (!buf) throw std::bad_alloc();
    std::memset(buf, 0, bytes);
    buffers.emplace_back(static_cast<char*>(buf));
    args.emplace(arg, dnnl::memory(md, ctx.eng, buf));
  }
  const double w0 = omp_get_wtime();
  prim.execute(ctx.strm, args);  // first run: page faults, caches
  ctx.strm.wait();
  if ((omp_get_wtime() - w0) * 1e3 > limitMs) return 1e30;
  double best = 1e30;
  for (int i = 0; i < 2; ++i) {
    const double t0 = omp_get_wtime();
    prim.execute(ctx.strm, args);
    ctx.strm.wait();
    best = std::min(best, omp_get_wtime() - t0);
  }
  return best * 1e3;
}

// The primitive descriptor of the fastest implementation; `make` returns a fresh descriptor at oneDNN's
// first choice.
template <typename PD>
PD fastest(Context& ctx, const std::function<PD()>& make, const char* what) {
  PD pd = make();
  if (!ctx.autotune) return pd;
  const bool log = std::getenv("ABLATE_NATIVE_TUNE_LOG") != nullptr;
  int best = 0, i = 0;
  double bestMs = 1e30;
  do {
    // The reference implementations are orders of magnitude slower; they are oneDNN's last resort.
    if (std::strncmp(pd.impl_info_str(), "ref:", 4) == 0) break;
    const double ms = timeImpl(ctx, pd, 4 * bestMs + 5);
    if (log) std::fprintf(stderr, "ablate-native tune %s #%d %s %.3f ms\n", what, i, pd.impl_info_str(), ms);
    if (ms < bestMs) {
      bestMs = ms;
      best = i;
    }
    ++i;
  } while (i < 8 && pd.next_impl());
  PD chosen = make();
  for (int j = 0; j < best; ++j) chosen.next_impl();
  return chosen;
}

// A zeroed buffer of n floats on a 64-byte boundary: the primitive's weights. Kernels may load them with
// aligned vector instructions (oneDNN's Winograd kernels do), which fault on a buffer `new` aligns to 16.
float* alignedFloats(size_t n) {
  const size_t bytes = (n * sizeof(float) + 63) & ~size_t(63);
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, bytes);
  return static_cast<float*>(p);
}

bool isReference(const dnnl::primitive_desc_base& pd) {
  return std::strncmp(pd.impl_info_str(), "ref", 3) == 0;
}

// The parts of a bf16 backward-weights convolution split over the batch, one single-threaded primitive per
// thread; empty when a part's only implementation is a reference one.
std::vector<SplitPart> buildSplit(Context& ctx, const ConvParams& p) {
  const int parts = std::min<int>(ctx.threads, p.N);
  std::vector<SplitPart> out(parts);
  const memory::dims strides{p.SH, p.SW}, dil{p.DH - 1, p.DW - 1}, padL{p.PT, p.PL}, padR{p.PB, p.PR};
  const auto algo = dnnl::algorithm::convolution_direct;
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const memory::desc userW = userWeights(p);
  // Created for one thread: oneDNN sizes a primitive's work split from the thread count at creation.
  omp_set_num_threads(1);
  struct Restore { Context& c; ~Restore() { c.enter(); } } restore{ctx};
  for (int t = 0; t < parts; ++t) {
    SplitPart& part = out[t];
    part.n0 = memory::dim(p.N) * t / parts;
    const memory::dim n = memory::dim(p.N) * (t + 1) / parts - part.n0;
    part.x = memory::desc({n, p.C, p.H, p.W}, dt::bf16, tag::nhwc);
    part.dy = memory::desc({n, p.OC, p.OH, p.OW}, dt::bf16, tag::nhwc);
    const memory::desc anyW(weightDims(p), dt::bf16, tag::any), anyWF(weightDims(p), dt::f32, tag::any);
    const memory::desc dyF({n, p.OC, p.OH, p.OW}, dt::f32, tag::nhwc);
    dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, algo, part.x, anyW, dyF, strides, dil, padL, padR);
    dnnl::convolution_forward::primitive_desc hint(fd, ctx.eng);
    dnnl::convolution_backward_weights::desc d(algo, part.x, anyWF, part.dy, strides, dil, padL, padR);
    dnnl::convolution_backward_weights::primitive_desc pd(d, attr, ctx.eng, hint);
    if (isReference(pd)) return {};
    part.prim = dnnl::convolution_backward_weights(pd);
    part.dwMd = pd.diff_weights_desc();
    part.scratchMd = pd.scratchpad_desc();
    part.dwBuf.reset(alignedFloats(part.dwMd.get_size() / sizeof(float) + 16));
    part.dwUser.reset(new float[userW.get_size() / sizeof(float)]);
    part.dwOut = LayoutCopy(part.dwMd, userW);
    if (!part.dwOut.ok()) throw dnnl::error(dnnl_unimplemented, "weight gradient layout");
    if (const size_t bytes = part.scratchMd.get_size()) {
      void* buf = std::aligned_alloc(64, (bytes + 63) & ~size_t(63));
      if (!buf) throw std::bad_alloc();
      part.scratch.reset(static_cast<char*>(buf));
    }
    part.strm = dnnl::stream(ctx.eng);
  }
  return out;
}

// Runs a split backward-weights convolution: each thread converts its share of x and dy to bf16 (into the
// context's staging buffers), computes its weight gradient, and the gradients are summed into `dw`.
void runSplit(Context& ctx, ConvPrim& cp, const ConvParams& p, const float* x, const float* dy, float* dw) {
  const size_t xPer = size_t(p.H) * p.W * p.C, yPer = size_t(p.OH) * p.OW * p.OC;
  char* xs = static_cast<char*>(ctx.stageMemory(0, memory::desc({p.N, p.C, p.H, p.W}, dt::bf16, tag::nhwc)).get_data_handle());
  char* dys = static_cast<char*>(ctx.stageMemory(1, memory::desc({p.N, p.OC, p.OH, p.OW}, dt::bf16, tag::nhwc)).get_data_handle());
  const int parts = static_cast<int>(cp.split.size());
  std::exception_ptr failure;
  std::mutex failureMutex;
#pragma omp parallel num_threads(parts)
  {
    SplitPart& part = cp.split[omp_get_thread_num()];
    try {
      const dnnl::engine& eng = ctx.eng;
      const size_t n = size_t(part.x.get_size() / 2), m = size_t(part.dy.get_size() / 2);
      uint16_t* xb16 = reinterpret_cast<uint16_t*>(xs) + part.n0 * xPer;
      uint16_t* dyb16 = reinterpret_cast<uint16_t*>(dys) + part.n0 * yPer;
      toBf16(x + part.n0 * xPer, xb16, n);
      toBf16(dy + part.n0 * yPer, dyb16, m);
      dnnl::memory xb(part.x, eng, xb16), db(part.dy, eng, dyb16), dwm(part.dwMd, eng, part.dwBuf.get());
      std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, xb}, {DNNL_ARG_DIFF_DST, db}, {DNNL_ARG_DIFF_WEIGHTS, dwm}};
      if (part.scratch) args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(part.scratchMd, eng, part.scratch.get()));
      part.prim.execute(part.strm, args);
      part.strm.wait();
      part.dwOut.run(part.dwBuf.get(), part.dwUser.get());
    } catch (...) {
      std::lock_guard<std::mutex> lock(failureMutex);
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  const size_t wN = size_t(p.KH) * p.KW * (p.C / p.G) * p.OC;
  for (size_t i = 0; i < wN; ++i) {
    float sum = 0.f;
    for (int t = 0; t < parts; ++t) sum += cp.split[t].dwUser[i];
    dw[i] = sum;
  }
}

// Whether a convolution takes the Winograd algorithm (see the top of this file); in fp32 only.
constexpr int kWinogradMinChannels = 64;
constexpr int kWinogradMinOutput = 8;
bool winogradFits(const ConvParams& p) {
  return p.G == 1 && p.KH == 3 && p.KW == 3 && p.SH == 1 && p.SW == 1 && p.DH == 1 && p.DW == 1 &&
         p.C % 16 == 0 && p.OC % 16 == 0 && p.C >= kWinogradMinChannels && p.OC >= kWinogradMinChannels &&
         p.OH >= kWinogradMinOutput && p.OW >= kWinogradMinOutput;
}

std::shared_ptr<ConvPrim> buildWith(Context& ctx, const ConvParams& p, int kind, bool bias, int act, float alpha, bool bf16,
                                    bool wino) {
  auto cp = std::make_shared<ConvPrim>();
  cp->bf16 = bf16;
  cp->blocked = wino;
  // Inputs in the computing type (bf16 or fp32), outputs always fp32.
  const dt lowp = bf16 ? dt::bf16 : dt::f32;
  const tag actTag = wino ? tag::nChw16c : tag::nhwc;
  const memory::desc srcF({p.N, p.C, p.H, p.W}, dt::f32, actTag), dstF({p.N, p.OC, p.OH, p.OW}, dt::f32, actTag);
  const memory::desc srcL({p.N, p.C, p.H, p.W}, lowp, actTag), dstL({p.N, p.OC, p.OH, p.OW}, lowp, actTag);
  const memory::desc anyW(weightDims(p), lowp, tag::any), anyWF(weightDims(p), dt::f32, tag::any);
  const memory::dims strides{p.SH, p.SW}, dil{p.DH - 1, p.DW - 1}, padL{p.PT, p.PL}, padR{p.PB, p.PR};
  const auto algo = wino ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct;
  cp->userWMd = userWeights(p);
  if (bias) cp->biasMd = memory::desc({p.OC}, dt::f32, tag::x);

  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);

  auto fwdDesc = bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, srcL, anyW,
                                                        cp->biasMd, dstF, strides, dil, padL, padR)
                      : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, srcL, anyW, dstF,
                                                        strides, dil, padL, padR);
  if (kind == kForward) {
    dnnl::primitive_attr fattr = attr;
    if (act != kLinear) {
      dnnl::post_ops ops;
      switch (act) {
        case kRelu: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f); break;
        case kRelu6: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, 0.f, 6.f); break;
        case kLeakyRelu: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, alpha, 0.f); break;
        case kElu: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_elu, 1.f, 0.f); break;
        case kSigmoid: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_logistic, 0.f, 0.f); break;
        default: throw dnnl::error(dnnl_unimplemented, "unsupported fused activation");
      }
      fattr.set_post_ops(ops);
    }
    auto pd = fastest<dnnl::convolution_forward::primitive_desc>(ctx, [&] {
      return dnnl::convolution_forward::primitive_desc(fwdDesc, fattr, ctx.eng);
    }, "forward");
    if (bf16 && isReference(pd)) return buildWith(ctx, p, kind, bias, act, alpha, false, false);
    cp->prim = dnnl::convolution_forward(pd);
    cp->inMd = pd.src_desc();
    cp->outMd = pd.dst_desc();
    cp->primWMd = pd.weights_desc();
    cp->scratchMd = pd.scratchpad_desc();
  } else {
    dnnl::convolution_forward::primitive_desc hint(fwdDesc, ctx.eng);
    if (kind == kBackwardData) {
      dnnl::convolution_backward_data::desc d(algo, srcF, anyW, dstL, strides, dil, padL, padR);
      auto pd = fastest<dnnl::convolution_backward_data::primitive_desc>(ctx, [&] {
        return dnnl::convolution_backward_data::primitive_desc(d, attr, ctx.eng, hint);
      }, "backward-data");
      if (bf16 && isReference(pd)) return buildWith(ctx, p, kind, bias, act, alpha, false, false);
      cp->prim = dnnl::convolution_backward_data(pd);
      cp->inMd = pd.diff_dst_desc();
      cp->outMd = pd.diff_src_desc();
      cp->primWMd = pd.weights_desc();
      cp->scratchMd = pd.scratchpad_desc();
    } else {
      dnnl::convolution_backward_weights::desc d(algo, srcL, anyWF, dstL, strides, dil, padL, padR);
      auto pd = fastest<dnnl::convolution_backward_weights::primitive_desc>(ctx, [&] {
        return dnnl::convolution_backward_weights::primitive_desc(d, attr, ctx.eng, hint);
      }, "backward-weights");
      if (bf16 && isReference(pd)) return buildWith(ctx, p, kind, bias, act, alpha, false, false);
      if (bf16 && ctx.threads > 1 && p.N > 1) {
        cp->split = buildSplit(ctx, p);
        if (!cp->split.empty()) return cp;
      }
      cp->prim = dnnl::convolution_backward_weights(pd);
      cp->inMd = pd.src_desc();
      cp->outMd = pd.diff_dst_desc();
      cp->primWMd = pd.diff_weights_desc();
      cp->scratchMd = pd.scratchpad_desc();
    }
  }
  cp->reorderW = cp->primWMd != cp->userWMd;
  if (cp->reorderW) {
    cp->wBuf.reset(alignedFloats(cp->primWMd.get_size() / sizeof(float) + 16));  // zeroed: blocked layouts pad
    cp->wCopy = kind == kBackwardWeights ? LayoutCopy(cp->primWMd, cp->userWMd) : LayoutCopy(cp->userWMd, cp->primWMd);
    if (!cp->wCopy.ok()) throw dnnl::error(dnnl_unimplemented, "weights layout");
    if (cp->primWMd.data_type() == dt::bf16) {
      cp->wElems = cp->primWMd.get_size() / 2;
      cp->wTmp.reset(new float[cp->wElems]());
    }
  }
  return cp;
}

// The primitive of a convolution: Winograd where it fits and oneDNN has a kernel for it, else direct.
std::shared_ptr<ConvPrim> build(Context& ctx, const ConvParams& p, int kind, bool bias, int act, float alpha, bool bf16) {
  if (!bf16 && winogradFits(p)) {
    try {
      return buildWith(ctx, p, kind, bias, act, alpha, false, true);
    } catch (const dnnl::error&) {
      // No Winograd kernel for this case (a fused activation it does not take, a CPU without AVX-512).
    }
  }
  return buildWith(ctx, p, kind, bias, act, alpha, bf16, false);
}

}  // namespace

size_t winogradPrimitives(const Context& ctx) {
  size_t n = 0;
  for (const auto& entry : ctx.convCache) n += entry.second->blocked;
  return n;
}

// conv(kind, params: Int32Array, a, b, out, bias?, act?, alpha?)
//   kind 0 forward:          a = x [N,H,W,C], b = filter, out = y [N,OH,OW,OC]
//   kind 1 backward data:    a = dy,          b = filter, out = dx
//   kind 2 backward weights: a = x,           b = dy,     out = dfilter
Napi::Value Conv(Context& ctx, const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int kind = info[0].As<Napi::Number>().Int32Value();
  const int32_t* raw = i32Arg(info, 1, kNumParams, "params");
  ConvParams p;
  std::memcpy(&p, raw, sizeof(p));
  if (p.G < 1 || p.C % p.G || p.OC % p.G) throw Napi::RangeError::New(env, "channels must divide by groups");
  const bool bias = info.Length() > 5 && info[5].IsTypedArray();
  const int act = info.Length() > 6 && info[6].IsNumber() ? info[6].As<Napi::Number>().Int32Value() : kLinear;
  const float alpha = info.Length() > 7 && info[7].IsNumber() ? info[7].As<Napi::Number>().FloatValue() : 0.f;
  if (kind != kForward && (bias || act != kLinear)) throw Napi::Error::New(env, "bias/activation only in forward");

  const size_t xN = size_t(p.N) * p.H * p.W * p.C, yN = size_t(p.N) * p.OH * p.OW * p.OC;
  const size_t wN = size_t(p.KH) * p.KW * (p.C / p.G) * p.OC;
  float *a, *b, *out;
  switch (kind) {
    case kForward:
      a = f32Arg(info, 2, xN, "x"); b = f32Arg(info, 3, wN, "filter"); out = f32Arg(info, 4, yN, "y"); break;
    case kBackwardData:
      a = f32Arg(info, 2, yN, "dy"); b = f32Arg(info, 3, wN, "filter"); out = f32Arg(info, 4, xN, "dx"); break;
    case kBackwardWeights:
      a = f32Arg(info, 2, xN, "x"); b = f32Arg(info, 3, yN, "dy"); out = f32Arg(info, 4, wN, "dfilter"); break;
    default: throw Napi::RangeError::New(env, "unknown convolution kind");
  }
  float* biasPtr = bias ? f32Arg(info, 5, p.OC, "bias") : nullptr;

  const bool bf16 = ctx.bf16;
  const std::string key = keyOf(raw, kNumParams, kind | (bias << 4) | (act << 8) | (bf16 << 12)) +
                          std::string(reinterpret_cast<const char*>(&alpha), sizeof(alpha));
  auto it = ctx.convCache.find(key);
  std::shared_ptr<ConvPrim> cp;
  std::unique_lock<std::mutex> firstUse(firstUseMutex(), std::defer_lock);  // held to the end of this call
  if (it == ctx.convCache.end()) {
    firstUse.lock();
    cp = build(ctx, p, kind, bias, act, alpha, bf16);
    ctx.convCache.emplace(key, cp);
  } else {
    cp = it->second;
  }

  dnnl::memory scratch = ctx.scratchMemory(cp->scratchMd);
  const int64_t inHW = int64_t(p.H) * p.W, outHW = int64_t(p.OH) * p.OW;
  // An input as the primitive reads it: the caller's fp32 buffer, its bf16 copy (element for element: NHWC
  // on both sides) or its nChw16c copy (Winograd) in staging buffer `slot`. `hw` and `c` give its shape.
  auto input = [&](int slot, const memory::desc& primMd, float* data, int64_t hw, int64_t c) {
    if (!cp->bf16 && !cp->blocked) return dnnl::memory(primMd, ctx.eng, data);
    dnnl::memory staged = ctx.stageMemory(slot, primMd);
    if (cp->blocked) {
      copyBlocked16(data, static_cast<float*>(staged.get_data_handle()), p.N, hw, c, true, ctx.threads);
    } else {
      toBf16(data, static_cast<uint16_t*>(staged.get_data_handle()), primMd.get_size() / 2, ctx.threads);
    }
    return staged;
  };
  if (kind == kForward || kind == kBackwardData) {
    dnnl::memory userW(cp->userWMd, ctx.eng, b);
    dnnl::memory w = userW;
    if (cp->reorderW) {
      w = dnnl::memory(cp->primWMd, ctx.eng, cp->wBuf.get());
      if (cp->wTmp) {
        cp->wCopy.run(b, cp->wTmp.get());
        toBf16(cp->wTmp.get(), reinterpret_cast<uint16_t*>(cp->wBuf.get()), cp->wElems);
      } else {
        cp->wCopy.run(b, cp->wBuf.get());
      }
    }
    const bool fwd = kind == kForward;
    dnnl::memory in = input(0, cp->inMd, a, fwd ? inHW : outHW, fwd ? p.C : p.OC);
    dnnl::memory o = cp->blocked ? ctx.stageMemory(2, cp->outMd) : dnnl::memory(cp->outMd, ctx.eng, out);
    if (fwd) {
      std::unordered_map<int, dnnl::memory> args{
          {DNNL_ARG_SRC, in}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, o}, {DNNL_ARG_SCRATCHPAD, scratch}};
      if (bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(cp->biasMd, ctx.eng, biasPtr));
      cp->prim.execute(ctx.strm, args);
    } else {
      cp->prim.execute(ctx.strm, {{DNNL_ARG_DIFF_DST, in}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, o},
                                  {DNNL_ARG_SCRATCHPAD, scratch}});
    }
    if (cp->blocked) {
      ctx.strm.wait();
      copyBlocked16(static_cast<const float*>(o.get_data_handle()), out, p.N, fwd ? outHW : inHW, fwd ? p.OC : p.C, false,
                    ctx.threads);
    }
  } else if (!cp->split.empty()) {
    runSplit(ctx, *cp, p, a, b, out);
  } else {
    dnnl::memory userDW(cp->userWMd, ctx.eng, out);
    dnnl::memory dw = cp->reorderW ? dnnl::memory(cp->primWMd, ctx.eng, cp->wBuf.get()) : userDW;
    dnnl::memory x = input(0, cp->inMd, a, inHW, p.C), dy = input(1, cp->outMd, b, outHW, p.OC);
    cp->prim.execute(ctx.strm, {{DNNL_ARG_SRC, x}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_WEIGHTS, dw},
                                {DNNL_ARG_SCRATCHPAD, scratch}});
    if (cp->reorderW) {
      ctx.strm.wait();
      cp->wCopy.run(cp->wBuf.get(), out);
    }
  }
  ctx.strm.wait();
  return env.Undefined();
}

}  // namespace ablate
