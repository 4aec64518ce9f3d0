// Matrix products: packed GEMM, GEMV paths for one-row operands, and the
// Dense epilogue (bias, ReLU, ReLU's backward gate). Backward passes are
// GEMMs too, with transposed operands.
// Part of impl.h: included inside a per-ISA namespace.

enum { MR = TRAX_MR, NR = 2 * W };
static const long KC = 256;   // depth of a packed panel: MR x KC of A stays in L1
static const long NCB = 1024; // KC x NCB packed B block stays in L2

struct GemmP {
  long m, n, k;
  const float* A; long lda; int ta;  // A(i,p) = ta ? A[p*lda+i] : A[i*lda+p]
  const float* B; long ldb; int tb;  // B(p,j) = tb ? B[j*ldb+p] : B[p*ldb+j]
  float* C; long ldc; int acc;
};

static inline void store_part(float* c, vf v, long cnt, bool acc) {
  if (cnt >= W) { vstore(c, acc ? vadd(vload(c), v) : v); }
  else if (cnt > 0) { vstoren(c, acc ? vadd(vloadn(c, cnt), v) : v, cnt); }
}

// C[M_ x NV_*W] (+)= A-panel x B-panel. AU: A(i,p) = A[p*acs + i] (packed or
// transposed A), else A[i*ars + p]. B rows are brs apart and NV_*W wide.
// Only mr rows and nr columns of C are written.
template <int M_, int NV_, bool AU>
static void ukern(long k, const float* __restrict A, long ars, long acs, const float* __restrict B,
                  long brs, float* __restrict C, long ldc, long mr, long nr, bool acc) {
  vf c0[M_], c1[M_];
#pragma GCC unroll 16
  for (int i = 0; i < M_; ++i) { c0[i] = vzero(); c1[i] = vzero(); }
  for (long p = 0; p < k; ++p) {
    vf b0 = vload(B), b1 = NV_ > 1 ? vload(B + W) : b0;
#pragma GCC unroll 16
    for (int i = 0; i < M_; ++i) {
      vf a = vset1(AU ? A[i] : A[i * ars]);
      c0[i] = vfma(a, b0, c0[i]);
      if (NV_ > 1) c1[i] = vfma(a, b1, c1[i]);
    }
    A += AU ? acs : 1;
    B += brs;
  }
  if (mr == M_ && nr == NV_ * W) {
#pragma GCC unroll 16
    for (int i = 0; i < M_; ++i) {
      float* c = C + i * ldc;
      vstore(c, acc ? vadd(vload(c), c0[i]) : c0[i]);
      if (NV_ > 1) vstore(c + W, acc ? vadd(vload(c + W), c1[i]) : c1[i]);
    }
  } else {
#pragma GCC unroll 16
    for (int i = 0; i < M_; ++i) {
      if (i >= mr) break;
      store_part(C + i * ldc, c0[i], nr, acc);
      if (NV_ > 1) store_part(C + i * ldc + W, c1[i], nr - W, acc);
    }
  }
}

typedef void (*UKFn)(long, const float*, long, long, const float*, long, float*, long, long, long, bool);

#define TRAX_UK_CASE(M) \
  case M: return nv1 ? (au ? ukern<M, 1, true> : ukern<M, 1, false>) : (au ? ukern<M, 2, true> : ukern<M, 2, false>);
static UKFn pick_uk(long mr, bool nv1, bool au) {
  switch (mr) {
    TRAX_UK_CASE(1) TRAX_UK_CASE(2) TRAX_UK_CASE(3) TRAX_UK_CASE(4) TRAX_UK_CASE(5) TRAX_UK_CASE(6)
#if TRAX_MR > 6
    TRAX_UK_CASE(7) TRAX_UK_CASE(8) TRAX_UK_CASE(9) TRAX_UK_CASE(10) TRAX_UK_CASE(11) TRAX_UK_CASE(12)
    TRAX_UK_CASE(13) TRAX_UK_CASE(14)
#endif
    default: return nullptr;
  }
}
#undef TRAX_UK_CASE

// dst[p*ldd + i] = src[i*lds + p] for i < rows (<= 8), p < cols. May write
// up to 8 floats at dst + p*ldd; with ldd < 8 the spill lands on the next p's
// leading entries, which are rewritten afterwards (p ascends), and past the
// last p, which buffers leave room for.
static void pack_tr(const float* src, long lds, long rows, long cols, float* __restrict dst, long ldd) {
  const float* r[8];
  for (long i = 0; i < 8; ++i) r[i] = src + lmin(i, rows - 1) * lds;
  long p = 0;
#ifdef TRAX_HAVE_TR8
  for (; p + 8 <= cols; p += 8) tr8x8(r, p, dst + p * ldd, ldd);
#endif
  for (; p < cols; ++p)
    for (long i = 0; i < rows; ++i) dst[p * ldd + i] = r[i][p];
}

// kc x NR sliver of B starting at (pc, j0), zero padded past nr columns.
static void pack_b_sliver(const GemmP& g, long pc, long kc, long j0, long nr, float* __restrict dst) {
  if (!g.tb) {
    for (long p = 0; p < kc; ++p) {
      const float* s = g.B + (pc + p) * g.ldb + j0;
      float* d = dst + p * NR;
      if (nr == NR) { vstore(d, vload(s)); vstore(d + W, vload(s + W)); }
      else { for (long j = 0; j < nr; ++j) d[j] = s[j]; for (long j = nr; j < NR; ++j) d[j] = 0.f; }
    }
  } else {
    // Transposed B: 8 source rows (output columns) at a time.
    long jj = 0;
    for (; jj + 8 <= nr; jj += 8) pack_tr(g.B + (j0 + jj) * g.ldb + pc, g.ldb, 8, kc, dst + jj, NR);
    for (; jj < NR; ++jj) {
      if (jj >= nr) { for (long p = 0; p < kc; ++p) dst[p * NR + jj] = 0.f; continue; }
      const float* s = g.B + (j0 + jj) * g.ldb + pc;
      for (long p = 0; p < kc; ++p) dst[p * NR + jj] = s[p];
    }
  }
}

// Slivers [s0, s1) of the kc x nc block of B at (pc, jc). Row-major B is
// walked row by row, so each source row segment is read contiguously (rows
// are often 4 KB+ apart; sliver-by-sliver reads would defeat prefetching).
static void pack_b_block(const GemmP& g, long pc, long kc, long jc, long nc, long s0, long s1, float* __restrict Bp) {
  if (g.tb) {
    for (long s = s0; s < s1; ++s) pack_b_sliver(g, pc, kc, jc + s * NR, lmin(NR, nc - s * NR), Bp + s * kc * NR);
    return;
  }
  const long full = lmin(s1, nc / NR);
  for (long p = 0; p < kc; ++p) {
    const float* src = g.B + (pc + p) * g.ldb + jc;
    float* d = Bp + p * NR;
    long s = s0;
    for (; s < full; ++s) {
      vstore(d + s * kc * NR, vload(src + s * NR));
      vstore(d + s * kc * NR + W, vload(src + s * NR + W));
    }
    for (; s < s1; ++s) {
      const long nr = lmin(NR, nc - s * NR);
      float* ds = d + s * kc * NR;
      for (long j = 0; j < nr; ++j) ds[j] = src[s * NR + j];
      for (long j = nr; j < NR; ++j) ds[j] = 0.f;
    }
  }
}

// mr x kc panel of A at (i0, pc) packed as dst[p*MR + i], rows past mr zeroed.
// dst needs 8 floats of slack past MR*kc.
static void pack_a_panel(const GemmP& g, long i0, long mr, long pc, long kc, float* __restrict dst) {
  if (g.ta) {
    for (long p = 0; p < kc; ++p) {
      const float* s = g.A + (pc + p) * g.lda + i0;
      float* d = dst + p * MR;
      for (long i = 0; i < MR; i += W) {
        long cnt = lmin(W, MR - i), have = lmin(cnt, mr - i);
        vstoren(d + i, have > 0 ? vloadn(s + i, have) : vzero(), cnt);
      }
    }
  } else if (mr == MR) {
    const float* s = g.A + i0 * g.lda + pc;
    // Upper rows first: their 8-wide stores spill into the next p's first
    // rows, which the lower group then overwrites.
    for (long i = (MR - 1) / 8 * 8; i >= 0; i -= 8) pack_tr(s + i * g.lda, g.lda, lmin(8, MR - i), kc, dst + i, MR);
  } else {
    for (long i = 0; i < mr; ++i) {
      const float* s = g.A + (i0 + i) * g.lda + pc;
      for (long p = 0; p < kc; ++p) dst[p * MR + i] = s[p];
    }
    for (long i = mr; i < MR; ++i)
      for (long p = 0; p < kc; ++p) dst[p * MR + i] = 0.f;
  }
}

// Unpacked path for small problems: A is read in place, B in place when it is
// row-major and the sliver is full width (else one sliver is packed).
static void gemm_direct(const GemmP& g, long s0 = 0, long s1 = -1) {
  if (s1 < 0) s1 = (g.n + NR - 1) / NR;
  for (long j = s0 * NR; j < lmin(g.n, s1 * NR); j += NR) {
    long nr = lmin(NR, g.n - j);
    const float* bp;
    long brs;
    if (!g.tb && nr == NR) { bp = g.B + j; brs = g.ldb; }
    else {
      float* s = tl_pb.f((size_t)g.k * NR);
      pack_b_sliver(g, 0, g.k, j, nr, s);
      bp = s; brs = NR;
    }
    for (long i = 0; i < g.m; i += MR) {
      long mr = lmin(MR, g.m - i);
      UKFn f = pick_uk(mr, nr <= W, g.ta != 0);
      if (g.ta) f(g.k, g.A + i, 0, g.lda, bp, brs, g.C + i * g.ldc + j, g.ldc, mr, nr, g.acc != 0);
      else f(g.k, g.A + i * g.lda, g.lda, 1, bp, brs, g.C + i * g.ldc + j, g.ldc, mr, nr, g.acc != 0);
    }
  }
}

// A panels for rows [i0, i1) (at most GA panels) packed back to back.
static const long GA = 8;
static void pack_a_group(const GemmP& g, long i0, long i1, long pc, long kc, float* __restrict dst) {
  if (g.ta) {
    // Stored (k, m): copy each source row once across all panels, so every
    // cache line is read once (rows are lda apart and alias in L1).
    const long np = (i1 - i0 + MR - 1) / MR;
    for (long p = 0; p < kc; ++p) {
      const float* s = g.A + (pc + p) * g.lda + i0;
      for (long q = 0; q < np; ++q) {
        const long mr = lmin(MR, i1 - i0 - q * MR);
        float* d = dst + q * MR * kc + p * MR;
        for (long i = 0; i < MR; i += W) {
          long cnt = lmin(W, MR - i), have = lmin(cnt, mr - i);
          vstoren(d + i, have > 0 ? vloadn(s + q * MR + i, have) : vzero(), cnt);
        }
      }
    }
  } else {
    for (long i = i0, q = 0; i < i1; i += MR, ++q) pack_a_panel(g, i, lmin(MR, i1 - i), pc, kc, dst + q * MR * kc);
  }
}

// Rows [i0,i1) x slivers [s0,s1) of one packed (pc, jc) block.
static void gemm_block(const GemmP& g, long pc, long kc, long jc, long nc, const float* Bp,
                       long i0, long i1, long s0, long s1, bool acc) {
  float* Ap = tl_pa.f((size_t)GA * MR * KC + 16);
  for (long ig = i0; ig < i1; ig += GA * MR) {
    const long ie = lmin(i1, ig + GA * MR);
    pack_a_group(g, ig, ie, pc, kc, Ap);
    for (long i = ig, q = 0; i < ie; i += MR, ++q) {
      long mr = lmin(MR, ie - i);
      const float* ap = Ap + q * MR * kc;
      for (long s = s0; s < s1; ++s) {
        long j = jc + s * NR, nr = lmin(NR, jc + nc - j);
        ukern<MR, 2, true>(kc, ap, 0, MR, Bp + s * kc * NR, NR, g.C + i * g.ldc + j, g.ldc, mr, nr, acc);
      }
    }
  }
}

static void gemm_packed(const GemmP& g, bool mt) {
  int T = mt ? trax_num_threads() : 1;
  float* Bp = tl_pb.f((size_t)KC * (NCB + NR));
  const long rowPanels = (g.m + MR - 1) / MR;
  for (long jc = 0; jc < g.n; jc += NCB) {
    long nc = lmin(NCB, g.n - jc), nsl = (nc + NR - 1) / NR;
    // Equal depth chunks (780 -> 3 x 260, not 256 x 3 + 12): a thin last
    // panel costs a full pass of packing and synchronisation for little work.
    const long kstep = (g.k + (g.k + KC - 1) / KC - 1) / ((g.k + KC - 1) / KC);
    for (long pc = 0; pc < g.k; pc += kstep) {
      long kc = lmin(kstep, g.k - pc);
      bool acc = g.acc || pc > 0;
      if (T > 1) {
        long chunks = lmin(nsl, (long)T);
        auto pk = [&](long t) { pack_b_block(g, pc, kc, jc, nc, nsl * t / chunks, nsl * (t + 1) / chunks, Bp); };
        par_for(chunks, pk);
        // Row strips small enough for ~8 tasks per thread (dynamic balance);
        // split columns too when rows are few.
        long rp = lmax(1, lmin(GA, rowPanels / (8L * T))), rowTasks = (rowPanels + rp - 1) / rp;
        long colSplit = lmin(nsl, lmax(1, (4L * T + rowTasks - 1) / rowTasks));
        auto work = [&](long t) {
          long rt = t / colSplit, ct = t % colSplit;
          long i0 = rt * rp * MR, i1 = lmin(g.m, i0 + rp * MR);
          long s0 = nsl * ct / colSplit, s1 = nsl * (ct + 1) / colSplit;
          if (s1 > s0) gemm_block(g, pc, kc, jc, nc, Bp, i0, i1, s0, s1, acc);
        };
        par_for(rowTasks * colSplit, work);
      } else {
        pack_b_block(g, pc, kc, jc, nc, 0, nsl, Bp);
        gemm_block(g, pc, kc, jc, nc, Bp, 0, g.m, 0, nsl, acc);
      }
    }
  }
}

// y[j] (+)= sum_r x[r] M[r*ldm + j] for j < nc <= NV_*W (last vector partial).
template <int NV_>
static void gemv_t_block(long rows, const float* M, long ldm, const float* x, float* y, long nc, bool acc) {
  vf a[NV_];
  for (int v = 0; v < NV_; ++v) a[v] = vzero();
  const long last = nc - (NV_ - 1) * W;
  for (long r = 0; r < rows; ++r) {
    vf xv = vset1(x[r]);
    const float* row = M + r * ldm;
#pragma GCC unroll 8
    for (int v = 0; v < NV_ - 1; ++v) a[v] = vfma(xv, vload(row + v * W), a[v]);
    a[NV_ - 1] = vfma(xv, last == W ? vload(row + (NV_ - 1) * W) : vloadn(row + (NV_ - 1) * W, last), a[NV_ - 1]);
  }
  for (int v = 0; v < NV_; ++v) store_part(y + v * W, a[v], nc - v * W, acc);
}

// Same product for wide outputs: walk M row by row (4 rows at a time) so it
// streams sequentially from memory, with the y segment (<= 2048 floats) in L1.
static void gemv_t_stream(long rows, const float* M, long ldm, const float* x, float* y, long nc, bool acc) {
  if (!acc) std::memset(y, 0, sizeof(float) * (size_t)nc);
  long r = 0;
  for (; r + 4 <= rows; r += 4) {
    const vf x0 = vset1(x[r]), x1 = vset1(x[r + 1]), x2 = vset1(x[r + 2]), x3 = vset1(x[r + 3]);
    const float* m0 = M + r * ldm;
    long j = 0;
    for (; j + W <= nc; j += W) {
      vf a = vload(y + j);
      a = vfma(x0, vload(m0 + j), a);
      a = vfma(x1, vload(m0 + ldm + j), a);
      a = vfma(x2, vload(m0 + 2 * ldm + j), a);
      a = vfma(x3, vload(m0 + 3 * ldm + j), a);
      vstore(y + j, a);
    }
    if (j < nc) {
      const long t = nc - j;
      vf a = vloadn(y + j, t);
      a = vfma(x0, vloadn(m0 + j, t), a);
      a = vfma(x1, vloadn(m0 + ldm + j, t), a);
      a = vfma(x2, vloadn(m0 + 2 * ldm + j, t), a);
      a = vfma(x3, vloadn(m0 + 3 * ldm + j, t), a);
      vstoren(y + j, a, t);
    }
  }
  for (; r < rows; ++r) {
    const vf x0 = vset1(x[r]);
    const float* m0 = M + r * ldm;
    long j = 0;
    for (; j + W <= nc; j += W) vstore(y + j, vfma(x0, vload(m0 + j), vload(y + j)));
    if (j < nc) vstoren(y + j, vfma(x0, vloadn(m0 + j, nc - j), vloadn(y + j, nc - j)), nc - j);
  }
}

static void gemv_t(long rows, long cols, const float* M, long ldm, const float* x, float* y, bool acc, bool mt) {
  if (cols > 32 * W) {
    const long blk = 2048, nb = (cols + blk - 1) / blk;
    auto body = [&](long b0, long b1) {
      for (long b = b0; b < b1; ++b) {
        const long j0 = b * blk;
        gemv_t_stream(rows, M + j0, ldm, x, y + j0, lmin(blk, cols - j0), acc);
      }
    };
    // Column blocks never straddle threads, so results match any thread count.
    if (mt && nb >= 2) par_range(nb, (double)rows * blk * 0.05, body);
    else if (mt) {
      auto sub = [&](long a, long b) { gemv_t_stream(rows, M + a, ldm, x, y + a, b - a, acc); };
      par_range(cols, (double)rows * 0.05, sub, 64);
    } else body(0, nb);
    return;
  }
  const long blk = 8 * W, nb = (cols + blk - 1) / blk;
  auto body = [&](long b0, long b1) {
    for (long b = b0; b < b1; ++b) {
      long j0 = b * blk, nc = lmin(blk, cols - j0), nv = (nc + W - 1) / W;
      const float* Mb = M + j0;
      switch (nv) {
        case 1: gemv_t_block<1>(rows, Mb, ldm, x, y + j0, nc, acc); break;
        case 2: gemv_t_block<2>(rows, Mb, ldm, x, y + j0, nc, acc); break;
        case 3: gemv_t_block<3>(rows, Mb, ldm, x, y + j0, nc, acc); break;
        case 4: gemv_t_block<4>(rows, Mb, ldm, x, y + j0, nc, acc); break;
        case 5: gemv_t_block<5>(rows, Mb, ldm, x, y + j0, nc, acc); break;
        case 6: gemv_t_block<6>(rows, Mb, ldm, x, y + j0, nc, acc); break;
        case 7: gemv_t_block<7>(rows, Mb, ldm, x, y + j0, nc, acc); break;
        default: gemv_t_block<8>(rows, Mb, ldm, x, y + j0, nc, acc); break;
      }
    }
  };
  if (mt) par_range(nb, (double)rows * blk * 0.05, body); else body(0, nb);
}

// y[r*ys] (+)= dot(M[r, :cols], x)
static void gemv_n(long rows, long cols, const float* M, long ldm, const float* x, float* y, long ys, bool acc, bool mt) {
  auto body = [&](long r0, long r1) {
    long r = r0;
    for (; r + 4 <= r1; r += 4) {
      const float* m0 = M + r * ldm;
      vf a0 = vzero(), a1 = vzero(), a2 = vzero(), a3 = vzero();
      long p = 0;
      for (; p + W <= cols; p += W) {
        vf xv = vload(x + p);
        a0 = vfma(vload(m0 + p), xv, a0);
        a1 = vfma(vload(m0 + ldm + p), xv, a1);
        a2 = vfma(vload(m0 + 2 * ldm + p), xv, a2);
        a3 = vfma(vload(m0 + 3 * ldm + p), xv, a3);
      }
      if (p < cols) {
        long t = cols - p;
        vf xv = vloadn(x + p, t);
        a0 = vfma(vloadn(m0 + p, t), xv, a0);
        a1 = vfma(vloadn(m0 + ldm + p, t), xv, a1);
        a2 = vfma(vloadn(m0 + 2 * ldm + p, t), xv, a2);
        a3 = vfma(vloadn(m0 + 3 * ldm + p, t), xv, a3);
      }
      float s[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};
      for (int q = 0; q < 4; ++q) y[(r + q) * ys] = acc ? y[(r + q) * ys] + s[q] : s[q];
    }
    for (; r < r1; ++r) {
      const float* m0 = M + r * ldm;
      vf a0 = vzero();
      long p = 0;
      for (; p + W <= cols; p += W) a0 = vfma(vload(m0 + p), vload(x + p), a0);
      if (p < cols) a0 = vfma(vloadn(m0 + p, cols - p), vloadn(x + p, cols - p), a0);
      float s = hsum(a0);
      y[r * ys] = acc ? y[r * ys] + s : s;
    }
  };
  if (mt) par_range(rows, (double)cols * 0.05, body, 4); else body(0, rows);
}

// Weight gradients (x^T dy: small output, long reduction over tokens) leave
// too few output panels to share between threads: split the depth in two
// halves instead, each a whole GEMM, and add them. The split does not depend
// on the thread count, so results are the same for any number of threads.
static void gemm_ksplit(const GemmP& g, bool mt) {
  const long kh = ((g.k / 2) + 7) & ~7L;
  GemmP g0 = g, g1 = g;
  g0.k = kh;
  g1.k = g.k - kh;
  g1.A = g.A + (g.ta ? kh * g.lda : kh);
  g1.B = g.B + (g.tb ? kh : kh * g.ldb);
  float* part = tl_ks.f((size_t)g.m * g.n);
  g1.C = part; g1.ldc = g.n; g1.acc = 0;
  if (mt) {
    auto task = [&](long t) { gemm_packed(t == 0 ? g0 : g1, false); };
    par_for(2, task);
  } else {
    gemm_packed(g0, false);
    gemm_packed(g1, false);
  }
  for (long i = 0; i < g.m; ++i) {
    float* c = g.C + i * g.ldc;
    const float* q = part + i * g.n;
    long j = 0;
    for (; j + W <= g.n; j += W) vstore(c + j, vadd(vload(c + j), vload(q + j)));
    for (; j < g.n; ++j) c[j] += q[j];
  }
}

static void gemm_one(const GemmP& g, bool mt) {
  if (g.m <= 0 || g.n <= 0) return;
  if (g.k <= 0) {
    if (!g.acc)
      for (long i = 0; i < g.m; ++i) std::memset(g.C + i * g.ldc, 0, sizeof(float) * (size_t)g.n);
    return;
  }
  mt = mt && trax_num_threads() > 1 && 2.0 * g.m * g.n * g.k >= 4e6;
  if (g.m == 1) {
    // C row = a^T B
    if (g.tb) gemv_n(g.n, g.k, g.B, g.ldb, g.A, g.C, 1, g.acc, mt);
    else if (g.ta) {
      // a is a column of the stored (k, m) A: gather it once.
      float* a = tl_gv.f((size_t)g.k);
      for (long p = 0; p < g.k; ++p) a[p] = g.A[p * g.lda];
      gemv_t(g.k, g.n, g.B, g.ldb, a, g.C, g.acc, mt);
    } else gemv_t(g.k, g.n, g.B, g.ldb, g.A, g.C, g.acc, mt);
    return;
  }
  if (g.n == 1 && !g.tb && g.ldb == 1) {
    if (g.ta) {
      // C column (stride ldc) = A^T b where A is stored (k, m).
      if (g.ldc == 1) { gemv_t(g.k, g.m, g.A, g.lda, g.B, g.C, g.acc, mt); return; }
    } else { gemv_n(g.m, g.k, g.A, g.lda, g.B, g.C, g.ldc, g.acc, mt); return; }
  }
  if (g.n == 1 && g.tb) {
    // B stored (1, k): contiguous vector.
    if (!g.ta) { gemv_n(g.m, g.k, g.A, g.lda, g.B, g.C, g.ldc, g.acc, mt); return; }
    if (g.ldc == 1) { gemv_t(g.k, g.m, g.A, g.lda, g.B, g.C, g.acc, mt); return; }
  }
  // Packing pays when each A panel meets many B slivers and each B sliver many
  // A panels; below that the in-place kernel wins. The choice must not depend
  // on the thread count, so results are identical for any number of threads.
  double work = (double)g.m * g.n * g.k;
  if (work <= 96.0 * 96 * 96 || g.k <= 16 || g.n <= NR) {
    if (!mt) { gemm_direct(g); return; }
    const long nsl = (g.n + NR - 1) / NR;
    if (nsl >= 4L * trax_num_threads()) {
      auto body = [&](long a, long b) { gemm_direct(g, a, b); };
      par_range(nsl, (double)g.m * NR * g.k * 0.02, body);
    } else {
      auto body = [&](long a, long b) {
        GemmP sub = g;
        sub.m = b - a;
        sub.A = g.A + a * (g.ta ? 1 : g.lda);
        sub.C = g.C + a * g.ldc;
        gemm_direct(sub);
      };
      par_range(g.m, (double)g.n * g.k * 0.02, body, MR);
    }
    return;
  }
  if (g.k >= 512 && g.m * g.n <= 65536) { gemm_ksplit(g, mt); return; }
  gemm_packed(g, mt);
}

// Epilogue over C's rows while they are still in cache: + bias, then
// max(0, .) (Dense followed by ReLU), then zero where gate <= 0 and times
// gscale elsewhere (ReLU's backward, with dropout's scale when the gate is
// the dropped-out activation).
static void epilogue_rows(float* c, const float* bias, bool relu, const float* gate, float gscale, long rows, long n) {
  auto body = [&](long r0, long r1) {
    const vf z = vzero(), gs = vset1(gscale);
    for (long r = r0; r < r1; ++r) {
      float* row = c + r * n;
      const float* gr = gate ? gate + r * n : nullptr;
      long j = 0;
      for (; j + W <= n; j += W) {
        vf v = vload(row + j);
        if (bias) v = vadd(v, vload(bias + j));
        if (relu) v = vsel(vgt(v, z), v, z);
        if (gr) v = vsel(vgt(vload(gr + j), z), vmul(v, gs), z);
        vstore(row + j, v);
      }
      if (j < n) {
        const long t = n - j;
        vf v = vloadn(row + j, t);
        if (bias) v = vadd(v, vloadn(bias + j, t));
        if (relu) v = vsel(vgt(v, z), v, z);
        if (gr) v = vsel(vgt(vloadn(gr + j, t), z), vmul(v, gs), z);
        vstoren(row + j, v, t);
      }
    }
  };
  par_range(rows, 0.3 * (double)n + 2.0, body);
}

static void gemm_batches(const float* a, const float* b, float* c, long batch, long m, long n, long k,
                         int ta, int tb, long sa, long sb, int acc) {
  GemmP base{m, n, k, a, ta ? m : k, ta, b, tb ? k : n, tb, c, n, acc};
  double fl = 2.0 * m * n * k;
  int T = trax_num_threads();
  bool bigEach = fl >= 8e6;
  if (T > 1 && batch > 1 && fl * batch >= 4e6 && (!bigEach || batch >= 4L * T)) {
    auto task = [&](long t) {
      GemmP g = base;
      g.A = a + t * sa; g.B = b + t * sb; g.C = c + t * m * n;
      gemm_one(g, false);
    };
    par_for(batch, task);
    return;
  }
  for (long t = 0; t < batch; ++t) {
    GemmP g = base;
    g.A = a + t * sa; g.B = b + t * sb; g.C = c + t * m * n;
    gemm_one(g, T > 1);
  }
}

static void k_matmul(const float* a, const float* b, float* c, long batch, long m, long n, long k,
                     int ta, int tb, long sa, long sb, int acc, const float* bias, int relu, const float* gate,
                     float gscale) {
  gemm_batches(a, b, c, batch, m, n, k, ta, tb, sa, sb, acc);
  if (bias || relu || gate) epilogue_rows(c, bias, relu != 0, gate, gscale, batch * m, n);
}
