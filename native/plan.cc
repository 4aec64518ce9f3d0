// Plan executor for fastmath.jit replays. planCreate decodes the serialised
// plan (src/engine/plan.ts documents the format) once: kernel ids, literal
// attributes, pointers to the plan's own buffers. planRun binds this call's
// input arrays and dynamic scalars, then runs every step straight into the
// kernel table, with the same argument conversions as the per-kernel entry
// points in addon.cc, so a replay computes exactly what eager calls compute.
// Sizes were checked when the plan was traced (each kernel then ran through
// its checked entry point); a replay checks what depends on the data: input
// sizes and cross-entropy targets.
#include "plan.h"
#include "broadcast_axes.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

namespace trax {
namespace {

enum Kernel {
  kMatmul, kUnary, kBinary, kReduce, kSoftmax, kSoftmaxBw, kLayerNorm, kLayerNormBw, kCrossEntropy,
  kCrossEntropyBw, kAttention, kAttentionBw, kGatherRows, kScatterAddRows, kAdam, kAdafactor, kDropoutMask,
  kDropoutApply, kPermute, kSumSquares, kFill, kCopyStrided, kCast, kOneHot, kKernelCount
};
static const char* const kNames[] = {
  "matmul", "unary", "binary", "reduce", "softmax", "softmaxBackward", "layerNorm", "layerNormBackward",
  "crossEntropy", "crossEntropyBackward", "attention", "attentionBackward", "gatherRows", "scatterAddRows",
  "adam", "adafactor", "dropoutMask", "dropoutApply", "permute", "sumSquares", "fill", "copyStrided", "cast", "oneHot",
};

// JavaScript's ToInt32 (what storing a number into an Int32Array does).
int32_t to_int32(double d) {
  if (!std::isfinite(d)) return 0;
  double t = std::trunc(d);
  double m = std::fmod(t, 4294967296.0);
  if (m < 0) m += 4294967296.0;
  return (int32_t)(uint32_t)m;
}

enum Tag { tNull = 0, tNum = 1, tBool = 2, tDyn = 3, tBuf = 4, tInput = 5, tMeta = 6 };

struct Arg {
  int tag;
  double num;   // tNum, tBool
  long idx;     // tDyn slot, tBuf buffer, tInput slot, tMeta offset
  long off;     // byte offset (tBuf, tInput)
  long bytes;   // byte length (tBuf, tInput), element count (tMeta)
};

struct Step { int kernel; long first; int nargs; };

struct PlanData {
  std::vector<Step> steps;
  std::vector<Arg> args;
  std::vector<uint8_t*> bufs;
  std::vector<int32_t> meta;
  std::vector<long> inputBytes;  // largest extent each input must cover
  long nInputs = 0, nScalars = 0;
};

// One argument resolved for this run.
struct Val {
  bool null;
  double num;
  uint8_t* ptr;
  long bytes;
  const int32_t* meta;
};

void throw_error(napi_env env, const char* msg) { napi_throw_error(env, "ERR_TRAX_PLAN", msg); }

bool typed(napi_env env, napi_value v, void** data, size_t* bytes) {
  napi_typedarray_type type;
  size_t length = 0;
  napi_value ab;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, v, &type, &length, data, &ab, &offset) != napi_ok) return false;
  size_t el = (type == napi_float32_array || type == napi_int32_array || type == napi_uint32_array) ? 4
              : (type == napi_float64_array) ? 8 : 1;
  *bytes = length * el;
  static uint8_t dummy[8];
  if (!*data) *data = dummy;
  return true;
}

void finalize(napi_env, void* data, void*) { delete static_cast<PlanData*>(data); }

// Runs one step on resolved arguments; returns an error message or null.
const char* run_step(const KernelTable* T, int kernel, const Val* v, int n, char* msg, size_t msgLen) {
  auto F = [&](int i) { return reinterpret_cast<float*>(v[i].ptr); };
  auto I = [&](int i) { return reinterpret_cast<const int32_t*>(v[i].ptr); };
  auto N = [&](int i) { return v[i].num; };
  auto L = [&](int i) { return (long)v[i].num; };
  auto B = [&](int i) { return !v[i].null && v[i].num != 0; };
  auto has = [&](int i) { return i < n && !v[i].null; };
  auto FO = [&](int i) { return has(i) ? F(i) : nullptr; };  // optional float array
  auto len4 = [&](int i) { return v[i].bytes / 4; };
  switch (kernel) {
    case kMatmul: {
      long batch = L(3), m = L(4), nn = L(5), k = L(6);
      if (batch == 0 || m == 0 || nn == 0) return nullptr;
      const double gscale = has(15) ? N(15) : 1.0;
      T->matmul(F(0), F(1), F(2), batch, m, nn, k, B(7), B(8), L(9), L(10), B(11), FO(12), has(13) && B(13),
                FO(14), (float)gscale);
      return nullptr;
    }
    case kUnary:
      T->unary((int)L(0), F(1), F(2), len4(1));
      return nullptr;
    case kBinary: {
      const int32_t* shape = v[4].meta;
      const int32_t* as = v[5].meta;
      const int32_t* bs = v[6].meta;
      long ls = v[4].bytes, total = 1;
      for (long d = 0; d < ls; ++d) total *= shape[d];
      if (total == 0) return nullptr;
      long sh[64], sa[64], sb[64];
      const int r = merge_binary_axes(shape, as, bs, ls, sh, sa, sb);
      T->binary((int)L(0), F(1), F(2), F(3), r, sh, sa, sb);
      return nullptr;
    }
    case kReduce:
      if (L(3) == 0 || L(5) == 0) return nullptr;
      T->reduce((int)L(0), F(1), F(2), L(3), L(4), L(5));
      return nullptr;
    case kSoftmax:
      if (L(2) * L(3) == 0) return nullptr;
      T->softmax(F(0), F(1), L(2), L(3), B(4));
      return nullptr;
    case kSoftmaxBw:
      if (L(3) * L(4) == 0) return nullptr;
      T->softmax_bw(F(0), F(1), F(2), L(3), L(4), B(5));
      return nullptr;
    case kLayerNorm:
      if (L(6) == 0) return nullptr;
      T->layernorm(F(0), F(1), F(2), F(3), F(4), F(5), L(6), L(7), (float)N(8));
      return nullptr;
    case kLayerNormBw:
      if (L(8) * L(9) == 0) return nullptr;
      T->layernorm_bw(F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), L(8), L(9));
      return nullptr;
    case kCrossEntropy:
    case kCrossEntropyBw: {
      const bool fw = kernel == kCrossEntropy;
      const long rows = L(5), vocab = L(6);
      const int32_t* t = I(1);
      for (long r = 0; r < rows; ++r)
        if (t[r] < 0 || t[r] >= vocab) {
          std::snprintf(msg, msgLen, "target %d at row %ld is outside [0, %ld)", t[r], r, vocab);
          return msg;
        }
      if (rows == 0) return nullptr;
      if (fw) T->ce(F(0), t, F(2), F(3), F(4), rows, vocab);
      else T->ce_bw(F(0), t, F(2), F(3), F(4), rows, vocab);
      return nullptr;
    }
    case kAttention: {
      long bh = L(5), lq = L(6), lk = L(7), d = L(8);
      if (bh == 0 || lq == 0) return nullptr;
      AttnL lay{1, d, d, d, d};
      const bool given = has(14);
      if (given) lay = AttnL{L(14), L(15), L(16), L(17), L(18)};
      T->attention(F(0), F(1), F(2), F(3), F(4), bh, lq, lk, d, (float)N(9), B(10), L(11), FO(12), FO(13),
                   given ? &lay : nullptr);
      return nullptr;
    }
    case kAttentionBw: {
      long bh = L(8), lq = L(9), lk = L(10), d = L(11);
      if (bh == 0 || d == 0) return nullptr;
      AttnL lay{1, d, d, d, d};
      const bool given = has(14);
      if (given) lay = AttnL{L(14), L(15), L(16), L(17), L(18)};
      T->attention_bw(F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), bh, lq, lk, d, (float)N(12), FO(13),
                      given ? &lay : nullptr);
      return nullptr;
    }
    case kGatherRows: {
      long li = v[1].bytes / 4;
      if (li == 0 || L(4) == 0) return nullptr;
      T->gather(F(0), I(1), F(2), li, L(3), L(4));
      return nullptr;
    }
    case kScatterAddRows: {
      long li = v[1].bytes / 4;
      if (li == 0 || L(4) == 0) return nullptr;
      T->scatter(F(0), I(1), F(2), li, L(3), L(4));
      return nullptr;
    }
    case kAdam: {
      const double lr = N(4), b1 = N(5), b2 = N(6), eps = N(7), wd = N(8), step = N(9);
      const double t = step + 1;
      const double c1 = 1 - std::pow(b1, t), c2 = 1 - std::pow(b2, t);
      T->adam(F(0), F(1), F(2), F(3), len4(0), (float)lr, (float)b1, (float)b2, (float)(1 - b1), (float)(1 - b2),
              (float)eps, (float)(1 - wd), (float)c1, (float)c2);
      return nullptr;
    }
    case kAdafactor: {
      long lw = len4(0);
      if (lw == 0) return nullptr;
      float *vr = FO(2), *vc = FO(3), *vv = FO(4);
      long batch = L(6), rows = L(7), cols = L(8);
      if (vr && vc) vv = nullptr;
      else { vr = vc = nullptr; batch = 1; rows = 1; cols = lw; }
      T->adafactor(F(0), F(1), vr, vc, vv, FO(5), batch, rows, cols, N(9), N(10), N(11), N(12), N(13), B(14), B(15),
                   N(16), N(17));
      return nullptr;
    }
    case kDropoutMask: {
      const uint32_t k0 = (uint32_t)(int64_t)N(0), k1 = (uint32_t)(int64_t)N(1);
      const float* x = has(5) ? F(5) : nullptr;
      uint8_t* keep = has(6) ? v[6].ptr : nullptr;
      T->dropout(k0, k1, N(2), (float)N(3), F(4), len4(4), x, keep);
      return nullptr;
    }
    case kDropoutApply: {
      long nx = len4(2);
      if (nx > 0) T->dropout_apply(v[0].ptr, (float)N(1), F(2), F(3), nx);
      return nullptr;
    }
    case kPermute: {
      long rank = v[2].bytes, total = 1;
      for (long d = 0; d < rank; ++d) total *= v[2].meta[d];
      permute(F(0), F(1), v[2].meta, v[3].meta, rank, total);
      return nullptr;
    }
    // The kernels below are the TypeScript ones (src/backends/js.ts) in C++,
    // element for element, so a replay needs no call back into JavaScript.
    case kSumSquares: {
      long nx = len4(0);
      F(1)[0] = (float)(nx ? T->sumsq(F(0), nx) : 0.0);
      return nullptr;
    }
    case kFill: {
      long nout = len4(0);
      if (B(2)) {
        int32_t iv = to_int32(N(1));
        int32_t* o = reinterpret_cast<int32_t*>(v[0].ptr);
        for (long i = 0; i < nout; ++i) o[i] = iv;
      } else {
        float fv = (float)N(1);
        float* o = F(0);
        for (long i = 0; i < nout; ++i) o[i] = fv;
      }
      return nullptr;
    }
    case kCopyStrided: {
      // 4-byte elements of either dtype, copied as bits.
      const uint32_t* x = reinterpret_cast<const uint32_t*>(v[0].ptr);
      uint32_t* out = reinterpret_cast<uint32_t*>(v[1].ptr);
      const int32_t *shape = v[2].meta, *xs = v[3].meta, *os = v[5].meta;
      const long r = v[2].bytes;
      long total = 1;
      for (long d = 0; d < r; ++d) total *= shape[d];
      if (total == 0) return nullptr;
      long px = L(4), po = L(6);
      if (r == 0) { out[po] = x[px]; return nullptr; }
      const long last = shape[r - 1], sx = xs[r - 1], so = os[r - 1];
      long idx[64] = {0};
      for (long o = 0; o < total; o += last) {
        if (sx == 1 && so == 1) std::memcpy(out + po, x + px, sizeof(uint32_t) * last);
        else for (long j = 0, a = px, b = po; j < last; ++j, a += sx, b += so) out[b] = x[a];
        for (long ax = r - 2; ax >= 0; --ax) {
          idx[ax]++;
          px += xs[ax]; po += os[ax];
          if (idx[ax] < shape[ax]) break;
          px -= (long)xs[ax] * shape[ax]; po -= (long)os[ax] * shape[ax];
          idx[ax] = 0;
        }
      }
      return nullptr;
    }
    case kCast: {
      long nout = len4(1);
      if (B(2)) {
        const float* x = F(0);
        int32_t* o = reinterpret_cast<int32_t*>(v[1].ptr);
        for (long i = 0; i < nout; ++i) o[i] = to_int32((double)x[i]);
      } else {
        const int32_t* x = I(0);
        float* o = F(1);
        for (long i = 0; i < nout; ++i) o[i] = (float)x[i];
      }
      return nullptr;
    }
    case kOneHot: {
      const float* ids = F(0);
      float* out = F(1);
      const long count = L(2), depth = L(3);
      std::memset(out, 0, sizeof(float) * count * depth);
      for (long i = 0; i < count; ++i) {
        const double x = ids[i];
        if (x >= 0 && x < depth && x == std::floor(x)) out[i * depth + (long)x] = 1;
      }
      return nullptr;
    }
  }
  return "unknown kernel";
}

}  // namespace

napi_value PlanCreate(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 6) { throw_error(env, "planCreate: expected 6 arguments"); return nullptr; }
  void *pc, *pl, *pm;
  size_t bc, bl, bm;
  if (!typed(env, argv[0], &pc, &bc) || !typed(env, argv[1], &pl, &bl) || !typed(env, argv[2], &pm, &bm)) {
    throw_error(env, "planCreate: code, lits and meta must be typed arrays");
    return nullptr;
  }
  const int32_t* code = static_cast<const int32_t*>(pc);
  const long ncode = (long)(bc / 4);
  const double* lits = static_cast<const double*>(pl);
  const long nlits = (long)(bl / 8);
  auto* P = new PlanData();
  P->meta.assign(static_cast<const int32_t*>(pm), static_cast<const int32_t*>(pm) + bm / 4);
  double ni = 0, ns = 0;
  napi_get_value_double(env, argv[4], &ni);
  napi_get_value_double(env, argv[5], &ns);
  P->nInputs = (long)ni;
  P->nScalars = (long)ns;
  P->inputBytes.assign(P->nInputs, 0);
  // Buffers: typed arrays over the plan's storage (null for inputs).
  uint32_t nb = 0;
  napi_get_array_length(env, argv[3], &nb);
  std::vector<long> bufBytes(nb, 0);
  P->bufs.assign(nb, nullptr);
  for (uint32_t i = 0; i < nb; ++i) {
    napi_value e;
    napi_get_element(env, argv[3], i, &e);
    napi_valuetype t;
    napi_typeof(env, e, &t);
    if (t == napi_null || t == napi_undefined) continue;
    void* d;
    size_t b;
    if (!typed(env, e, &d, &b)) { delete P; throw_error(env, "planCreate: buffers must be typed arrays"); return nullptr; }
    P->bufs[i] = static_cast<uint8_t*>(d);
    bufBytes[i] = (long)b;
  }
  auto bad = [&](const char* what) -> napi_value {
    delete P;
    char m[200];
    std::snprintf(m, sizeof m, "planCreate: malformed plan (%s)", what);
    throw_error(env, m);
    return nullptr;
  };
  long pc_ = 0;
  while (pc_ < ncode) {
    if (pc_ + 2 > ncode) return bad("truncated step");
    Step s{code[pc_], (long)P->args.size(), code[pc_ + 1]};
    pc_ += 2;
    if (s.kernel < 0 || s.kernel >= kKernelCount || s.nargs < 0 || s.nargs > 24) return bad("kernel id");
    for (int a = 0; a < s.nargs; ++a) {
      if (pc_ >= ncode) return bad("truncated argument");
      Arg g{code[pc_++], 0, 0, 0, 0};
      switch (g.tag) {
        case tNull: break;
        case tNum:
          if (pc_ >= ncode || code[pc_] < 0 || code[pc_] >= nlits) return bad("literal index");
          g.num = lits[code[pc_++]];
          break;
        case tBool: g.num = code[pc_++] ? 1 : 0; break;
        case tDyn:
          g.idx = code[pc_++];
          if (g.idx < 0 || g.idx >= P->nScalars) return bad("scalar slot");
          break;
        case tBuf:
        case tInput:
          if (pc_ + 3 > ncode) return bad("truncated buffer");
          g.idx = code[pc_]; g.off = code[pc_ + 1]; g.bytes = code[pc_ + 2];
          pc_ += 3;
          if (g.tag == tBuf) {
            if (g.idx < 0 || g.idx >= (long)nb || !P->bufs[g.idx] || g.off < 0 || g.off + g.bytes > bufBytes[g.idx]) {
              return bad("buffer range");
            }
          } else {
            if (g.idx < 0 || g.idx >= P->nInputs) return bad("input slot");
            if (g.off + g.bytes > P->inputBytes[g.idx]) P->inputBytes[g.idx] = g.off + g.bytes;
          }
          break;
        case tMeta:
          if (pc_ + 2 > ncode) return bad("truncated metadata");
          g.idx = code[pc_]; g.bytes = code[pc_ + 1];
          pc_ += 2;
          if (g.idx < 0 || g.bytes < 0 || g.bytes > 64 || g.idx + g.bytes > (long)P->meta.size()) return bad("metadata range");
          break;
        default: return bad("argument tag");
      }
      P->args.push_back(g);
    }
    P->steps.push_back(s);
  }
  napi_value ext;
  if (napi_create_external(env, P, finalize, nullptr, &ext) != napi_ok) { delete P; return nullptr; }
  return ext;
}

napi_value PlanRun(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  PlanData* P = nullptr;
  if (argc < 3 || napi_get_value_external(env, argv[0], reinterpret_cast<void**>(&P)) != napi_ok || !P) {
    throw_error(env, "planRun: expected (plan, inputs, scalars)");
    return nullptr;
  }
  std::vector<uint8_t*> in(P->nInputs, nullptr);
  for (long i = 0; i < P->nInputs; ++i) {
    napi_value e;
    void* d;
    size_t b;
    if (napi_get_element(env, argv[1], (uint32_t)i, &e) != napi_ok || !typed(env, e, &d, &b)) {
      throw_error(env, "planRun: inputs must be typed arrays");
      return nullptr;
    }
    if ((long)b < P->inputBytes[i]) {
      char m[160];
      std::snprintf(m, sizeof m, "planRun: input %ld has %zu bytes, the plan reads %ld", i, b, P->inputBytes[i]);
      throw_error(env, m);
      return nullptr;
    }
    in[i] = static_cast<uint8_t*>(d);
  }
  void* ps;
  size_t bs;
  if (!typed(env, argv[2], &ps, &bs) || (long)(bs / 8) < P->nScalars) {
    throw_error(env, "planRun: scalars must be a Float64Array with one value per slot");
    return nullptr;
  }
  const double* scal = static_cast<const double*>(ps);
  const KernelTable* T = active_table();
  Val vals[24];
  char msg[200];
  for (size_t si = 0; si < P->steps.size(); ++si) {
    const Step& s = P->steps[si];
    for (int a = 0; a < s.nargs; ++a) {
      const Arg& g = P->args[s.first + a];
      Val& v = vals[a];
      v.null = false; v.num = 0; v.ptr = nullptr; v.bytes = 0; v.meta = nullptr;
      switch (g.tag) {
        case tNull: v.null = true; break;
        case tNum: case tBool: v.num = g.num; break;
        case tDyn: v.num = scal[g.idx]; break;
        case tBuf: v.ptr = P->bufs[g.idx] + g.off; v.bytes = g.bytes; break;
        case tInput: v.ptr = in[g.idx] + g.off; v.bytes = g.bytes; break;
        case tMeta: v.meta = P->meta.data() + g.idx; v.bytes = g.bytes; break;
      }
    }
    if (const char* err = run_step(T, s.kernel, vals, s.nargs, msg, sizeof msg)) {
      char full[300];
      std::snprintf(full, sizeof full, "plan step %zu (%s): %s", si, kNames[s.kernel], err);
      throw_error(env, full);
      return nullptr;
    }
  }
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

}  // namespace trax
