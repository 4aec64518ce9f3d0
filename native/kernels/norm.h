// Softmax and log-softmax, layer norm and cross-entropy, each forward next to
// its backward.
// Part of impl.h: included inside a per-ISA namespace.

static float row_max(const float* x, long n) {
  vf mv = vset1(-__builtin_inff());
  long i = 0;
  for (; i + W <= n; i += W) mv = vmax(vload(x + i), mv);
  float mx = hmax(mv);
  for (; i < n; ++i) if (x[i] > mx) mx = x[i];
  return mx;
}

// Sum of exp(x - mx) over a row, optionally storing the exps into y. Float
// lanes are flushed into a double every 1024 elements to bound rounding.
static double exp_sum(const float* x, float* y, long n, float mx) {
  const vf mxv = vset1(mx);
  double total = 0;
  for (long b = 0; b < n; b += 1024) {
    const long e = lmin(n, b + 1024);
    vf sv = vzero();
    long i = b;
    for (; i + W <= e; i += W) {
      vf v = vexp(vsub(vload(x + i), mxv));
      if (y) vstore(y + i, v);
      sv = vadd(sv, v);
    }
    if (i < e) {
      vf v = vsel(vfirstm(e - i), vexp(vsub(vloadn(x + i, e - i), mxv)), vzero());
      if (y) vstoren(y + i, v, e - i);
      sv = vadd(sv, v);
    }
    total += (double)hsum(sv);
  }
  return total;
}

// Softmax / log-softmax of one row; y may alias x.
static void softmax_row(const float* x, float* y, long n, bool log) {
  float mx = row_max(x, n);
  if (mx == -__builtin_inff()) mx = 0.f;
  long i = 0;
  if (log) {
    const float lse = (float)((double)mx + __builtin_log(exp_sum(x, nullptr, n, mx)));
    const vf lv = vset1(lse);
    for (; i + W <= n; i += W) vstore(y + i, vsub(vload(x + i), lv));
    for (; i < n; ++i) y[i] = x[i] - lse;
  } else {
    const vf inv = vset1((float)(1.0 / exp_sum(x, y, n, mx)));
    for (; i + W <= n; i += W) vstore(y + i, vmul(vload(y + i), inv));
    if (i < n) vstoren(y + i, vmul(vloadn(y + i, n - i), inv), n - i);
  }
}

static void k_softmax(const float* x, float* y, long rows, long cols, int log) {
  auto body = [&](long r0, long r1) {
    for (long r = r0; r < r1; ++r) softmax_row(x + r * cols, y + r * cols, cols, log != 0);
  };
  par_range(rows, 0.6 * (double)cols + 5.0, body);
}

static void k_softmax_bw(const float* y, const float* dy, float* dx, long rows, long cols, int log) {
  auto body = [&](long r0, long r1) {
    for (long r = r0; r < r1; ++r) {
      const float* yr = y + r * cols; const float* gr = dy + r * cols;
      float* o = dx + r * cols;
      long i = 0;
      if (log) {
        const vf s = vset1((float)sum_d(gr, cols));
        for (; i + W <= cols; i += W) vstore(o + i, vfnma(vexp(vload(yr + i)), s, vload(gr + i)));
        if (i < cols) { long t = cols - i; vstoren(o + i, vfnma(vexp(vloadn(yr + i, t)), s, vloadn(gr + i, t)), t); }
      } else {
        const vf s = vset1((float)dot_d(gr, yr, cols));
        for (; i + W <= cols; i += W) vstore(o + i, vmul(vload(yr + i), vsub(vload(gr + i), s)));
        if (i < cols) { long t = cols - i; vstoren(o + i, vmul(vloadn(yr + i, t), vsub(vloadn(gr + i, t), s)), t); }
      }
    }
  };
  par_range(rows, 0.5 * (double)cols + 5.0, body);
}

// mean split into hi + lo floats: (x - hi) - lo keeps x - mean accurate in
// float even when |mean| >> std.
struct MeanSplit { vf hi, lo; };
static inline MeanSplit split_mean(double mu) {
  float hi = (float)mu;
  return {vset1(hi), vset1((float)(mu - (double)hi))};
}
static inline vf centered(vf x, const MeanSplit& m) { return vsub(vsub(x, m.hi), m.lo); }

static void k_layernorm(const float* x, const float* scale, const float* bias, float* out, float* mean,
                        float* rstd, long rows, long cols, float eps) {
  auto body = [&](long r0, long r1) {
    for (long r = r0; r < r1; ++r) {
      const float* xr = x + r * cols;
      float* o = out + r * cols;
      const double mu = sum_d(xr, cols) / (double)cols;
      const MeanSplit ms = split_mean(mu);
      // Float lanes flushed to double every 1024 elements.
      double var = 0;
      for (long b = 0; b < cols; b += 1024) {
        const long e = lmin(cols, b + 1024);
        vf acc = vzero();
        long j = b;
        for (; j + W <= e; j += W) { vf d = centered(vload(xr + j), ms); acc = vfma(d, d, acc); }
        if (j < e) { vf d = vsel(vfirstm(e - j), centered(vloadn(xr + j, e - j), ms), vzero()); acc = vfma(d, d, acc); }
        var += (double)hsum(acc);
      }
      var /= (double)cols;
      const double rs = 1.0 / __builtin_sqrt(var + (double)eps);
      mean[r] = (float)mu; rstd[r] = (float)rs;
      const vf rv = vset1((float)rs);
      long j = 0;
      for (; j + W <= cols; j += W)
        vstore(o + j, vfma(vmul(centered(vload(xr + j), ms), rv), vload(scale + j), vload(bias + j)));
      if (j < cols) {
        const long t = cols - j;
        vstoren(o + j, vfma(vmul(centered(vloadn(xr + j, t), ms), rv), vloadn(scale + j, t), vloadn(bias + j, t)), t);
      }
    }
  };
  par_range(rows, 1.0 * (double)cols + 5.0, body);
}

static void k_layernorm_bw(const float* dy, const float* x, const float* scale, const float* mean,
                           const float* rstd, float* dx, float* dscale, float* dbias, long rows, long cols) {
  // Rows in fixed blocks: each block also sums its rows' dy * xhat and dy per
  // column (float, at most RB rows), and the blocks are added in order in
  // double afterwards, so the result does not depend on the thread count.
  const long RB = 32, nb = (rows + RB - 1) / RB;
  float* part = tl_ln.f((size_t)nb * cols * 2 + 2 * W);
  auto blocks = [&](long b0, long b1) {
    for (long blk = b0; blk < b1; ++blk) {
      float* ps = part + blk * cols * 2;
      float* pb = ps + cols;
      for (long j = 0; j < cols; ++j) { ps[j] = 0.f; pb[j] = 0.f; }
      for (long r = blk * RB; r < lmin(rows, (blk + 1) * RB); ++r) {
        const float* xr = x + r * cols; const float* g = dy + r * cols;
        float* o = dx + r * cols;
        const MeanSplit ms = split_mean(mean[r]);
        const vf rv = vset1(rstd[r]);
        double sg = 0, sgx = 0;
        for (long b = 0; b < cols; b += 1024) {
          const long e = lmin(cols, b + 1024);
          vf a1 = vzero(), a2 = vzero();
          long j = b;
          for (; j + W <= e; j += W) {
            vf xh = vmul(centered(vload(xr + j), ms), rv), gv = vload(g + j), gg = vmul(gv, vload(scale + j));
            a1 = vadd(a1, gg); a2 = vfma(gg, xh, a2);
            vstore(ps + j, vfma(gv, xh, vload(ps + j)));
            vstore(pb + j, vadd(gv, vload(pb + j)));
          }
          if (j < e) {
            const long t = e - j;
            vf xh = vmul(centered(vloadn(xr + j, t), ms), rv), gv = vloadn(g + j, t), gg = vmul(gv, vloadn(scale + j, t));
            a1 = vadd(a1, gg); a2 = vfma(gg, xh, a2);
            vstoren(ps + j, vfma(gv, xh, vloadn(ps + j, t)), t);
            vstoren(pb + j, vadd(gv, vloadn(pb + j, t)), t);
          }
          sg += (double)hsum(a1); sgx += (double)hsum(a2);
        }
        const vf mg = vset1((float)(sg / (double)cols)), mgx = vset1((float)(sgx / (double)cols));
        long j = 0;
        for (; j + W <= cols; j += W) {
          vf xh = vmul(centered(vload(xr + j), ms), rv), gg = vmul(vload(g + j), vload(scale + j));
          vstore(o + j, vmul(rv, vfnma(xh, mgx, vsub(gg, mg))));
        }
        if (j < cols) {
          const long t = cols - j;
          vf xh = vmul(centered(vloadn(xr + j, t), ms), rv), gg = vmul(vloadn(g + j, t), vloadn(scale + j, t));
          vstoren(o + j, vmul(rv, vfnma(xh, mgx, vsub(gg, mg))), t);
        }
      }
    }
  };
  par_range(nb, (2.5 * (double)cols + 5.0) * RB, blocks);
  auto cols_body = [&](long c0, long c1) {
    for (long j = c0; j < c1; ++j) {
      double as = 0, ab = 0;
      for (long blk = 0; blk < nb; ++blk) { as += part[blk * cols * 2 + j]; ab += part[blk * cols * 2 + cols + j]; }
      dscale[j] = (float)((double)dscale[j] + as);
      dbias[j] = (float)((double)dbias[j] + ab);
    }
  };
  par_range(cols, 2.0 * (double)nb + 2.0, cols_body);
}

static void k_ce(const float* logits, const int32_t* targets, const float* weights, float* loss, float* logp,
                 long rows, long vocab) {
  auto body = [&](long r0, long r1) {
    for (long r = r0; r < r1; ++r) {
      softmax_row(logits + r * vocab, logp + r * vocab, vocab, true);
      loss[r] = -weights[r] * logp[r * vocab + targets[r]];
    }
  };
  par_range(rows, 0.6 * (double)vocab + 5.0, body);
}

static void k_ce_bw(const float* logp, const int32_t* targets, const float* weights, const float* dloss,
                    float* dlogits, long rows, long vocab) {
  auto body = [&](long r0, long r1) {
    for (long r = r0; r < r1; ++r) {
      const float s = dloss[r] * weights[r];
      const vf sv = vset1(s);
      const float* lp = logp + r * vocab;
      float* o = dlogits + r * vocab;
      long i = 0;
      for (; i + W <= vocab; i += W) vstore(o + i, vmul(sv, vexp(vload(lp + i))));
      if (i < vocab) vstoren(o + i, vmul(sv, vexp(vloadn(lp + i, vocab - i))), vocab - i);
      o[targets[r]] -= s;
    }
  };
  par_range(rows, 0.5 * (double)vocab + 5.0, body);
}
