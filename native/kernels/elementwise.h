// Unary and broadcasting binary ops (op codes shared with
// src/backends/kernels.ts).
// Part of impl.h: included inside a per-ISA namespace.

enum { U_NEG, U_EXP, U_LOG, U_TANH, U_SQRT, U_RSQRT, U_RELU, U_GELU, U_SIGMOID, U_ABS, U_SQUARE,
       U_FASTGELU, U_RECIP, U_SIGN, U_SOFTPLUS, U_ERF };
enum { B_ADD, B_SUB, B_MUL, B_DIV, B_MAX, B_MIN, B_POW, B_EQ, B_NE, B_LT, B_LE, B_GT, B_GE, B_PASSPOS };

#define TRAX_MAP(EXPR)                                                         \
  {                                                                            \
    long i = 0;                                                                \
    for (; i + W <= n; i += W) { vf v = vload(x + i); vstore(y + i, EXPR); }   \
    if (i < n) { vf v = vloadn(x + i, n - i); vstoren(y + i, EXPR, n - i); }   \
  }                                                                            \
  break;

static void unary_range(int op, const float* x, float* y, long n) {
  const vf one = vset1(1.f), zero = vzero();
  switch (op) {
    case U_NEG: TRAX_MAP(vneg(v))
    case U_EXP: TRAX_MAP(vexp(v))
    case U_LOG: TRAX_MAP(vlog(v))
    case U_TANH: TRAX_MAP(vtanh(v))
    case U_SQRT: TRAX_MAP(vsqrt(v))
    case U_RSQRT: TRAX_MAP(vdiv(one, vsqrt(v)))
    case U_RELU: TRAX_MAP(vsel(vgt(v, zero), v, zero))
    case U_GELU: TRAX_MAP(vgelu(v))
    case U_SIGMOID: TRAX_MAP(vsigmoid(v))
    case U_ABS: TRAX_MAP(vabs(v))
    case U_SQUARE: TRAX_MAP(vmul(v, v))
    case U_FASTGELU: TRAX_MAP(vfastgelu(v))
    case U_RECIP: TRAX_MAP(vdiv(one, v))
    case U_SIGN: TRAX_MAP(vsel(vgt(v, zero), one, vsel(vlt(v, zero), vneg(one), zero)))
    case U_SOFTPLUS: TRAX_MAP(vsel(vgt(v, vset1(20.f)), v, vlog1p(vexp(v))))
    case U_ERF: TRAX_MAP(verf(v))
    default: break;
  }
}
#undef TRAX_MAP

static void k_unary(int op, const float* x, float* y, long n) {
  double cost = (op == U_NEG || op == U_ABS || op == U_SQUARE || op == U_RELU || op == U_SIGN) ? 0.15
                : (op == U_SQRT || op == U_RSQRT || op == U_RECIP) ? 0.3 : 1.0;
  auto body = [&](long i0, long i1) { unary_range(op, x + i0, y + i0, i1 - i0); };
  par_range(n, cost, body, 64);
}

template <int OP> static inline vf bop(vf a, vf b) {
  switch (OP) {
    case B_ADD: return vadd(a, b);
    case B_SUB: return vsub(a, b);
    case B_MUL: return vmul(a, b);
    case B_DIV: return vdiv(a, b);
    case B_MAX: return vsel(vmor(vgt(a, b), visnan(a)), a, b);
    case B_MIN: return vsel(vmor(vlt(a, b), visnan(a)), a, b);
    case B_EQ: return vmask01(veq(a, b));
    case B_NE: return vmask01(vne(a, b));
    case B_LT: return vmask01(vlt(a, b));
    case B_LE: return vmask01(vle(a, b));
    case B_GT: return vmask01(vgt(a, b));
    case B_PASSPOS: return vsel(vgt(b, vzero()), a, vzero());
    default: return vmask01(vge(a, b));
  }
}
template <int OP> static inline float bops(float a, float b) {
  switch (OP) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_MAX: return (a > b || a != a) ? a : b;
    case B_MIN: return (a < b || a != a) ? a : b;
    case B_POW: return __builtin_powf(a, b);
    case B_EQ: return a == b ? 1.f : 0.f;
    case B_NE: return a != b ? 1.f : 0.f;
    case B_LT: return a < b ? 1.f : 0.f;
    case B_LE: return a <= b ? 1.f : 0.f;
    case B_PASSPOS: return b > 0.f ? a : 0.f;
    case B_GT: return a > b ? 1.f : 0.f;
    default: return a >= b ? 1.f : 0.f;
  }
}

template <int OP>
static void binary_inner(const float* a, long sa, const float* b, long sb, float* o, long L) {
  long i = 0;
  if (OP != B_POW) {
    if (sa == 1 && sb == 1) {
      for (; i + W <= L; i += W) vstore(o + i, bop<OP>(vload(a + i), vload(b + i)));
      if (i < L) vstoren(o + i, bop<OP>(vloadn(a + i, L - i), vloadn(b + i, L - i)), L - i);
      return;
    }
    if (sa == 1 && sb == 0) {
      vf bv = vset1(b[0]);
      for (; i + W <= L; i += W) vstore(o + i, bop<OP>(vload(a + i), bv));
      if (i < L) vstoren(o + i, bop<OP>(vloadn(a + i, L - i), bv), L - i);
      return;
    }
    if (sa == 0 && sb == 1) {
      vf av = vset1(a[0]);
      for (; i + W <= L; i += W) vstore(o + i, bop<OP>(av, vload(b + i)));
      if (i < L) vstoren(o + i, bop<OP>(av, vloadn(b + i, L - i)), L - i);
      return;
    }
  }
  for (; i < L; ++i) o[i] = bops<OP>(a[i * sa], b[i * sb]);
}

typedef void (*BinInner)(const float*, long, const float*, long, float*, long);

static void k_binary(int op, const float* a, const float* b, float* out, int rank, const long* shape,
                     const long* as, const long* bs) {
  static const BinInner fns[14] = {binary_inner<0>, binary_inner<1>, binary_inner<2>, binary_inner<3>,
                                   binary_inner<4>, binary_inner<5>, binary_inner<6>, binary_inner<7>,
                                   binary_inner<8>, binary_inner<9>, binary_inner<10>, binary_inner<11>,
                                   binary_inner<12>, binary_inner<13>};
  BinInner f = fns[op];
  const long L = shape[rank - 1], sa = as[rank - 1], sb = bs[rank - 1];
  long outer = 1;
  for (int d = 0; d < rank - 1; ++d) outer *= shape[d];
  // Memory-bound: worth a second thread from ~75k elements (cold operands).
  const double cost = op == B_POW ? 5.0 : 0.4;
  if (outer == 1) {
    auto body = [&](long i0, long i1) { f(a + i0 * sa, sa, b + i0 * sb, sb, out + i0, i1 - i0); };
    par_range(L, cost, body, 64);
    return;
  }
  auto body = [&](long o0, long o1) {
    long idx[16];
    long ia = 0, ib = 0, rem = o0;
    for (int d = rank - 2; d >= 0; --d) {
      idx[d] = rem % shape[d]; rem /= shape[d];
      ia += idx[d] * as[d]; ib += idx[d] * bs[d];
    }
    for (long o = o0; o < o1; ++o) {
      f(a + ia, sa, b + ib, sb, out + o * L, L);
      for (int d = rank - 2; d >= 0; --d) {
        ++idx[d]; ia += as[d]; ib += bs[d];
        if (idx[d] < shape[d]) break;
        ia -= as[d] * shape[d]; ib -= bs[d] * shape[d]; idx[d] = 0;
      }
    }
  };
  par_range(outer, cost * (double)L + 2.0, body);
}
