// 2-D max and average pooling (forward and backward) over oneDNN, NHWC.
// Max pooling's backward needs the positions of the maxima, which oneDNN keeps in a workspace written
// by a training-mode forward pass; tfjs' MaxPoolGrad receives the input instead, so the backward call
// re-runs that forward pass first (as tfjs-cpu itself recomputes the positions).
#include "context.h"

#include <vector>

namespace ablate {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

struct PoolPrim {
  dnnl::primitive fwd, bwd, fwdTrain;
  memory::desc src, dst, ws, fwdScratch, bwdScratch, trainScratch;
  std::vector<float> tmpDst;
  std::vector<char> wsBuf;
  bool hasBwd = false;
};

namespace {

struct PoolParams {
  int32_t N, H, W, C, KH, KW, OH, OW, SH, SW, PT, PL, PB, PR;
};
constexpr size_t kNumParams = sizeof(PoolParams) / sizeof(int32_t);

std::unordered_map<std::string, std::shared_ptr<PoolPrim>>& cacheOf(Context& ctx) {
  return ctx.poolCache;
}

}  // namespace

// pool(kind, algo, params, a, b, out)
//   kind 0 forward:  a = x, out = y
//   kind 1 backward: a = dy, b = x (max pooling only; may be null for average), out = dx
//   algo 0 max, 1 average over the window's elements inside the image (padding excluded)
Napi::Value Pool(Context& ctx, const Napi::CallbackInfo& info) {
  const int kind = info[0].As<Napi::Number>().Int32Value();
  const int algoId = info[1].As<Napi::Number>().Int32Value();
  const int32_t* raw = i32Arg(info, 2, kNumParams, "params");
  PoolParams p;
  std::memcpy(&p, raw, sizeof(p));
  if ((kind != 0 && kind != 1) || (algoId != 0 && algoId != 1)) throw Napi::RangeError::New(info.Env(), "pool: bad kind");
  const auto algo = algoId == 0 ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding;
  const size_t xN = size_t(p.N) * p.H * p.W * p.C, yN = size_t(p.N) * p.OH * p.OW * p.C;
  const memory::dims strides{p.SH, p.SW}, kernel{p.KH, p.KW}, padL{p.PT, p.PL}, padR{p.PB, p.PR};

  auto& slot = cacheOf(ctx)[keyOf(raw, kNumParams, kind | (algoId << 4))];
  std::unique_lock<std::mutex> firstUse(firstUseMutex(), std::defer_lock);  // held to the end of this call
  if (!slot) {
    firstUse.lock();
    slot = std::make_shared<PoolPrim>();
    slot->src = memory::desc({p.N, p.C, p.H, p.W}, dt::f32, tag::nhwc);
    slot->dst = memory::desc({p.N, p.C, p.OH, p.OW}, dt::f32, tag::nhwc);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (kind == 0) {
      dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, algo, slot->src, slot->dst, strides, kernel, padL, padR);
      dnnl::pooling_forward::primitive_desc pd(d, attr, ctx.eng);
      slot->fwd = dnnl::pooling_forward(pd);
      slot->fwdScratch = pd.scratchpad_desc();
    } else {
      dnnl::pooling_forward::desc fd(dnnl::prop_kind::forward_training, algo, slot->src, slot->dst, strides, kernel, padL, padR);
      dnnl::pooling_forward::primitive_desc fpd(fd, attr, ctx.eng);
      dnnl::pooling_backward::desc bd(algo, slot->src, slot->dst, strides, kernel, padL, padR);
      dnnl::pooling_backward::primitive_desc bpd(bd, attr, ctx.eng, fpd);
      slot->bwd = dnnl::pooling_backward(bpd);
      slot->bwdScratch = bpd.scratchpad_desc();
      if (algoId == 0) {
        slot->fwdTrain = dnnl::pooling_forward(fpd);
        slot->trainScratch = fpd.scratchpad_desc();
        slot->ws = fpd.workspace_desc();
        slot->tmpDst.resize(yN);
        slot->wsBuf.resize(slot->ws.get_size() + 64);
      }
    }
  }
  PoolPrim& pp = *slot;
  if (kind == 0) {
    float* x = f32Arg(info, 3, xN, "x");
    float* y = f32Arg(info, 5, yN, "y");
    pp.fwd.execute(ctx.strm, {{DNNL_ARG_SRC, memory(pp.src, ctx.eng, x)},
                              {DNNL_ARG_DST, memory(pp.dst, ctx.eng, y)},
                              {DNNL_ARG_SCRATCHPAD, ctx.scratchMemory(pp.fwdScratch)}});
  } else {
    float* dy = f32Arg(info, 3, yN, "dy");
    float* dx = f32Arg(info, 5, xN, "dx");
    std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, memory(pp.dst, ctx.eng, dy)},
                                         {DNNL_ARG_DIFF_SRC, memory(pp.src, ctx.eng, dx)}};
    if (algoId == 0) {
      float* x = f32Arg(info, 4, xN, "x");
      memory ws(pp.ws, ctx.eng, pp.wsBuf.data());
      pp.fwdTrain.execute(ctx.strm, {{DNNL_ARG_SRC, memory(pp.src, ctx.eng, x)},
                                     {DNNL_ARG_DST, memory(pp.dst, ctx.eng, pp.tmpDst.data())},
                                     {DNNL_ARG_WORKSPACE, ws},
                                     {DNNL_ARG_SCRATCHPAD, ctx.scratchMemory(pp.trainScratch)}});
      ctx.strm.wait();
      args.emplace(DNNL_ARG_WORKSPACE, ws);
    }
    args.emplace(DNNL_ARG_SCRATCHPAD, ctx.scratchMemory(pp.bwdScratch));
    pp.bwd.execute(ctx.strm, args);
  }
  ctx.strm.wait();
  return info.Env().Undefined();
}

}  // namespace ablate
