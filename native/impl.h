// Kernel bodies shared by every ISA build. Included inside a per-ISA
// namespace after simd_<isa>.h and vmath.h, with TRAX_MR (GEMM micro-tile
// rows) defined. Everything here has internal linkage or lives in that
// namespace, so the copies built with different -m flags never mix.
//
// One header per kernel family, forward and backward side by side; the
// table below is the order of KernelTable in common.h.

#include "kernels/common.h"
#include "kernels/gemm.h"
#include "kernels/elementwise.h"
#include "kernels/reductions.h"
#include "kernels/norm.h"
#include "kernels/attention.h"
#include "kernels/gather.h"
#include "kernels/optimizers.h"
#include "kernels/random.h"

static const KernelTable kTable = {
  TRAX_ISA_NAME, k_matmul, k_unary, k_binary, k_reduce, k_softmax, k_softmax_bw, k_layernorm, k_layernorm_bw,
  k_ce, k_ce_bw, k_attention, k_attention_bw, k_gather, k_scatter, k_adam, k_adafactor, k_sumsq, k_dropout,
  k_dropout_apply,
};
