// Training batch normalisation (Ioffe & Szegedy 2015, Algorithm 1 and its gradient) over oneDNN:
// one pass forward (batch statistics + normalise + scale/shift) and one backward (dx, dgamma, dbeta),
// on NHWC activations. The variance is the biased batch variance, as in the paper's normalisation.
#include "context.h"

namespace ablate {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

struct BatchNormPrim {
  dnnl::batch_normalization_forward fwd;
  dnnl::batch_normalization_backward bwd;
  memory::desc data, stat, fwdScratch, bwdScratch;
  bool hasBwd = false;
};

namespace {

const auto kFlags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;

BatchNormPrim& lookup(Context& ctx, const int32_t* p, float eps, bool needBwd) {
  int32_t epsBits;
  std::memcpy(&epsBits, &eps, sizeof(eps));
  const std::string key = keyOf(p, 4, epsBits);
  auto& slot = ctx.bnCache[key];
  if (!slot) {
    slot = std::make_shared<BatchNormPrim>();
    slot->data = memory::desc({p[0], p[3], p[1], p[2]}, dt::f32, tag::nhwc);
    slot->stat = memory::desc({p[3]}, dt::f32, tag::x);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::batch_normalization_forward::desc d(dnnl::prop_kind::forward_training, slot->data, eps, kFlags);
    dnnl::batch_normalization_forward::primitive_desc pd(d, attr, ctx.eng);
    slot->fwd = dnnl::batch_normalization_forward(pd);
    slot->fwdScratch = pd.scratchpad_desc();
  }
  if (needBwd && !slot->hasBwd) {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::batch_normalization_forward::desc fd(dnnl::prop_kind::forward_training, slot->data, eps, kFlags);
    dnnl::batch_normalization_forward::primitive_desc hint(fd, ctx.eng);
    dnnl::batch_normalization_backward::desc d(dnnl::prop_kind::backward, slot->data, slot->data, eps, kFlags);
    dnnl::batch_normalization_backward::primitive_desc pd(d, attr, ctx.eng, hint);
    slot->bwd = dnnl::batch_normalization_backward(pd);
    slot->bwdScratch = pd.scratchpad_desc();
    slot->hasBwd = true;
  }
  return *slot;
}

}  // namespace

// batchNormForward(params [N,H,W,C], x, gamma, beta, eps, y, mean, variance)
Napi::Value BatchNormForward(Context& ctx, const Napi::CallbackInfo& info) {
  const int32_t* p = i32Arg(info, 0, 4, "params");
  const size_t n = size_t(p[0]) * p[1] * p[2] * p[3], c = p[3];
  float* x = f32Arg(info, 1, n, "x");
  float* gamma = f32Arg(info, 2, c, "gamma");
  float* beta = f32Arg(info, 3, c, "beta");
  const float eps = info[4].As<Napi::Number>().FloatValue();
  float* y = f32Arg(info, 5, n, "y");
  float* mean = f32Arg(info, 6, c, "mean");
  float* var = f32Arg(info, 7, c, "variance");
  BatchNormPrim& bp = lookup(ctx, p, eps, false);
  bp.fwd.execute(ctx.strm, {{DNNL_ARG_SRC, memory(bp.data, ctx.eng, x)},
                            {DNNL_ARG_DST, memory(bp.data, ctx.eng, y)},
                            {DNNL_ARG_SCALE, memory(bp.stat, ctx.eng, gamma)},
                            {DNNL_ARG_SHIFT, memory(bp.stat, ctx.eng, beta)},
                            {DNNL_ARG_MEAN, memory(bp.stat, ctx.eng, mean)},
                            {DNNL_ARG_VARIANCE, memory(bp.stat, ctx.eng, var)},
                            {DNNL_ARG_SCRATCHPAD, ctx.scratchMemory(bp.fwdScratch)}});
  ctx.strm.wait();
  return info.Env().Undefined();
}

// batchNormBackward(params [N,H,W,C], x, dy, gamma, mean, variance, eps, dx, dgamma, dbeta)
Napi::Value BatchNormBackward(Context& ctx, const Napi::CallbackInfo& info) {
  const int32_t* p = i32Arg(info, 0, 4, "params");
  const size_t n = size_t(p[0]) * p[1] * p[2] * p[3], c = p[3];
  float* x = f32Arg(info, 1, n, "x");
  float* dy = f32Arg(info, 2, n, "dy");
  float* gamma = f32Arg(info, 3, c, "gamma");
  float* mean = f32Arg(info, 4, c, "mean");
  float* var = f32Arg(info, 5, c, "variance");
  const float eps = info[6].As<Napi::Number>().FloatValue();
  float* dx = f32Arg(info, 7, n, "dx");
  float* dgamma = f32Arg(info, 8, c, "dgamma");
  float* dbeta = f32Arg(info, 9, c, "dbeta");
  BatchNormPrim& bp = lookup(ctx, p, eps, true);
  bp.bwd.execute(ctx.strm, {{DNNL_ARG_SRC, memory(bp.data, ctx.eng, x)},
                            {DNNL_ARG_DIFF_DST, memory(bp.data, ctx.eng, dy)},
                            {DNNL_ARG_SCALE, memory(bp.stat, ctx.eng, gamma)},
                            // oneDNN counts the shift as an input of the backward pass although the
                            // gradient does not depend on it (it would with a fused ReLU); beta's value
                            // is never read here, so the scale buffer stands in for it.
                            {DNNL_ARG_SHIFT, memory(bp.stat, ctx.eng, gamma)},
                            {DNNL_ARG_MEAN, memory(bp.stat, ctx.eng, mean)},
                            {DNNL_ARG_VARIANCE, memory(bp.stat, ctx.eng, var)},
                            {DNNL_ARG_DIFF_SRC, memory(bp.data, ctx.eng, dx)},
                            {DNNL_ARG_DIFF_SCALE, memory(bp.stat, ctx.eng, dgamma)},
                            {DNNL_ARG_DIFF_SHIFT, memory(bp.stat, ctx.eng, dbeta)},
                            {DNNL_ARG_SCRATCHPAD, ctx.scratchMemory(bp.bwdScratch)}});
  ctx.strm.wait();
  return info.Env().Undefined();
}

}  // namespace ablate
