// oneDNN's convolutions in fp32 and bf16 at the shapes of ResNet-20/56 on CIFAR (batch 128, 3x3 kernels,
// NHWC activations, the stride-2 transitions), outside ablate: which implementation oneDNN picks for each
// (a `ref` pick would mean slow emulation), the time of forward, backward-data and backward-weights, and the
// per-step totals of both networks with their ratio. bf16 here is what the native engine runs: bf16 inputs,
// fp32 outputs and weight gradients; "reorders" is the conversion of x and dy from fp32 to bf16.
// Times are the lower quartile of N executions (default 20) after one warm-up.
//
//   g++ -O2 -std=c++17 -fopenmp bench/conv-bf16.cc -ldnnl -o /tmp/conv-bf16
//   OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive /tmp/conv-bf16 40
//
// oneDNN's multi-threaded bf16 backward-weights kernel synchronises its threads with spinning barriers; on
// cores shared with other processes it is much slower than measured here, which is why the native engine
// splits that convolution over the batch itself (native/src/conv.cc).
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <string>
#include <unordered_map>
#include <algorithm>
using namespace dnnl;
using tag = memory::format_tag; using dt = memory::data_type;
engine eng(engine::kind::cpu, 0); stream strm(eng);
struct Shape { int C, OC, H, S, count20, count56; };
static memory mk(const memory::desc& md) { memory m(md, eng); if (md.get_size()) memset(m.get_data_handle(), 0, md.get_size()); return m; }
static void fillrand(memory& m) { size_t n=m.get_desc().get_size(); unsigned char* p=(unsigned char*)m.get_data_handle(); for(size_t i=0;i<n;i++) p[i]=(i*2654435761u)>>24 & 0x3f; }
template <class F> double timeit(F f, int reps) { f(); strm.wait(); std::vector<double> v; for(int i=0;i<reps;i++){double t=omp_get_wtime(); f(); strm.wait(); v.push_back(omp_get_wtime()-t);} std::sort(v.begin(),v.end()); return v[reps/4]*1e3; }
int main(int argc, char** argv) {
  int N = 128, reps = argc > 1 ? atoi(argv[1]) : 20;
  std::vector<Shape> shapes = {{3,16,32,1,1,1},{16,16,32,1,6,18},{16,32,32,2,1,1},{32,32,16,1,5,17},{32,64,16,2,1,1},{64,64,8,1,5,17}};
  double tot[2][2][3] = {}; // [model][prec][kind]
  double reo[2] = {};
  for (auto& s : shapes) {
    int OH = s.H / s.S;
    memory::dims strides{s.S,s.S}, dil{0,0}, padL{1,1}, padR{s.S==2?0:1, s.S==2?0:1};
    for (int prec = 0; prec < 2; ++prec) {
      dt adt = prec ? dt::bf16 : dt::f32;
      memory::desc src({N,s.C,s.H,s.H}, adt, tag::nhwc), dst({N,s.OC,OH,OH}, adt, tag::nhwc);
      memory::desc dstF({N,s.OC,OH,OH}, dt::f32, tag::nhwc), srcF({N,s.C,s.H,s.H}, dt::f32, tag::nhwc);
      memory::desc w({s.OC,s.C,3,3}, adt, tag::any), wF({s.OC,s.C,3,3}, dt::f32, tag::any);
      // forward: bf16 src/weights, dst f32 (fp32 at the tfjs boundary) 
      auto fd = convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, src, w, prec?dstF:dst, strides, dil, padL, padR);
      convolution_forward::primitive_desc fpd(fd, eng);
      auto bdd = convolution_backward_data::desc(algorithm::convolution_direct, prec?srcF:src, w, dst, strides, dil, padL, padR);
      convolution_backward_data::primitive_desc bdpd(bdd, eng, fpd);
      auto bwd = convolution_backward_weights::desc(algorithm::convolution_direct, src, wF, dst, strides, dil, padL, padR);
      convolution_backward_weights::primitive_desc bwpd(bwd, eng, fpd);
      convolution_forward f(fpd); convolution_backward_data bd(bdpd); convolution_backward_weights bw(bwpd);
      auto fs=mk(fpd.src_desc()), fw=mk(fpd.weights_desc()), fo=mk(fpd.dst_desc()), fsc=mk(fpd.scratchpad_desc());
      fillrand(fs); fillrand(fw);
      auto dd=mk(bdpd.diff_dst_desc()), dw=mk(bdpd.weights_desc()), ds=mk(bdpd.diff_src_desc()), dsc=mk(bdpd.scratchpad_desc());
      auto ws=mk(bwpd.src_desc()), wdd=mk(bwpd.diff_dst_desc()), wdw=mk(bwpd.diff_weights_desc()), wsc=mk(bwpd.scratchpad_desc());
      double t[3];
      t[0]=timeit([&]{f.execute(strm,{{DNNL_ARG_SRC,fs},{DNNL_ARG_WEIGHTS,fw},{DNNL_ARG_DST,fo},{DNNL_ARG_SCRATCHPAD,fsc}});},reps);
      t[1]=timeit([&]{bd.execute(strm,{{DNNL_ARG_DIFF_DST,dd},{DNNL_ARG_WEIGHTS,dw},{DNNL_ARG_DIFF_SRC,ds},{DNNL_ARG_SCRATCHPAD,dsc}});},reps);
      t[2]=timeit([&]{bw.execute(strm,{{DNNL_ARG_SRC,ws},{DNNL_ARG_DIFF_DST,wdd},{DNNL_ARG_DIFF_WEIGHTS,wdw},{DNNL_ARG_SCRATCHPAD,wsc}});},reps);
      printf("C%-2d->%-2d %2dx%-2d s%d %s fwd %7.2f ms [%s] bwd_d %7.2f ms [%s] bwd_w %7.2f ms [%s]\n", s.C,s.OC,s.H,s.H,s.S, prec?"bf16":"f32 ",
        t[0], fpd.impl_info_str(), t[1], bdpd.impl_info_str(), t[2], bwpd.impl_info_str());
      for(int k=0;k<3;k++){ tot[0][prec][k]+=t[k]*s.count20; tot[1][prec][k]+=t[k]*s.count56; }
      if (prec) {
        // conversion cost at the boundary: x f32->bf16 (fwd and bwd_w share it), dy f32->bf16 (bwd_d and bwd_w share it)
        memory xf=mk(srcF), xb=mk(src), yf=mk(dstF), yb=mk(dst);
        reorder r1(xf,xb), r2(yf,yb);
        double tr = timeit([&]{r1.execute(strm,xf,xb);},reps) + timeit([&]{r2.execute(strm,yf,yb);},reps);
        printf("   reorders f32->bf16 of x and dy: %.2f ms\n", tr);
        reo[0]+=tr*s.count20; reo[1]+=tr*s.count56;
      }
    }
  }
  const char* nm[2]={"resnet20","resnet56"};
  for(int m=0;m<2;m++){
    double f=tot[m][0][0]+tot[m][0][1]+tot[m][0][2], b=tot[m][1][0]+tot[m][1][1]+tot[m][1][2];
    printf("%s conv total per step: fp32 %.1f ms (fwd %.1f bwd_d %.1f bwd_w %.1f)  bf16 %.1f ms (fwd %.1f bwd_d %.1f bwd_w %.1f) + reorders %.1f ms => conv speedup %.2fx (%.2fx with reorders)\n",
      nm[m], f, tot[m][0][0],tot[m][0][1],tot[m][0][2], b, tot[m][1][0],tot[m][1][1],tot[m][1][2], reo[m], f/b, f/(b+reo[m]));
  }
}
