// Sum/max/min along an axis viewed as (outer, n, inner), and the sum of
// squares behind gradient-norm clipping.
// Part of impl.h: included inside a per-ISA namespace.

static inline float pick_nan(float acc, float v, int op) {
  if (v != v) return v;
  if (acc != acc) return acc;
  return op == 1 ? (v > acc ? v : acc) : (v < acc ? v : acc);
}

static float reduce_row(int op, const float* x, long n) {
  if (op == 0) return (float)sum_d(x, n);
  const float init = op == 1 ? -__builtin_inff() : __builtin_inff();
  vf acc = vset1(init);
  long i = 0;
  for (; i + W <= n; i += W) {
    vf v = vload(x + i);
    acc = op == 1 ? vsel(vmor(vgt(v, acc), visnan(v)), v, acc) : vsel(vmor(vlt(v, acc), visnan(v)), v, acc);
  }
  float lanes[W];
  vstore(lanes, acc);
  float r = init;
  for (int l = 0; l < W; ++l) r = pick_nan(r, lanes[l], op);
  for (; i < n; ++i) r = pick_nan(r, x[i], op);
  return r;
}

static void k_reduce(int op, const float* x, float* out, long outer, long n, long inner) {
  if (inner == 1) {
    auto body = [&](long o0, long o1) {
      for (long o = o0; o < o1; ++o) out[o] = reduce_row(op, x + o * n, n);
    };
    par_range(outer, 0.15 * (double)n + 2.0, body);
    return;
  }
  const long CH = 512, nch = (inner + CH - 1) / CH;
  if (op == 0 && outer == 1 && n >= 128) {
    // Column sums of a tall matrix (bias gradients): fixed blocks of rows
    // summed in double in parallel, then the blocks added in order, so the
    // result does not depend on the thread count.
    const long RB = 64, nb = (n + RB - 1) / RB;
    double* part = tl_red.d((size_t)nb * inner);
    auto blocks = [&](long t0, long t1) {
      for (long t = t0; t < t1; ++t) {
        const long blk = t / nch, j0 = (t % nch) * CH, len = lmin(CH, inner - j0);
        double* acc = part + blk * inner + j0;
        for (long j = 0; j < len; ++j) acc[j] = 0.0;
        for (long r = blk * RB; r < lmin(n, (blk + 1) * RB); ++r) {
          const float* row = x + r * inner + j0;
          for (long j = 0; j < len; ++j) acc[j] += (double)row[j];
        }
      }
    };
    par_range(nb * nch, 0.15 * (double)RB * (double)lmin(CH, inner) + 2.0, blocks);
    auto cols = [&](long j0, long j1) {
      for (long j = j0; j < j1; ++j) {
        double sum = 0.0;
        for (long blk = 0; blk < nb; ++blk) sum += part[blk * inner + j];
        out[j] = (float)sum;
      }
    };
    par_range(inner, 0.5 * (double)nb + 1.0, cols);
    return;
  }
  auto body = [&](long t0, long t1) {
    double accd[CH];
    float accf[CH];
    for (long t = t0; t < t1; ++t) {
      long o = t / nch, j0 = (t % nch) * CH, len = lmin(CH, inner - j0);
      const float* base = x + o * n * inner + j0;
      float* dst = out + o * inner + j0;
      if (op == 0) {
        for (long j = 0; j < len; ++j) accd[j] = 0.0;
        for (long r = 0; r < n; ++r) {
          const float* row = base + r * inner;
          for (long j = 0; j < len; ++j) accd[j] += (double)row[j];
        }
        for (long j = 0; j < len; ++j) dst[j] = (float)accd[j];
      } else {
        const float init = op == 1 ? -__builtin_inff() : __builtin_inff();
        for (long j = 0; j < len; ++j) accf[j] = init;
        for (long r = 0; r < n; ++r) {
          const float* row = base + r * inner;
          long j = 0;
          for (; j + W <= len; j += W) {
            vf v = vload(row + j), a = vload(accf + j);
            a = op == 1 ? vsel(vmor(vgt(v, a), visnan(v)), v, a) : vsel(vmor(vlt(v, a), visnan(v)), v, a);
            vstore(accf + j, a);
          }
          for (; j < len; ++j) accf[j] = pick_nan(accf[j], row[j], op);
        }
        for (long j = 0; j < len; ++j) dst[j] = accf[j];
      }
    }
  };
  par_range(outer * nch, 0.15 * (double)n * (double)lmin(CH, inner) + 2.0, body);
}

static double k_sumsq(const float* x, long n) {
  const long CH = 1 << 16;
  long nch = (n + CH - 1) / CH;
  if (nch <= 1) return sumsq_d(x, n);
  // Fixed chunking keeps the result independent of the thread count.
  double* part = tl_t1.d((size_t)nch);
  auto body = [&](long c0, long c1) {
    for (long c = c0; c < c1; ++c) part[c] = sumsq_d(x + c * CH, lmin(CH, n - c * CH));
  };
  par_range(nch, (double)CH * 0.05, body);
  double s = 0;
  for (long c = 0; c < nch; ++c) s += part[c];
  return s;
}
