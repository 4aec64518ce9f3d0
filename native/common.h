// Shared between the N-API glue (addon.cc, built without ISA flags) and the
// per-ISA kernel translation units. Keep this header free of inline code:
// inline functions compiled with AVX-512 flags in one TU could be picked by
// the linker for a TU that must run on any x86-64.
#pragma once
#include <cstdint>

namespace trax {
typedef void (*TaskFn)(void* ctx, long task);

// Attention operand layout (see kernels/attention.h): H heads per batch row, row strides.
struct AttnL { long H, qs, ks, vs, os; };

struct KernelTable {
  const char* isa;
  void (*matmul)(const float* a, const float* b, float* c, long batch, long m, long n, long k,
                 int ta, int tb, long sa, long sb, int acc, const float* bias, int relu, const float* gate,
                 float gscale);
  void (*unary)(int op, const float* x, float* out, long n);
  // shape/strides already collapsed; rank >= 1, out contiguous.
  void (*binary)(int op, const float* a, const float* b, float* out, int rank, const long* shape,
                 const long* as, const long* bs);
  void (*reduce)(int op, const float* x, float* out, long outer, long n, long inner);
  void (*softmax)(const float* x, float* out, long rows, long cols, int log);
  void (*softmax_bw)(const float* y, const float* dy, float* dx, long rows, long cols, int log);
  void (*layernorm)(const float* x, const float* scale, const float* bias, float* out, float* mean,
                    float* rstd, long rows, long cols, float eps);
  void (*layernorm_bw)(const float* dy, const float* x, const float* scale, const float* mean,
                       const float* rstd, float* dx, float* dscale, float* dbias, long rows, long cols);
  void (*ce)(const float* logits, const int32_t* targets, const float* weights, float* loss,
             float* logp, long rows, long vocab);
  void (*ce_bw)(const float* logp, const int32_t* targets, const float* weights, const float* dloss,
                float* dlogits, long rows, long vocab);
  void (*attention)(const float* q, const float* k, const float* v, float* out, float* probs,
                    long bh, long lq, long lk, long d, float scale, int causal, long offset,
                    const float* drop, const float* kmask, const AttnL* layout);
  void (*attention_bw)(const float* dout, const float* q, const float* k, const float* v,
                       const float* probs, float* dq, float* dk, float* dv, long bh, long lq,
                       long lk, long d, float scale, const float* drop, const AttnL* layout);
  void (*gather)(const float* table, const int32_t* ids, float* out, long nids, long rows, long cols);
  void (*scatter)(const float* dout, const int32_t* ids, float* dtable, long nids, long rows, long cols);
  // omb1 = 1-b1, omb2 = 1-b2, omwd = 1-wd: formed in double by the caller,
  // since 1 - (float)0.999 is off by 1e-5 relative.
  void (*adam)(float* w, const float* g, float* m, float* v, long n, float lr, float b1, float b2,
               float omb1, float omb2, float eps, float omwd, float c1, float c2);
  void (*adafactor)(float* w, const float* g, float* vr, float* vc, float* v, float* m, long batch,
                    long rows, long cols, double lr, double decay, double eps1, double eps2,
                    double clip, int mulScale, int doClip, double beta1, double wd);
  double (*sumsq)(const float* x, long n);
  // out[i] = scale where Threefry word i (JAX layout) passes keep, else 0.
  void (*dropout)(uint32_t k0, uint32_t k1, double keep, float scale, float* out, long n, const float* x,
                  uint8_t* keepMask);
  // out[i] = keepMask[i] ? x[i] * scale : 0
  void (*dropout_apply)(const uint8_t* keepMask, float scale, const float* x, float* out, long n);
};

const KernelTable* table_generic();
const KernelTable* table_avx2();
const KernelTable* table_avx512();
}  // namespace trax

extern "C" {
// Runs fn(ctx, t) for t in [0, ntasks) on the pool (caller participates).
// Runs inline when the pool is single-threaded, busy, or called from a task.
void trax_parallel_for(long ntasks, trax::TaskFn fn, void* ctx);
// Threads a parallel_for issued now would use (1 inside a task).
int trax_num_threads(void);
}
