// Fused optimizer updates: Adam(W) and Adafactor.
// Part of impl.h: included inside a per-ISA namespace.

static void k_adam(float* w, const float* g, float* m, float* v, long n, float lr, float b1, float b2,
                   float omb1, float omb2, float eps, float omwd, float c1, float c2) {
  auto body = [&](long i0, long i1) {
    const vf vb1 = vset1(b1), vb2 = vset1(b2), nb1 = vset1(omb1), nb2 = vset1(omb2);
    const vf ic1 = vset1(1.f / c1), ic2 = vset1(1.f / c2), ve = vset1(eps), vlr = vset1(lr), vwd = vset1(omwd);
    long i = i0;
    for (; i + W <= i1; i += W) {
      vf gg = vload(g + i);
      vf mm = vfma(vb1, vload(m + i), vmul(nb1, gg));
      vf vv = vfma(vb2, vload(v + i), vmul(vmul(nb2, gg), gg));
      vstore(m + i, mm); vstore(v + i, vv);
      vf upd = vdiv(vmul(mm, ic1), vadd(vsqrt(vmul(vv, ic2)), ve));
      vstore(w + i, vfnma(vlr, upd, vmul(vwd, vload(w + i))));
    }
    for (; i < i1; ++i) {
      float gg = g[i];
      m[i] = omb1 * gg + b1 * m[i];
      v[i] = omb2 * gg * gg + b2 * v[i];
      w[i] = omwd * w[i] - lr * (m[i] / c1) / (__builtin_sqrtf(v[i] / c2) + eps);
    }
  };
  par_range(n, 0.6, body, 64);
}

static void k_adafactor(float* w, const float* g, float* vr, float* vc, float* v, float* m, long batch, long rows,
                        long cols, double lr, double decay, double eps1, double eps2, double clip, int mulScale,
                        int doClip, double beta1, double wd) {
  const long n = batch * rows * cols;
  const double mix = 1.0 - decay;
  double scale = lr;
  if (mulScale) {
    double ms = sumsq_fv(w, n) / (double)n, rms = __builtin_sqrt(ms);
    scale = lr * (rms > eps2 ? rms : eps2);
  }
  // y in float32 (factors and accumulators in double): half the memory
  // traffic of doubles, and within 1e-6 relative of the reference. The
  // squared sums run in float vectors over short stretches (a row, or 64 rows
  // per column) and are gathered in double.
  float* y = tl_t1.f((size_t)n);
  if (vr && vc) {
    double* colAcc = tl_t2.d((size_t)cols);
    float* colF = tl_t3.f((size_t)cols * 2 + 2 * W);
    float* cf = colF + cols + W;
    for (long b = 0; b < batch; ++b) {
      const long base = b * rows * cols;
      for (long c = 0; c < cols; ++c) { colAcc[c] = 0; colF[c] = 0.f; }
      for (long r = 0; r < rows; ++r) {
        const float* gr = g + base + r * cols;
        vf rs = vzero();
        long c = 0;
        for (; c + W <= cols; c += W) {
          const vf gv = vload(gr + c), g2 = vmul(gv, gv);
          rs = vadd(rs, g2);
          vstore(colF + c, vadd(vload(colF + c), g2));
        }
        if (c < cols) {
          const long t = cols - c;
          const vf gv = vloadn(gr + c, t), g2 = vmul(gv, gv);
          rs = vadd(rs, g2);
          vstoren(colF + c, vadd(vloadn(colF + c, t), g2), t);
        }
        vr[b * rows + r] = (float)(decay * (double)vr[b * rows + r] + mix * ((double)hsum(rs) / (double)cols));
        if ((r & 63) == 63 || r == rows - 1)
          for (long cc = 0; cc < cols; ++cc) { colAcc[cc] += (double)colF[cc]; colF[cc] = 0.f; }
      }
      for (long c = 0; c < cols; ++c)
        vc[b * cols + c] = (float)(decay * (double)vc[b * cols + c] + mix * (colAcc[c] / (double)rows));
      const double rowMean = sum_d(vr + b * rows, rows) / (double)rows;
      for (long c = 0; c < cols; ++c) cf[c] = (float)(1.0 / __builtin_sqrt((double)vc[b * cols + c] + eps1));
      const vf rm = vset1((float)rowMean), e1 = vset1((float)eps1);
      for (long r0 = 0; r0 < rows; r0 += W) {
        // Row factors W at a time: sqrt(mean(vr) / (vr + eps1)).
        const long nr = lmin(W, rows - r0);
        float rfa[W];
        vstore(rfa, vsqrt(vdiv(rm, vadd(vloadn(vr + b * rows + r0, nr), e1))));
        for (long q = 0; q < nr; ++q) {
          const vf rf = vset1(rfa[q]);
          const float* gr = g + base + (r0 + q) * cols;
          float* yr = y + base + (r0 + q) * cols;
          long c = 0;
          for (; c + W <= cols; c += W) vstore(yr + c, vmul(vmul(vload(gr + c), rf), vload(cf + c)));
          if (c < cols) vstoren(yr + c, vmul(vmul(vloadn(gr + c, cols - c), rf), vloadn(cf + c, cols - c)), cols - c);
        }
      }
    }
  } else {
    const vf dv = vset1((float)decay), mv = vset1((float)mix), e1 = vset1((float)eps1);
    long i = 0;
    for (; i + W <= n; i += W) {
      const vf gv = vload(g + i);
      const vf vv = vfma(dv, vload(v + i), vmul(mv, vmul(gv, gv)));
      vstore(v + i, vv);
      vstore(y + i, vdiv(gv, vsqrt(vadd(vv, e1))));
    }
    for (; i < n; ++i) {
      double gg = g[i];
      v[i] = (float)(decay * (double)v[i] + mix * gg * gg);
      y[i] = (float)(gg / __builtin_sqrt((double)v[i] + eps1));
    }
  }
  double inv = 1.0;
  if (doClip) {
    const double ss = sumsq_fv(y, n);
    const double denom = __builtin_sqrt(ss / (double)n) / clip;
    if (denom > 1.0) inv = 1.0 / denom;
  }
  const float sc = (float)(scale * inv), keepW = (float)(1.0 - wd);
  if (!m) {
    const vf kw = vset1(keepW), sv = vset1(sc);
    long i = 0;
    for (; i + W <= n; i += W) vstore(w + i, vfnma(sv, vload(y + i), vmul(kw, vload(w + i))));
    for (; i < n; ++i) w[i] = keepW * w[i] - sc * y[i];
    return;
  }
  for (long i = 0; i < n; ++i) {
    double sub = (double)sc * y[i];
    m[i] = (float)(beta1 * (double)m[i] + (1.0 - beta1) * sub);
    w[i] = (float)((1.0 - wd) * (double)w[i] - (double)m[i]);
  }
}
