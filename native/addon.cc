// N-API entry points: argument checking, ISA selection, then a straight call
// into the chosen kernel table. Raw N-API keeps a call at a few hundred ns.
#include <node_api.h>
#include "broadcast_axes.h"

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common.h"
#include "plan.h"
#include "pool.h"

using trax::KernelTable;

static inline long lmax_(long a, long b) { return a > b ? a : b; }

static const KernelTable* g_table = nullptr;

static bool cpu_has(const char* isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (!std::strcmp(isa, "avx512"))
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("fma");
  if (!std::strcmp(isa, "avx2")) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return !std::strcmp(isa, "generic");
}

static const KernelTable* table_for(const char* isa) {
  if (!cpu_has(isa)) return nullptr;
  if (!std::strcmp(isa, "avx512")) return trax::table_avx512();
  if (!std::strcmp(isa, "avx2")) return trax::table_avx2();
  if (!std::strcmp(isa, "generic")) return trax::table_generic();
  return nullptr;
}

static const KernelTable* best_table() {
  if (const char* e = std::getenv("TRAX_ISA"))
    if (const KernelTable* t = table_for(e)) return t;
  static const char* const order[] = {"avx512", "avx2"};
  for (const char* isa : order)
    if (const KernelTable* t = table_for(isa)) return t;
  return trax::table_generic();
}

namespace {

// Reads and checks the arguments of one call. The first problem found is
// thrown as a JS Error naming the kernel; later accessors become no-ops.
struct Args {
  napi_env env;
  const char* name;
  napi_value argv[20];
  size_t argc = 20;
  bool failed = false;

  Args(napi_env e, napi_callback_info info, size_t need, const char* n) : env(e), name(n) {
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
    if (argc < need) fail("expected %zu arguments, got %zu", need, argc);
  }

  void fail(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (failed) return;
    failed = true;
    char msg[400], full[480];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    std::snprintf(full, sizeof full, "native %s: %s", name, msg);
    napi_throw_error(env, "ERR_TRAX_NATIVE_ARGS", full);
  }

  bool isNull(size_t i) {
    napi_valuetype t;
    if (napi_typeof(env, argv[i], &t) != napi_ok) return false;
    return t == napi_null || t == napi_undefined;
  }

  void* array(size_t i, const char* what, napi_typedarray_type want, long* len, bool nullable) {
    *len = 0;
    if (failed) return nullptr;
    if (nullable && isNull(i)) return nullptr;
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    // Fails with napi_invalid_arg (no pending exception) for non-typed-arrays.
    if (napi_get_typedarray_info(env, argv[i], &type, &length, &data, nullptr, nullptr) != napi_ok || type != want) {
      fail("%s must be a %s", what, want == napi_float32_array ? "Float32Array" : "Int32Array");
      return nullptr;
    }
    *len = (long)length;
    // Zero-length typed arrays may report a null data pointer.
    static float dummy[1];
    return data ? data : dummy;
  }
  float* f32(size_t i, const char* what, long* len, bool nullable = false) {
    return static_cast<float*>(array(i, what, napi_float32_array, len, nullable));
  }
  uint8_t* u8(size_t i, const char* what, long* len) {
    if (failed) return nullptr;
    if (isNull(i)) { *len = 0; return nullptr; }
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env, argv[i], &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_uint8_array) {
      fail("%s must be a Uint8Array", what);
      return nullptr;
    }
    *len = (long)length;
    static uint8_t dummy[1];
    return data ? static_cast<uint8_t*>(data) : dummy;
  }
  int32_t* i32(size_t i, const char* what, long* len) {
    return static_cast<int32_t*>(array(i, what, napi_int32_array, len, false));
  }

  double num(size_t i, const char* what) {
    if (failed) return 0;
    double v = 0;
    if (napi_get_value_double(env, argv[i], &v) != napi_ok) { fail("%s must be a number", what); return 0; }
    return v;
  }
  // Non-negative integer size (or signed when allowNeg).
  long integer(size_t i, const char* what, bool allowNeg = false) {
    double v = num(i, what);
    if (failed) return 0;
    if (!(v == std::floor(v)) || std::fabs(v) > 4503599627370496.0 || (!allowNeg && v < 0)) {
      fail("%s must be a %sinteger, got %g", what, allowNeg ? "" : "non-negative ", v);
      return 0;
    }
    return (long)v;
  }
  bool flag(size_t i, const char* what) {
    if (failed) return false;
    bool b = false;
    if (napi_get_value_bool(env, argv[i], &b) == napi_ok) return b;
    double v = 0;
    if (napi_get_value_double(env, argv[i], &v) == napi_ok) return v != 0;
    fail("%s must be a boolean", what);
    return false;
  }

  // Product of sizes with overflow guarded (sizes are far below 2^62 when valid).
  long prod(long a, long b, long c = 1) {
    long r;
    if (__builtin_mul_overflow(a, b, &r) || __builtin_mul_overflow(r, c, &r)) {
      fail("size overflow");
      return 0;
    }
    return r;
  }
  bool need(const char* what, long have, long want) {
    if (!failed && have < want) fail("%s has %ld elements, needs at least %ld", what, have, want);
    return !failed;
  }
};

napi_value undef(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value Matmul(napi_env env, napi_callback_info info) {
  Args A(env, info, 12, "matmul");
  long la, lb, lc;
  const float* a = A.f32(0, "a", &la);
  const float* b = A.f32(1, "b", &lb);
  float* c = A.f32(2, "c", &lc);
  long batch = A.integer(3, "batch"), m = A.integer(4, "m"), n = A.integer(5, "n"), k = A.integer(6, "k");
  bool ta = A.flag(7, "transA"), tb = A.flag(8, "transB");
  long sa = A.integer(9, "strideA"), sb = A.integer(10, "strideB");
  bool acc = A.flag(11, "accumulate");
  long lbias = 0, lgate = 0;
  const float* bias = A.argc > 12 ? A.f32(12, "bias", &lbias, true) : nullptr;
  const bool relu = A.argc > 13 && !A.isNull(13) && A.flag(13, "relu");
  const float* gate = A.argc > 14 ? A.f32(14, "gate", &lgate, true) : nullptr;
  const double gscale = A.argc > 15 && !A.isNull(15) ? A.num(15, "gateScale") : 1.0;
  if (A.failed) return nullptr;
  if (bias && lbias != n) { A.fail("bias has %ld values, n is %ld", lbias, n); return nullptr; }
  if (gate && lgate != A.prod(batch, m, n)) { A.fail("gate has %ld values, c needs %ld", lgate, A.prod(batch, m, n)); return nullptr; }
  if (batch == 0 || m == 0 || n == 0) return undef(env);
  long mk = A.prod(m, k), kn = A.prod(k, n), mn = A.prod(m, n);
  long needA = mk == 0 ? 0 : A.prod(batch - 1, sa) + mk, needB = kn == 0 ? 0 : A.prod(batch - 1, sb) + kn;
  if (A.failed || !A.need("a", la, needA) || !A.need("b", lb, needB) || !A.need("c", lc, A.prod(batch, mn))) {
    return nullptr;
  }
  g_table->matmul(a, b, c, batch, m, n, k, ta, tb, sa, sb, acc, bias, relu, gate, (float)gscale);
  return undef(env);
}

napi_value Unary(napi_env env, napi_callback_info info) {
  Args A(env, info, 3, "unary");
  long op = A.integer(0, "op");
  long lx, lo;
  const float* x = A.f32(1, "x", &lx);
  float* o = A.f32(2, "out", &lo);
  if (A.failed) return nullptr;
  if (op > 15) { A.fail("unknown op %ld", op); return nullptr; }
  if (lo != lx) { A.fail("out has %ld elements, x has %ld", lo, lx); return nullptr; }
  g_table->unary((int)op, x, o, lx);
  return undef(env);
}

napi_value Binary(napi_env env, napi_callback_info info) {
  Args A(env, info, 7, "binary");
  long op = A.integer(0, "op");
  long la, lb, lo, ls, las, lbs;
  const float* a = A.f32(1, "a", &la);
  const float* b = A.f32(2, "b", &lb);
  float* o = A.f32(3, "out", &lo);
  const int32_t* shape = A.i32(4, "shape", &ls);
  const int32_t* as = A.i32(5, "aStrides", &las);
  const int32_t* bs = A.i32(6, "bStrides", &lbs);
  if (A.failed) return nullptr;
  if (op > 13) { A.fail("unknown op %ld", op); return nullptr; }
  if (las != ls || lbs != ls) { A.fail("shape has rank %ld but strides have %ld and %ld entries", ls, las, lbs); return nullptr; }
  if (ls > 64) { A.fail("rank %ld is too large", ls); return nullptr; }
  long total = 1, spanA = 0, spanB = 0;
  for (long d = 0; d < ls; ++d) {
    if (shape[d] < 0 || as[d] < 0 || bs[d] < 0) { A.fail("negative shape or stride at axis %ld", d); return nullptr; }
    total = A.prod(total, shape[d]);
    if (shape[d] > 0 &&
        (__builtin_add_overflow(spanA, A.prod(shape[d] - 1, as[d]), &spanA) ||
         __builtin_add_overflow(spanB, A.prod(shape[d] - 1, bs[d]), &spanB))) {
      A.fail("size overflow");
      return nullptr;
    }
  }
  if (A.failed) return nullptr;
  if (lo != total) { A.fail("out has %ld elements, shape needs %ld", lo, total); return nullptr; }
  if (total == 0) return undef(env);
  if (!A.need("a", la, spanA + 1) || !A.need("b", lb, spanB + 1)) return nullptr;
  long sh[64], sa[64], sb[64];
  const int r = merge_binary_axes(shape, as, bs, ls, sh, sa, sb);
  if (r > 16) { A.fail("rank %d after merging axes is too large (max 16)", r); return nullptr; }
  g_table->binary((int)op, a, b, o, r, sh, sa, sb);
  return undef(env);
}

napi_value Reduce(napi_env env, napi_callback_info info) {
  Args A(env, info, 6, "reduce");
  long op = A.integer(0, "op");
  long lx, lo;
  const float* x = A.f32(1, "x", &lx);
  float* o = A.f32(2, "out", &lo);
  long outer = A.integer(3, "outer"), n = A.integer(4, "n"), inner = A.integer(5, "inner");
  if (A.failed) return nullptr;
  if (op > 2) { A.fail("unknown op %ld", op); return nullptr; }
  if (!A.need("x", lx, A.prod(outer, n, inner)) || !A.need("out", lo, A.prod(outer, inner))) return nullptr;
  if (outer == 0 || inner == 0) return undef(env);
  g_table->reduce((int)op, x, o, outer, n, inner);
  return undef(env);
}

napi_value Softmax(napi_env env, napi_callback_info info) {
  Args A(env, info, 5, "softmax");
  long lx, lo;
  const float* x = A.f32(0, "x", &lx);
  float* o = A.f32(1, "out", &lo);
  long rows = A.integer(2, "rows"), cols = A.integer(3, "cols");
  bool log = A.flag(4, "log");
  if (A.failed) return nullptr;
  long rc = A.prod(rows, cols);
  if (!A.need("x", lx, rc) || !A.need("out", lo, rc)) return nullptr;
  if (rc == 0) return undef(env);
  g_table->softmax(x, o, rows, cols, log);
  return undef(env);
}

napi_value SoftmaxBackward(napi_env env, napi_callback_info info) {
  Args A(env, info, 6, "softmaxBackward");
  long ly, ldy, ldx;
  const float* y = A.f32(0, "y", &ly);
  const float* dy = A.f32(1, "dy", &ldy);
  float* dx = A.f32(2, "dx", &ldx);
  long rows = A.integer(3, "rows"), cols = A.integer(4, "cols");
  bool log = A.flag(5, "log");
  if (A.failed) return nullptr;
  long rc = A.prod(rows, cols);
  if (!A.need("y", ly, rc) || !A.need("dy", ldy, rc) || !A.need("dx", ldx, rc)) return nullptr;
  if (rc == 0) return undef(env);
  g_table->softmax_bw(y, dy, dx, rows, cols, log);
  return undef(env);
}

napi_value LayerNorm(napi_env env, napi_callback_info info) {
  Args A(env, info, 9, "layerNorm");
  long lx, ls, lb, lo, lm, lr;
  const float* x = A.f32(0, "x", &lx);
  const float* scale = A.f32(1, "scale", &ls);
  const float* bias = A.f32(2, "bias", &lb);
  float* out = A.f32(3, "out", &lo);
  float* mean = A.f32(4, "mean", &lm);
  float* rstd = A.f32(5, "rstd", &lr);
  long rows = A.integer(6, "rows"), cols = A.integer(7, "cols");
  double eps = A.num(8, "eps");
  if (A.failed) return nullptr;
  long rc = A.prod(rows, cols);
  if (!A.need("x", lx, rc) || !A.need("out", lo, rc) || !A.need("scale", ls, cols) || !A.need("bias", lb, cols) ||
      !A.need("mean", lm, rows) || !A.need("rstd", lr, rows))
    return nullptr;
  if (rows == 0) return undef(env);
  if (cols == 0) { A.fail("cols must be positive"); return nullptr; }
  g_table->layernorm(x, scale, bias, out, mean, rstd, rows, cols, (float)eps);
  return undef(env);
}

napi_value LayerNormBackward(napi_env env, napi_callback_info info) {
  Args A(env, info, 10, "layerNormBackward");
  long ldy, lx, ls, lm, lr, ldx, lds, ldb;
  const float* dy = A.f32(0, "dy", &ldy);
  const float* x = A.f32(1, "x", &lx);
  const float* scale = A.f32(2, "scale", &ls);
  const float* mean = A.f32(3, "mean", &lm);
  const float* rstd = A.f32(4, "rstd", &lr);
  float* dx = A.f32(5, "dx", &ldx);
  float* dscale = A.f32(6, "dscale", &lds);
  float* dbias = A.f32(7, "dbias", &ldb);
  long rows = A.integer(8, "rows"), cols = A.integer(9, "cols");
  if (A.failed) return nullptr;
  long rc = A.prod(rows, cols);
  if (!A.need("dy", ldy, rc) || !A.need("x", lx, rc) || !A.need("dx", ldx, rc) || !A.need("scale", ls, cols) ||
      !A.need("dscale", lds, cols) || !A.need("dbias", ldb, cols) || !A.need("mean", lm, rows) ||
      !A.need("rstd", lr, rows))
    return nullptr;
  if (rc == 0) return undef(env);
  g_table->layernorm_bw(dy, x, scale, mean, rstd, dx, dscale, dbias, rows, cols);
  return undef(env);
}

bool check_targets(Args& A, const int32_t* t, long rows, long vocab) {
  for (long r = 0; r < rows; ++r)
    if (t[r] < 0 || t[r] >= vocab) {
      A.fail("target %d at row %ld is outside [0, %ld)", t[r], r, vocab);
      return false;
    }
  return true;
}

napi_value CrossEntropy(napi_env env, napi_callback_info info) {
  Args A(env, info, 7, "crossEntropy");
  long ll, lt, lw, lo, lp;
  const float* logits = A.f32(0, "logits", &ll);
  const int32_t* targets = A.i32(1, "targets", &lt);
  const float* weights = A.f32(2, "weights", &lw);
  float* loss = A.f32(3, "loss", &lo);
  float* logp = A.f32(4, "logp", &lp);
  long rows = A.integer(5, "rows"), vocab = A.integer(6, "vocab");
  if (A.failed) return nullptr;
  long rv = A.prod(rows, vocab);
  if (!A.need("logits", ll, rv) || !A.need("logp", lp, rv) || !A.need("targets", lt, rows) ||
      !A.need("weights", lw, rows) || !A.need("loss", lo, rows) || !check_targets(A, targets, rows, vocab))
    return nullptr;
  if (rows == 0) return undef(env);
  g_table->ce(logits, targets, weights, loss, logp, rows, vocab);
  return undef(env);
}

napi_value CrossEntropyBackward(napi_env env, napi_callback_info info) {
  Args A(env, info, 7, "crossEntropyBackward");
  long lp, lt, lw, ld, lo;
  const float* logp = A.f32(0, "logp", &lp);
  const int32_t* targets = A.i32(1, "targets", &lt);
  const float* weights = A.f32(2, "weights", &lw);
  const float* dloss = A.f32(3, "dloss", &ld);
  float* dlogits = A.f32(4, "dlogits", &lo);
  long rows = A.integer(5, "rows"), vocab = A.integer(6, "vocab");
  if (A.failed) return nullptr;
  long rv = A.prod(rows, vocab);
  if (!A.need("logp", lp, rv) || !A.need("dlogits", lo, rv) || !A.need("targets", lt, rows) ||
      !A.need("weights", lw, rows) || !A.need("dloss", ld, rows) || !check_targets(A, targets, rows, vocab))
    return nullptr;
  if (rows == 0) return undef(env);
  g_table->ce_bw(logp, targets, weights, dloss, dlogits, rows, vocab);
  return undef(env);
}

// Optional trailing layout arguments (heads, qStride, kStride, vStride,
// outStride) at argv[at..at+4]; absent means the plain (bh, l, d) layout.
// Sets *L and the element counts each operand must hold.
static bool attn_layout(Args& A, size_t at, long bh, long lq, long lk, long d, trax::AttnL* L, bool* given,
                        long* nq, long* nk, long* no) {
  *given = A.argc > at && !A.isNull(at);
  if (!*given) {
    *L = trax::AttnL{1, d, d, d, d};
    *nq = *no = A.prod(bh, lq, d); *nk = A.prod(bh, lk, d);
    return !A.failed;
  }
  if (A.argc < at + 5) { A.fail("layout needs heads, qStride, kStride, vStride and outStride"); return false; }
  long H = A.integer(at, "heads"), qs = A.integer(at + 1, "qStride"), ks = A.integer(at + 2, "kStride");
  long vs = A.integer(at + 3, "vStride"), os = A.integer(at + 4, "outStride");
  if (A.failed) return false;
  if (H < 1 || bh % H != 0) { A.fail("heads %ld must divide bh %ld", H, bh); return false; }
  long hd = A.prod(H, d);
  if (qs < hd || ks < hd || vs < hd || os < hd) { A.fail("row strides must be at least heads*d = %ld", hd); return false; }
  long B = bh / H;
  auto span = [&](long rows, long stride) { return rows == 0 ? 0 : A.prod(rows - 1, stride) + hd; };
  *L = trax::AttnL{H, qs, ks, vs, os};
  *nq = span(A.prod(B, lq), qs); *nk = lmax_(span(A.prod(B, lk), ks), span(A.prod(B, lk), vs)); *no = span(A.prod(B, lq), os);
  return !A.failed;
}

napi_value Attention(napi_env env, napi_callback_info info) {
  Args A(env, info, 14, "attention");
  long lq_, lk_, lv_, lo_, lp_, ld_, lm_;
  const float* q = A.f32(0, "q", &lq_);
  const float* k = A.f32(1, "k", &lk_);
  const float* v = A.f32(2, "v", &lv_);
  float* out = A.f32(3, "out", &lo_);
  float* probs = A.f32(4, "probs", &lp_);
  long bh = A.integer(5, "bh"), lq = A.integer(6, "lq"), lk = A.integer(7, "lk"), d = A.integer(8, "d");
  double scale = A.num(9, "scale");
  bool causal = A.flag(10, "causal");
  long offset = A.integer(11, "offset", true);
  const float* drop = A.f32(12, "dropMask", &ld_, true);
  const float* kmask = A.f32(13, "keyMask", &lm_, true);
  if (A.failed) return nullptr;
  trax::AttnL L;
  bool given;
  long nq, nk, no;
  if (!attn_layout(A, 14, bh, lq, lk, d, &L, &given, &nq, &nk, &no)) return nullptr;
  long np = A.prod(bh, lq, lk);
  if (!A.need("q", lq_, nq) || !A.need("out", lo_, no) || !A.need("k", lk_, nk) || !A.need("v", lv_, nk) ||
      !A.need("probs", lp_, np) || (drop && !A.need("dropMask", ld_, np)) ||
      (kmask && !A.need("keyMask", lm_, A.prod(bh, lk))))
    return nullptr;
  if (bh == 0 || lq == 0) return undef(env);
  g_table->attention(q, k, v, out, probs, bh, lq, lk, d, (float)scale, causal, offset, drop, kmask, given ? &L : nullptr);
  return undef(env);
}

napi_value AttentionBackward(napi_env env, napi_callback_info info) {
  Args A(env, info, 14, "attentionBackward");
  long l0, l1, l2, l3, l4, l5, l6, l7, l13;
  const float* dout = A.f32(0, "dout", &l0);
  const float* q = A.f32(1, "q", &l1);
  const float* k = A.f32(2, "k", &l2);
  const float* v = A.f32(3, "v", &l3);
  const float* probs = A.f32(4, "probs", &l4);
  float* dq = A.f32(5, "dq", &l5);
  float* dk = A.f32(6, "dk", &l6);
  float* dv = A.f32(7, "dv", &l7);
  long bh = A.integer(8, "bh"), lq = A.integer(9, "lq"), lk = A.integer(10, "lk"), d = A.integer(11, "d");
  double scale = A.num(12, "scale");
  const float* drop = A.f32(13, "dropMask", &l13, true);
  if (A.failed) return nullptr;
  trax::AttnL L;
  bool given;
  long nq, nk, no;
  if (!attn_layout(A, 14, bh, lq, lk, d, &L, &given, &nq, &nk, &no)) return nullptr;
  long np = A.prod(bh, lq, lk);
  if (!A.need("dout", l0, no) || !A.need("q", l1, nq) || !A.need("dq", l5, nq) || !A.need("k", l2, nk) ||
      !A.need("v", l3, nk) || !A.need("dk", l6, nk) || !A.need("dv", l7, nk) || !A.need("probs", l4, np) ||
      (drop && !A.need("dropMask", l13, np)))
    return nullptr;
  if (bh == 0 || d == 0) return undef(env);
  g_table->attention_bw(dout, q, k, v, probs, dq, dk, dv, bh, lq, lk, d, (float)scale, drop, given ? &L : nullptr);
  return undef(env);
}

// Axis permutation: a strided copy, no arithmetic, so it lives here rather
// than in the per-ISA tables. Output rows (all axes but the last) are split
// over the pool; a last axis that stays last is copied with memcpy.
struct PermuteCtx {
  const float* x;
  float* out;
  int r;
  long oshape[16], ostr[16];
  long rows, last, chunk;
};

static void permute_rows(void* p, long task) {
  const PermuteCtx& c = *static_cast<const PermuteCtx*>(p);
  long r0 = task * c.chunk, r1 = r0 + c.chunk < c.rows ? r0 + c.chunk : c.rows;
  if (r0 >= r1) return;
  long idx[16], base = 0, rem = r0;
  for (int a = c.r - 2; a >= 0; --a) {
    idx[a] = rem % c.oshape[a];
    rem /= c.oshape[a];
    base += idx[a] * c.ostr[a];
  }
  const long sl = c.ostr[c.r - 1];
  for (long row = r0; row < r1; ++row) {
    float* o = c.out + row * c.last;
    const float* s = c.x + base;
    if (sl == 1) std::memcpy(o, s, sizeof(float) * c.last);
    else for (long j = 0; j < c.last; ++j) o[j] = s[j * sl];
    for (int a = c.r - 2; a >= 0; --a) {
      base += c.ostr[a];
      if (++idx[a] < c.oshape[a]) break;
      base -= c.ostr[a] * c.oshape[a];
      idx[a] = 0;
    }
  }
}

void permute_run(const float* x, float* out, const int32_t* shape, const int32_t* perm, long ls, long total);

napi_value Permute(napi_env env, napi_callback_info info) {
  Args A(env, info, 4, "permute");
  long lx, lo, ls, lp;
  const float* x = A.f32(0, "x", &lx);
  float* out = A.f32(1, "out", &lo);
  const int32_t* shape = A.i32(2, "shape", &ls);
  const int32_t* perm = A.i32(3, "perm", &lp);
  if (A.failed) return nullptr;
  if (lp != ls) { A.fail("perm has %ld axes, shape %ld", lp, ls); return nullptr; }
  if (ls > 16) { A.fail("rank %ld is too large (max 16)", ls); return nullptr; }
  long total = 1;
  bool seen[16] = {false};
  for (long d = ls - 1; d >= 0; --d) {
    if (shape[d] < 0) { A.fail("negative size at axis %ld", d); return nullptr; }
    total = A.prod(total, shape[d]);
  }
  for (long i = 0; i < ls; ++i) {
    if (perm[i] < 0 || perm[i] >= ls || seen[perm[i]]) { A.fail("perm is not a permutation of %ld axes", ls); return nullptr; }
    seen[perm[i]] = true;
  }
  if (A.failed) return nullptr;
  if (lx != total || lo != total) { A.fail("x has %ld and out %ld values, shape needs %ld", lx, lo, total); return nullptr; }
  permute_run(x, out, shape, perm, ls, total);
  return undef(env);
}

// The permutation itself, on checked arguments (also run by plan replays).
void permute_run(const float* x, float* out, const int32_t* shape, const int32_t* perm, long ls, long total) {
  if (total == 0) return;
  if (ls == 0) { out[0] = x[0]; return; }
  PermuteCtx c;
  long instr[16];
  long acc = 1;
  for (long d = ls - 1; d >= 0; --d) { instr[d] = acc; acc *= shape[d]; }
  c.x = x; c.out = out; c.r = (int)ls;
  for (long i = 0; i < ls; ++i) { c.oshape[i] = shape[perm[i]]; c.ostr[i] = instr[perm[i]]; }
  c.last = c.oshape[ls - 1];
  c.rows = total / c.last;
  long tasks = total >= (1 << 15) ? trax_num_threads() : 1;
  c.chunk = (c.rows + tasks - 1) / tasks;
  if (tasks > 1) trax_parallel_for(tasks, permute_rows, &c);
  else permute_rows(&c, 0);
}

napi_value GatherRows(napi_env env, napi_callback_info info) {
  Args A(env, info, 5, "gatherRows");
  long lt, li, lo;
  const float* table = A.f32(0, "table", &lt);
  const int32_t* ids = A.i32(1, "ids", &li);
  float* out = A.f32(2, "out", &lo);
  long rows = A.integer(3, "rows"), cols = A.integer(4, "cols");
  if (A.failed) return nullptr;
  if (!A.need("table", lt, A.prod(rows, cols)) || !A.need("out", lo, A.prod(li, cols))) return nullptr;
  if (li == 0 || cols == 0) return undef(env);
  if (rows == 0) { A.fail("rows must be positive to gather %ld ids", li); return nullptr; }
  g_table->gather(table, ids, out, li, rows, cols);
  return undef(env);
}

napi_value ScatterAddRows(napi_env env, napi_callback_info info) {
  Args A(env, info, 5, "scatterAddRows");
  long lo, li, lt;
  const float* dout = A.f32(0, "dout", &lo);
  const int32_t* ids = A.i32(1, "ids", &li);
  float* dtable = A.f32(2, "dtable", &lt);
  long rows = A.integer(3, "rows"), cols = A.integer(4, "cols");
  if (A.failed) return nullptr;
  if (!A.need("dtable", lt, A.prod(rows, cols)) || !A.need("dout", lo, A.prod(li, cols))) return nullptr;
  if (li == 0 || cols == 0) return undef(env);
  if (rows == 0) { A.fail("rows must be positive to scatter %ld ids", li); return nullptr; }
  g_table->scatter(dout, ids, dtable, li, rows, cols);
  return undef(env);
}

napi_value Adam(napi_env env, napi_callback_info info) {
  Args A(env, info, 10, "adam");
  long lw, lg, lm, lv;
  float* w = A.f32(0, "w", &lw);
  const float* g = A.f32(1, "g", &lg);
  float* m = A.f32(2, "m", &lm);
  float* v = A.f32(3, "v", &lv);
  double lr = A.num(4, "lr"), b1 = A.num(5, "b1"), b2 = A.num(6, "b2"), eps = A.num(7, "eps"), wd = A.num(8, "wd");
  double step = A.num(9, "step");
  if (A.failed) return nullptr;
  if (!A.need("g", lg, lw) || !A.need("m", lm, lw) || !A.need("v", lv, lw)) return nullptr;
  double t = step + 1;
  double c1 = 1 - std::pow(b1, t), c2 = 1 - std::pow(b2, t);
  g_table->adam(w, g, m, v, lw, (float)lr, (float)b1, (float)b2, (float)(1 - b1), (float)(1 - b2), (float)eps,
                (float)(1 - wd), (float)c1, (float)c2);
  return undef(env);
}

napi_value Adafactor(napi_env env, napi_callback_info info) {
  Args A(env, info, 18, "adafactor");
  long lw, lg, lvr, lvc, lv, lm;
  float* w = A.f32(0, "w", &lw);
  const float* g = A.f32(1, "g", &lg);
  float* vr = A.f32(2, "vr", &lvr, true);
  float* vc = A.f32(3, "vc", &lvc, true);
  float* v = A.f32(4, "v", &lv, true);
  float* m = A.f32(5, "m", &lm, true);
  long batch = A.integer(6, "batch"), rows = A.integer(7, "rows"), cols = A.integer(8, "cols");
  double lr = A.num(9, "lr"), decay = A.num(10, "decay"), eps1 = A.num(11, "eps1"), eps2 = A.num(12, "eps2");
  double clip = A.num(13, "clipThreshold");
  bool mul = A.flag(14, "multiplyByParameterScale"), doClip = A.flag(15, "doClipping");
  double beta1 = A.num(16, "beta1"), wd = A.num(17, "wd");
  if (A.failed) return nullptr;
  if (!A.need("g", lg, lw) || (m && !A.need("m", lm, lw))) return nullptr;
  if (lw == 0) return undef(env);
  if (vr && vc) {
    if (A.prod(batch, rows, cols) != lw) {
      A.fail("batch*rows*cols = %ld*%ld*%ld does not match w (%ld elements)", batch, rows, cols, lw);
      return nullptr;
    }
    if (!A.need("vr", lvr, A.prod(batch, rows)) || !A.need("vc", lvc, A.prod(batch, cols))) return nullptr;
    v = nullptr;
  } else if (v) {
    if (!A.need("v", lv, lw)) return nullptr;
    vr = vc = nullptr;
    batch = 1; rows = 1; cols = lw;
  } else {
    A.fail("need either (vr, vc) or v");
    return nullptr;
  }
  g_table->adafactor(w, g, vr, vc, v, m, batch, rows, cols, lr, decay, eps1, eps2, clip, mul, doClip, beta1, wd);
  return undef(env);
}


// Dropout masks: Threefry words in JAX's layout, made by the ISA table.
napi_value DropoutMask(napi_env env, napi_callback_info info) {
  Args A(env, info, 5, "dropoutMask");
  const double k0 = A.num(0, "k0"), k1 = A.num(1, "k1"), keep = A.num(2, "keep"), scale = A.num(3, "scale");
  long n;
  float* out = A.f32(4, "out", &n);
  if (A.failed) return nullptr;
  long nx = 0, nm = 0;
  const float* x = (A.argc > 5) ? A.f32(5, "x", &nx, true) : nullptr;
  uint8_t* keepMask = (A.argc > 6) ? A.u8(6, "keepMask", &nm) : nullptr;
  if (A.failed) return nullptr;
  if (x && nx != n) { A.fail("x has %ld values but out has %ld", nx, n); return nullptr; }
  if (keepMask && nm != n) { A.fail("keepMask has %ld values but out has %ld", nm, n); return nullptr; }
  const uint32_t K0 = (uint32_t)(int64_t)k0, K1 = (uint32_t)(int64_t)k1;
  if (!(keep > 0.0 && keep <= 1.0)) { A.fail("keep must be in (0, 1], got %g", keep); return nullptr; }
  g_table->dropout(K0, K1, keep, (float)scale, out, n, x, keepMask);
  return undef(env);
}

napi_value DropoutApply(napi_env env, napi_callback_info info) {
  Args A(env, info, 4, "dropoutApply");
  long nm, nx, no;
  const uint8_t* m = A.u8(0, "keepMask", &nm);
  const double scale = A.num(1, "scale");
  const float* x = A.f32(2, "x", &nx);
  float* out = A.f32(3, "out", &no);
  if (A.failed) return nullptr;
  if (nm != nx || no != nx) { A.fail("keepMask has %ld, x %ld and out %ld values", nm, nx, no); return nullptr; }
  if (nx > 0) g_table->dropout_apply(m, (float)scale, x, out, nx);
  return undef(env);
}

napi_value SumSquares(napi_env env, napi_callback_info info) {
  Args A(env, info, 1, "sumSquares");
  long lx;
  const float* x = A.f32(0, "x", &lx);
  if (A.failed) return nullptr;
  napi_value r;
  napi_create_double(env, lx ? g_table->sumsq(x, lx) : 0.0, &r);
  return r;
}

napi_value Threads(napi_env env, napi_callback_info) {
  napi_value r;
  napi_create_int32(env, trax::pool_threads(), &r);
  return r;
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args A(env, info, 1, "setThreads");
  double n = A.num(0, "n");
  if (A.failed) return nullptr;
  if (!(n >= 1)) n = 1;
  trax::pool_set_threads(n > 256 ? 256 : (int)n);
  return undef(env);
}

napi_value Isa(napi_env env, napi_callback_info) {
  napi_value r;
  napi_create_string_utf8(env, g_table->isa, NAPI_AUTO_LENGTH, &r);
  return r;
}

// Test hook: switch to another ISA this CPU supports. Returns success.
napi_value SetIsa(napi_env env, napi_callback_info info) {
  Args A(env, info, 1, "setIsa");
  char buf[32] = {0};
  size_t len = 0;
  if (napi_get_value_string_utf8(env, A.argv[0], buf, sizeof buf, &len) != napi_ok) {
    A.fail("name must be a string");
    return nullptr;
  }
  const KernelTable* t = table_for(buf);
  if (t) g_table = t;
  napi_value r;
  napi_get_boolean(env, t != nullptr, &r);
  return r;
}

napi_value Init(napi_env env, napi_value exports) {
  if (!g_table) g_table = best_table();
  struct Fn { const char* name; napi_callback cb; };
  static const Fn fns[] = {
    {"matmul", Matmul}, {"unary", Unary}, {"binary", Binary}, {"reduce", Reduce}, {"softmax", Softmax},
    {"softmaxBackward", SoftmaxBackward}, {"layerNorm", LayerNorm}, {"layerNormBackward", LayerNormBackward},
    {"crossEntropy", CrossEntropy}, {"crossEntropyBackward", CrossEntropyBackward}, {"attention", Attention},
    {"attentionBackward", AttentionBackward}, {"gatherRows", GatherRows}, {"scatterAddRows", ScatterAddRows},
    {"adam", Adam}, {"adafactor", Adafactor}, {"sumSquares", SumSquares}, {"dropoutMask", DropoutMask}, {"dropoutApply", DropoutApply}, {"permute", Permute}, {"threads", Threads},
    {"setThreads", SetThreads}, {"isa", Isa}, {"setIsa", SetIsa},
    {"planCreate", trax::PlanCreate}, {"planRun", trax::PlanRun},
  };
  for (const Fn& f : fns) {
    napi_value fn;
    if (napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, nullptr, &fn) != napi_ok) return nullptr;
    if (napi_set_named_property(env, exports, f.name, fn) != napi_ok) return nullptr;
  }
  return exports;
}

}  // namespace

namespace trax {
const KernelTable* active_table() { return g_table; }
void permute(const float* x, float* out, const int32_t* shape, const int32_t* perm, long rank, long total) {
  permute_run(x, out, shape, perm, rank, total);
}
}  // namespace trax

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
