// Kernel bodies shared by every ISA build. Included inside a per-ISA
// namespace after simd_<isa>.h and vmath.h, with TRAX_MR (GEMM micro-tile
// rows) defined. Everything here has internal linkage or lives in that
// namespace, so the copies built with different -m flags never mix.

enum { MR = TRAX_MR, NR = 2 * W };
static const long KC = 256;   // depth of a packed panel: MR x KC of A stays in L1
static const long NCB = 1024; // KC x NCB packed B block stays in L2

static inline long lmin(long a, long b) { return a < b ? a : b; }
static inline long lmax(long a, long b) { return a > b ? a : b; }

// Grow-only scratch owned by one thread, so kernels never malloc per call.
struct Scratch {
  void* p = nullptr;
  size_t bytes = 0;
  ~Scratch() { std::free(p); }
  void* get(size_t need) {
    if (need > bytes) {
      std::free(p);
      size_t sz = (need + 4095) & ~(size_t)4095;
      p = std::aligned_alloc(64, sz);
      if (!p) { std::fprintf(stderr, "trax native: out of memory (%zu bytes)\n", sz); std::abort(); }
      bytes = sz;
    }
    return p;
  }
  float* f(size_t n) { return static_cast<float*>(get(n * sizeof(float))); }
  double* d(size_t n) { return static_cast<double*>(get(n * sizeof(double))); }
};
// tl_pa/tl_pb/tl_gv belong to GEMM; tl_t1/tl_t2 to the fused kernels that call it.
static thread_local Scratch tl_pa, tl_pb, tl_gv, tl_t1, tl_t2, tl_t3, tl_ks, tl_ln, tl_red;

template <class F> static void par_for(long n, F& f) {
  if (n <= 0) return;
  if (n == 1 || trax_num_threads() <= 1) { for (long t = 0; t < n; ++t) f(t); return; }
  trax_parallel_for(n, [](void* c, long t) { (*static_cast<F*>(c))(t); }, &f);
}

// body(i0, i1) over [0, n); threads only when n * ns_per_item is worth a
// dispatch. Chunk edges are multiples of `align` so SIMD tails stay at the end.
template <class F> static void par_range(long n, double ns_per_item, F& body, long align = 1) {
  int T = trax_num_threads();
  if (T <= 1 || n < 2 || (double)n * ns_per_item < 30000.0) { body(0, n); return; }
  long chunks = lmin((n + align - 1) / align, (long)T * 4);
  if (chunks <= 1) { body(0, n); return; }
  auto task = [&](long t) {
    long a = (n / align * t / chunks) * align, b = t + 1 == chunks ? n : (n / align * (t + 1) / chunks) * align;
    if (b > a) body(a, b);
  };
  par_for(chunks, task);
}

// Sum with 16 independent float64 lanes: vectorizes without -ffast-math.
static double sum_d(const float* x, long n) {
  double acc[16] = {0};
  long i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) acc[l] += (double)x[i + l];
  double s = 0;
  for (int l = 0; l < 16; ++l) s += acc[l];
  for (; i < n; ++i) s += x[i];
  return s;
}
static double dot_d(const float* a, const float* b, long n) {
  double acc[16] = {0};
  long i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) acc[l] += (double)a[i + l] * (double)b[i + l];
  double s = 0;
  for (int l = 0; l < 16; ++l) s += acc[l];
  for (; i < n; ++i) s += (double)a[i] * (double)b[i];
  return s;
}
static double sumsq_d(const float* x, long n) { return dot_d(x, x, n); }
// Sum of squares with float vector lanes flushed to double every 1024
// values: several times faster than per-element doubles, error ~1e-7.
static double sumsq_fv(const float* x, long n) {
  double s = 0;
  for (long b = 0; b < n; b += 1024) {
    const long e = lmin(n, b + 1024);
    vf a0 = vzero(), a1 = vzero();
    long i = b;
    for (; i + 2 * W <= e; i += 2 * W) {
      const vf u = vload(x + i), v = vload(x + i + W);
      a0 = vfma(u, u, a0); a1 = vfma(v, v, a1);
    }
    for (; i < e; i += W) { const vf u = vloadn(x + i, lmin(W, e - i)); a0 = vfma(u, u, a0); }
    s += (double)hsum(vadd(a0, a1));
  }
  return s;
}

// ---------------------------------------------------------------- GEMM

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

// ---------------------------------------------------------------- elementwise

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

// ---------------------------------------------------------------- reductions

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

// ---------------------------------------------------------------- softmax family

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

// ---------------------------------------------------------------- attention

// Where head t's rows live. Heads are (batch, H) pairs: row i of head t in q
// starts at q + ((t / H) * lq + i) * qs + (t % H) * d, and likewise for k, v
// (and dk, dv, which share their strides), out and dout. The plain layout
// (bh, l, d) is H = 1 with every stride d; the fused attention block reads
// q, k, v straight from one (B, L, 3D) projection and writes (B, L, D).
static inline long head_off(const AttnL& L, long t, long len, long stride, long d) {
  return (t / L.H) * len * stride + (t % L.H) * d;
}

// row[j] = scale * <a, B[j]> for j < n, B rows bs apart. Four rows at a
// time so the multiply-adds of different rows overlap instead of forming one
// long dependency chain (these dots are only a few elements long).
static inline void dots4(const float* a, const float* B, long bs, float* row, long n, long d, float scale) {
  long j = 0;
  for (; j + 4 <= n; j += 4) {
    const float* b0 = B + j * bs; const float* b1 = b0 + bs; const float* b2 = b1 + bs; const float* b3 = b2 + bs;
    float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
    for (long p = 0; p < d; ++p) { const float ap = a[p]; s0 += ap * b0[p]; s1 += ap * b1[p]; s2 += ap * b2[p]; s3 += ap * b3[p]; }
    row[j] = s0 * scale; row[j + 1] = s1 * scale; row[j + 2] = s2 * scale; row[j + 3] = s3 * scale;
  }
  for (; j < n; ++j) {
    const float* bj = B + j * bs;
    float acc = 0.f;
    for (long p = 0; p < d; ++p) acc += a[p] * bj[p];
    row[j] = acc * scale;
  }
}

// Narrow heads (the quick-start's d=4) make GEMM set-up cost more than the
// arithmetic: plain loops are several times faster there.
static inline bool attn_direct(long lk, long d) { return d < 16 || lk * d <= 512; }
// Rows of at most W keys and narrow heads: a score row fits one vector.
static inline bool attn_tiny(long lk, long d) { return lk <= W && d <= 32; }

// One head's operands, already offset to its first row.
struct AttnHead {
  const float* Q; const float* K; const float* V; float* O;
  long qs, ks, vs, os;
};
static inline AttnHead attn_head(const float* q, const float* k, const float* v, float* out, const AttnL& L,
                                 long b, long lq, long lk, long d) {
  return AttnHead{q + head_off(L, b, lq, L.qs, d), k + head_off(L, b, lk, L.ks, d), v + head_off(L, b, lk, L.vs, d),
                  out + head_off(L, b, lq, L.os, d), L.qs, L.ks, L.vs, L.os};
}

static void attn_rows_direct(const AttnHead& h, float* probs, long b, long i0, long i1, long lq, long lk, long d,
                             float scale, int causal, long offset, const float* drop, const float* kmask) {
  const float* km = kmask ? kmask + b * lk : nullptr;
  float* P = probs + (b * lq + i0) * lk;
  const long rows = i1 - i0, total = rows * lk;
  // Scores minus their row max for the whole block, then one vector exp pass
  // over it: per-row exp calls on ten-element rows cost more than the rest.
  for (long i = i0; i < i1; ++i) {
    float* row = P + (i - i0) * lk;
    dots4(h.Q + i * h.qs, h.K, h.ks, row, lk, d, scale);
    if (causal) for (long jj = lmax(0, i + offset + 1); jj < lk; ++jj) row[jj] = -1e9f;
    if (km) for (long jj = 0; jj < lk; ++jj) if (km[jj] == 0.f) row[jj] = -1e9f;
    float mx = row[0];
    for (long j = 1; j < lk; ++j) mx = row[j] > mx ? row[j] : mx;
    for (long j = 0; j < lk; ++j) row[j] -= mx;
  }
  long e = 0;
  for (; e + W <= total; e += W) vstore(P + e, vexp(vload(P + e)));
  if (e < total) vstoren(P + e, vexp(vloadn(P + e, total - e)), total - e);
  for (long i = i0; i < i1; ++i) {
    float* row = P + (i - i0) * lk;
    float sum = 0.f;
    for (long j = 0; j < lk; ++j) sum += row[j];
    const float inv = 1.f / sum;
    for (long j = 0; j < lk; ++j) row[j] *= inv;
    float* o = h.O + i * h.os;
    for (long p = 0; p < d; ++p) o[p] = 0.f;
    const float* dm = drop ? drop + (b * lq + i) * lk : nullptr;
    for (long j = 0; j < lk; ++j) {
      const float pj = dm ? row[j] * dm[j] : row[j];
      if (pj == 0.f) continue;
      const float* vj = h.V + j * h.vs;
      for (long p = 0; p < d; ++p) o[p] += pj * vj[p];
    }
  }
}

// Rows of at most W keys (the quick-start: 10 keys, 4-wide heads): a whole
// score row lives in one vector, so the softmax never leaves registers.
static void attn_rows_tiny(const AttnHead& h, float* probs, long b, long i0, long i1, long lq, long lk, long d,
                           float scale, int causal, long offset, const float* drop, const float* kmask) {
  float Kt[32][W], Vt[32][W];
  for (long p = 0; p < d; ++p) for (long j = 0; j < W; ++j) {
    Kt[p][j] = j < lk ? h.K[j * h.ks + p] : 0.f;
    Vt[p][j] = j < lk ? h.V[j * h.vs + p] : 0.f;
  }
  float iota_a[W];
  for (long j = 0; j < W; ++j) iota_a[j] = (float)j;
  const vf iota = vload(iota_a), neg = vset1(-1e9f), ninf = vset1(-__builtin_inff()), sc = vset1(scale);
  const vm valid = vlt(iota, vset1((float)lk));
  vm keyOff = vlt(iota, vset1(-1.f));
  if (kmask) keyOff = veq(vloadn(kmask + b * lk, lk), vzero());
  for (long i = i0; i < i1; ++i) {
    const float* qi = h.Q + i * h.qs;
    vf s = vzero();
    for (long p = 0; p < d; ++p) s = vfma(vset1(qi[p]), vload(Kt[p]), s);
    s = vmul(s, sc);
    if (causal) s = vsel(vgt(iota, vset1((float)(i + offset))), neg, s);
    if (kmask) s = vsel(vmand(keyOff, valid), neg, s);
    s = vsel(valid, s, ninf);
    const float mx = hmax(s);
    vf e = vexp(vsub(s, vset1(mx)));
    const vf pr = vmul(e, vset1(1.f / hsum(e)));
    vstoren(probs + (b * lq + i) * lk, pr, lk);
    const vf pd = drop ? vmul(pr, vloadn(drop + (b * lq + i) * lk, lk)) : pr;
    float* o = h.O + i * h.os;
    for (long p = 0; p < d; ++p) o[p] = hsum(vmul(pd, vload(Vt[p])));
  }
}

// Short heads with several query rows (the quick-start: 10 rows of 10 keys,
// 4-wide): query rows along the lanes, one vector per key. Scores, softmax
// and the weighted sum of values are then plain vertical vector ops, with no
// horizontal reductions per row.
static void attn_rows_lanes(const AttnHead& h, float* probs, long b, long i0, long i1, long lq, long lk, long d,
                            float scale, int causal, long offset, const float* drop, const float* kmask) {
  const long nr = i1 - i0;
  float tile[32][W];
  vf Qt[32], S[W];
  for (long p = 0; p < d; ++p) {
    for (long l = 0; l < W; ++l) tile[0][l] = l < nr ? h.Q[(i0 + l) * h.qs + p] : 0.f;
    Qt[p] = vload(tile[0]);
  }
  float iota_a[W];
  for (long l = 0; l < W; ++l) iota_a[l] = (float)(i0 + offset + l);
  const vf pos = vload(iota_a), neg = vset1(-1e9f), sc = vset1(scale);
  const float* km = kmask ? kmask + b * lk : nullptr;
  vf mx = vset1(-__builtin_inff());
  for (long j = 0; j < lk; ++j) {
    const float* kj = h.K + j * h.ks;
    vf s = vzero();
    for (long p = 0; p < d; ++p) s = vfma(Qt[p], vset1(kj[p]), s);
    s = vmul(s, sc);
    if (causal) s = vsel(vlt(pos, vset1((float)j)), neg, s);
    if (km && km[j] == 0.f) s = neg;
    S[j] = s;
    mx = vmax(mx, s);
  }
  vf sum = vzero();
  for (long j = 0; j < lk; ++j) { S[j] = vexp(vsub(S[j], mx)); sum = vadd(sum, S[j]); }
  const vf inv = vdiv(vset1(1.f), sum);
  // Probabilities go out row-major through a tile; the dropout mask comes in the same way.
  float* P = probs + (b * lq + i0) * lk;
  for (long j = 0; j < lk; ++j) { S[j] = vmul(S[j], inv); vstore(tile[j], S[j]); }
  for (long l = 0; l < nr; ++l) for (long j = 0; j < lk; ++j) P[l * lk + j] = tile[j][l];
  if (drop) {
    const float* dm = drop + (b * lq + i0) * lk;
    for (long j = 0; j < lk; ++j) for (long l = 0; l < W; ++l) tile[j][l] = l < nr ? dm[l * lk + j] : 0.f;
    for (long j = 0; j < lk; ++j) S[j] = vmul(S[j], vload(tile[j]));
  }
  vf O[32];
  for (long p = 0; p < d; ++p) O[p] = vzero();
  for (long j = 0; j < lk; ++j) {
    const float* vj = h.V + j * h.vs;
    for (long p = 0; p < d; ++p) O[p] = vfma(S[j], vset1(vj[p]), O[p]);
  }
  for (long p = 0; p < d; ++p) vstore(tile[p], O[p]);
  for (long l = 0; l < nr; ++l) {
    float* o = h.O + (i0 + l) * h.os;
    for (long p = 0; p < d; ++p) o[p] = tile[p][l];
  }
}

static void attn_rows(const AttnHead& h, float* probs, long b, long i0, long i1, long lq, long lk, long d,
                      float scale, int causal, long offset, const float* drop, const float* kmask) {
  if (attn_tiny(lk, d) && i1 - i0 >= 4 && i1 - i0 <= W) {
    attn_rows_lanes(h, probs, b, i0, i1, lq, lk, d, scale, causal, offset, drop, kmask);
    return;
  }
  if (attn_tiny(lk, d)) {
    attn_rows_tiny(h, probs, b, i0, i1, lq, lk, d, scale, causal, offset, drop, kmask);
    return;
  }
  if (attn_direct(lk, d)) {
    attn_rows_direct(h, probs, b, i0, i1, lq, lk, d, scale, causal, offset, drop, kmask);
    return;
  }
  const long rows = i1 - i0;
  // Causal rows never see keys past their last row's position: skip them in
  // both products (their probabilities are exactly 0 after the softmax).
  const long lkEff = causal && offset >= 0 ? lmin(lk, i1 + offset) : lk;
  float* P = probs + (b * lq + i0) * lk;
  GemmP g1{rows, lkEff, d, h.Q + i0 * h.qs, h.qs, 0, h.K, h.ks, 1, P, lk, 0};
  gemm_one(g1, false);
  const vf sc = vset1(scale);
  const float* km = kmask ? kmask + b * lk : nullptr;
  for (long r = 0; r < rows; ++r) {
    float* row = P + r * lk;
    long j = 0;
    for (; j + W <= lkEff; j += W) vstore(row + j, vmul(vload(row + j), sc));
    for (; j < lkEff; ++j) row[j] *= scale;
    if (causal) for (long jj = lmax(0, i0 + r + offset + 1); jj < lk; ++jj) row[jj] = -1e9f;
    if (km) for (long jj = 0; jj < lk; ++jj) if (km[jj] == 0.f) row[jj] = -1e9f;
    softmax_row(row, row, lk, false);
  }
  const float* PD = P;
  long pld = lk;
  if (drop) {
    float* t = tl_t1.f((size_t)rows * lk);
    const float* dm = drop + (b * lq + i0) * lk;
    for (long e = 0; e < rows * lk; ++e) t[e] = P[e] * dm[e];
    PD = t;
  }
  GemmP g2{rows, d, lkEff, PD, pld, 0, h.V, h.vs, 0, h.O + i0 * h.os, h.os, 0};
  gemm_one(g2, false);
}

static void k_attention(const float* q, const float* k, const float* v, float* out, float* probs, long bh,
                        long lq, long lk, long d, float scale, int causal, long offset, const float* drop,
                        const float* kmask, const AttnL* layout) {
  const AttnL L = layout ? *layout : AttnL{1, d, d, d, d};
  int T = trax_num_threads();
  double work = 4.0 * bh * lq * lk * d;
  // A task takes all H heads of one batch row: with a head layout the heads
  // of a row share cache lines, which threads must not write concurrently.
  const long H = L.H, nb = bh / H;
  long rb = 1;
  // Causal heads are split into row blocks even on one thread: later blocks
  // skip the keys past their last row.
  const long cb = causal && !attn_direct(lk, d) && !attn_tiny(lk, d) && lq >= 64 ? lmin(4, lq / 32) : 1;
  if (T > 1 && work >= 2e6 && nb < 2L * T) rb = lmin(lmax(1, lq / 16), (2L * T + nb - 1) / nb);
  rb = lmax(rb, cb);
  auto task = [&](long t) {
    long bb = t / rb, c = t % rb;
    long i0 = lq * c / rb, i1 = lq * (c + 1) / rb;
    if (i1 <= i0) return;
    for (long hh = 0; hh < H; ++hh) {
      const long b = bb * H + hh;
      attn_rows(attn_head(q, k, v, out, L, b, lq, lk, d), probs, b, i0, i1, lq, lk, d, scale, causal, offset, drop, kmask);
    }
  };
  if (T > 1 && work >= 2e6) par_for(nb * rb, task);
  else for (long t = 0; t < nb * rb; ++t) task(t);
}

// Gradient pointers of one head (dq like q, dk like k, dv like v, dout like out).
struct AttnGrad { const float* GO; float* DQ; float* DK; float* DV; };

static void attn_bw_direct(const AttnHead& h, const AttnGrad& g, const float* probs, long b, long lq, long lk,
                           long d, float scale, const float* drop) {
  const float* P = probs + b * lq * lk;
  const float* dm = drop ? drop + b * lq * lk : nullptr;
  for (long j = 0; j < lk; ++j) for (long t = 0; t < d; ++t) { g.DK[j * h.ks + t] = 0.f; g.DV[j * h.vs + t] = 0.f; }
  float* S = tl_t2.f((size_t)lk);
  for (long i = 0; i < lq; ++i) {
    const float* go = g.GO + i * h.os;
    const float* qi = h.Q + i * h.qs;
    const float* p = P + i * lk;
    const float* mr = dm ? dm + i * lk : nullptr;
    double rd = 0.0;
    dots4(go, h.V, h.vs, S, lk, d, 1.f);
    for (long j = 0; j < lk; ++j) {
      const float pd = mr ? p[j] * mr[j] : p[j];
      if (pd != 0.f) { float* dvj = g.DV + j * h.vs; for (long t = 0; t < d; ++t) dvj[t] += pd * go[t]; }
      if (mr) S[j] *= mr[j];
      rd += (double)S[j] * p[j];
    }
    float* dqi = g.DQ + i * h.qs;
    for (long t = 0; t < d; ++t) dqi[t] = 0.f;
    const float rdf = (float)rd;
    for (long j = 0; j < lk; ++j) {
      const float ds = p[j] * (S[j] - rdf) * scale;
      if (ds == 0.f) continue;
      const float* kj = h.K + j * h.ks;
      float* dkj = g.DK + j * h.ks;
      for (long t = 0; t < d; ++t) { dqi[t] += ds * kj[t]; dkj[t] += ds * qi[t]; }
    }
  }
}

// Backward of attn_rows_tiny: per head, keys along the vector lanes.
static void attn_bw_tiny(const AttnHead& h, const AttnGrad& g, const float* probs, long b, long lq, long lk,
                         long d, float scale, const float* drop) {
  float Kt[32][W], Vt[32][W], dKt[32][W], dVt[32][W];
  for (long p = 0; p < d; ++p) for (long j = 0; j < W; ++j) {
    Kt[p][j] = j < lk ? h.K[j * h.ks + p] : 0.f;
    Vt[p][j] = j < lk ? h.V[j * h.vs + p] : 0.f;
    dKt[p][j] = 0.f; dVt[p][j] = 0.f;
  }
  const vf sc = vset1(scale);
  for (long i = 0; i < lq; ++i) {
    const float* go = g.GO + i * h.os;
    const float* qi = h.Q + i * h.qs;
    const vf P = vloadn(probs + (b * lq + i) * lk, lk);
    const vf M = drop ? vloadn(drop + (b * lq + i) * lk, lk) : vset1(1.f);
    const vf PD = vmul(P, M);
    vf S = vzero();
    for (long p = 0; p < d; ++p) {
      S = vfma(vset1(go[p]), vload(Vt[p]), S);
      vstore(dVt[p], vfma(PD, vset1(go[p]), vload(dVt[p])));
    }
    S = vmul(S, M);
    const float rd = hsum(vmul(S, P));
    const vf DS = vmul(vmul(P, vsub(S, vset1(rd))), sc);
    float* dqi = g.DQ + i * h.qs;
    for (long p = 0; p < d; ++p) {
      dqi[p] = hsum(vmul(DS, vload(Kt[p])));
      vstore(dKt[p], vfma(DS, vset1(qi[p]), vload(dKt[p])));
    }
  }
  for (long j = 0; j < lk; ++j) for (long p = 0; p < d; ++p) { g.DK[j * h.ks + p] = dKt[p][j]; g.DV[j * h.vs + p] = dVt[p][j]; }
}

// Smallest kn with P[i][j] == 0 for every row i < rows and key j >= kn.
static long zero_suffix(const float* P, long rows, long lk) {
  long kn = 0;
  for (long i = rows - 1; i >= 0; --i) {
    const float* row = P + i * lk;
    uint32_t any = 0;
    for (long j = kn; j < lk; ++j) { uint32_t u; std::memcpy(&u, row + j, 4); any |= u & 0x7fffffffu; }
    if (any) { long j = lk; while (j > kn && row[j - 1] == 0.f) --j; kn = j; }
  }
  return kn;
}

static void attn_bw_one(const AttnHead& h, const AttnGrad& g, const float* probs, long b, long lq, long lk,
                        long d, float scale, const float* drop, bool mt) {
  if (attn_tiny(lk, d)) { attn_bw_tiny(h, g, probs, b, lq, lk, d, scale, drop); return; }
  if (attn_direct(lk, d)) { attn_bw_direct(h, g, probs, b, lq, lk, d, scale, drop); return; }
  const float* P = probs + b * lq * lk;
  const float* dm = drop ? drop + b * lq * lk : nullptr;
  // Row blocks whose later keys all have probability exactly 0 (causal
  // masking, padding) involve only a prefix of the keys: dV and dK then
  // accumulate block by block over that prefix instead of every key.
  long nblk = lq >= 64 ? lmin(4, lq / 32) : 1;
  long kpre[4];
  if (nblk > 1) {
    bool pays = false;
    for (long blk = 0; blk < nblk; ++blk) {
      const long i0 = lq * blk / nblk, i1 = lq * (blk + 1) / nblk;
      kpre[blk] = zero_suffix(P + i0 * lk, i1 - i0, lk);
      pays = pays || kpre[blk] < lk - lk / 8;
    }
    if (!pays) nblk = 1;
  }
  if (nblk > 1)
    for (long j = 0; j < lk; ++j) {
      std::memset(g.DK + j * h.ks, 0, sizeof(float) * (size_t)d);
      std::memset(g.DV + j * h.vs, 0, sizeof(float) * (size_t)d);
    }
  for (long blk = 0; blk < nblk; ++blk) {
    const long i0 = lq * blk / nblk, i1 = lq * (blk + 1) / nblk, rows = i1 - i0;
    const long kn = nblk > 1 ? lmax(1, kpre[blk]) : lk;
    const int acc = nblk > 1 ? 1 : 0;
    const float* Pb = P + i0 * lk;
    const float* PD = Pb;
    if (dm) {
      float* t = tl_t1.f((size_t)rows * lk);
      const float* mb = dm + i0 * lk;
      for (long e = 0; e < rows * lk; ++e) t[e] = Pb[e] * mb[e];
      PD = t;
    }
    const float* GO = g.GO + i0 * h.os;
    GemmP gv{kn, d, rows, PD, lk, 1, GO, h.os, 0, g.DV, h.vs, acc};
    gemm_one(gv, mt);
    float* S = tl_t2.f((size_t)rows * lk);
    GemmP gp{rows, kn, d, GO, h.os, 0, h.V, h.vs, 1, S, lk, 0};
    gemm_one(gp, mt);
    for (long i = 0; i < rows; ++i) {
      float* s = S + i * lk;
      const float* p = Pb + i * lk;
      if (dm) { const float* mr = dm + (i0 + i) * lk; for (long j = 0; j < kn; ++j) s[j] *= mr[j]; }
      const vf rd = vset1((float)dot_d(s, p, kn)), sc = vset1(scale);
      long j = 0;
      for (; j + W <= kn; j += W) vstore(s + j, vmul(vmul(vload(p + j), vsub(vload(s + j), rd)), sc));
      if (j < kn) vstoren(s + j, vmul(vmul(vloadn(p + j, kn - j), vsub(vloadn(s + j, kn - j), rd)), sc), kn - j);
    }
    GemmP gq{rows, d, kn, S, lk, 0, h.K, h.ks, 0, g.DQ + i0 * h.qs, h.qs, 0};
    gemm_one(gq, mt);
    GemmP gk{kn, d, rows, S, lk, 1, h.Q + i0 * h.qs, h.qs, 0, g.DK, h.ks, acc};
    gemm_one(gk, mt);
  }
}

static void k_attention_bw(const float* dout, const float* q, const float* k, const float* v, const float* probs,
                           float* dq, float* dk, float* dv, long bh, long lq, long lk, long d, float scale,
                           const float* drop, const AttnL* layout) {
  const AttnL L = layout ? *layout : AttnL{1, d, d, d, d};
  auto one = [&](long b, bool mt) {
    const AttnHead h = attn_head(q, k, v, nullptr, L, b, lq, lk, d);
    const AttnGrad g{dout + head_off(L, b, lq, L.os, d), dq + head_off(L, b, lq, L.qs, d),
                     dk + head_off(L, b, lk, L.ks, d), dv + head_off(L, b, lk, L.vs, d)};
    attn_bw_one(h, g, probs, b, lq, lk, d, scale, drop, mt);
  };
  int T = trax_num_threads();
  double work = 8.0 * bh * lq * lk * d;
  // Whole batch rows per task (all H heads), as in the forward pass.
  const long H = L.H, nb = bh / H;
  if (T > 1 && work >= 2e6 && nb >= 2L * T) {
    auto task = [&](long bb) { for (long hh = 0; hh < H; ++hh) one(bb * H + hh, false); };
    par_for(nb, task);
  } else {
    for (long b = 0; b < bh; ++b) one(b, T > 1);
  }
}

// ---------------------------------------------------------------- rows, optimizers

static inline long clip_row(int32_t id, long rows) { return id < 0 ? 0 : (id >= rows ? rows - 1 : id); }

static void k_gather(const float* table, const int32_t* ids, float* out, long nids, long rows, long cols) {
  auto body = [&](long i0, long i1) {
    for (long i = i0; i < i1; ++i)
      std::memcpy(out + i * cols, table + clip_row(ids[i], rows) * cols, sizeof(float) * (size_t)cols);
  };
  par_range(nids, 0.1 * (double)cols + 2.0, body);
}

static void k_scatter(const float* dout, const int32_t* ids, float* dtable, long nids, long rows, long cols) {
  // Sequential in id order: duplicate ids must accumulate deterministically.
  for (long i = 0; i < nids; ++i) {
    float* dst = dtable + clip_row(ids[i], rows) * cols;
    const float* src = dout + i * cols;
    long j = 0;
    for (; j + W <= cols; j += W) vstore(dst + j, vadd(vload(dst + j), vload(src + j)));
    for (; j < cols; ++j) dst[j] += src[j];
  }
}

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

// ---------------------------------------------------------------- dropout masks

// Threefry-2x32 in JAX's word layout (see src/tensor/threefry.ts), W counters
// per vector: a counter's 20 rounds are one serial chain, so lanes are the
// only parallelism. Compilers turn the shift pair into a rotate.
static void k_dropout(uint32_t K0, uint32_t K1, double keep, float scale, float* out, long n, const float* x,
                      uint8_t* keepMask) {
  typedef uint32_t uv __attribute__((vector_size(W * 4)));
  const long half = (n + (n & 1)) / 2;
  const uint32_t K2 = K0 ^ K1 ^ 0x1bd11bdau;
  uv k0v, k1v, k2v, lane;
  for (int l = 0; l < W; ++l) { k0v[l] = K0; k1v[l] = K1; k2v[l] = K2; lane[l] = (uint32_t)l; }
  const uv ks[3] = {k0v, k1v, k2v};
  // Compare in integers: (w >> 9) * 2^-23 < keep  <=>  (w >> 9) < ceil(keep * 2^23).
  const double lim = keep * 8388608.0;
  const uint32_t thr = lim >= 8388608.0 ? 8388608u : (uint32_t)__builtin_ceil(lim);
  auto put = [&](long idx, uint32_t w) {
    if (idx < n) {
      const bool kept = (w >> 9) < thr;
      const float m = kept ? scale : 0.f;
      out[idx] = x ? x[idx] * m : m;
      if (keepMask) keepMask[idx] = kept ? 1 : 0;
    }
  };
  // Counter blocks are independent: split them over the pool for big masks.
  const long blocks = half / W;
  typedef float fvv __attribute__((vector_size(W * 4)));
  typedef int32_t ivv __attribute__((vector_size(W * 4)));
  const uv thrv = lane * 0u + thr, nv = lane * 0u + (uint32_t)n;
  const fvv scv = (fvv)(lane * 0u) + scale;
  // U counter vectors per pass: each chain of 20 rounds is serial, so
  // interleaving independent chains is what keeps the vector units busy.
  constexpr int U = 4;
  auto body = [&](long c0, long c1) {
  for (long blk = c0; blk < c1; blk += U) {
    const int u = (int)lmin(U, c1 - blk);
    uv a[U], b[U];
    for (int q = 0; q < U; ++q) {
      const long i = (blk + (q < u ? q : 0)) * W;
      a[q] = lane + (uint32_t)i + k0v;
      // Counters past n (odd n) are 0, as in JAX's layout; lane-wise writes
      // would push the chains out of registers.
      const uv cb = lane + (uint32_t)(half + i);
      b[q] = (cb & (uv)(cb < nv)) + k1v;
    }
#define TF_ROUND(r) for (int q = 0; q < U; ++q) { a[q] += b[q]; b[q] = ((b[q] << r) | (b[q] >> (32 - r))) ^ a[q]; }
#define TF_INJ(x, y, c) for (int q = 0; q < U; ++q) { a[q] += ks[x]; b[q] += ks[y] + c; }
    TF_ROUND(13) TF_ROUND(15) TF_ROUND(26) TF_ROUND(6) TF_INJ(1, 2, 1u)
    TF_ROUND(17) TF_ROUND(29) TF_ROUND(16) TF_ROUND(24) TF_INJ(2, 0, 2u)
    TF_ROUND(13) TF_ROUND(15) TF_ROUND(26) TF_ROUND(6) TF_INJ(0, 1, 3u)
    TF_ROUND(17) TF_ROUND(29) TF_ROUND(16) TF_ROUND(24) TF_INJ(1, 2, 4u)
    TF_ROUND(13) TF_ROUND(15) TF_ROUND(26) TF_ROUND(6) TF_INJ(2, 0, 5u)
#undef TF_ROUND
#undef TF_INJ
    for (int q = 0; q < u; ++q) {
      const long i = (blk + q) * W;
      if (half + i + W <= n) {
        // Whole vectors: compare, select and store without leaving the lanes.
        ivv ma = (ivv)((a[q] >> 9) < thrv), mb = (ivv)((b[q] >> 9) < thrv);
        fvv va = (fvv)(ma & (ivv)scv), vb = (fvv)(mb & (ivv)scv);
        if (x) {
          fvv xa, xb;
          __builtin_memcpy(&xa, x + i, sizeof xa);
          __builtin_memcpy(&xb, x + half + i, sizeof xb);
          va *= xa; vb *= xb;
        }
        __builtin_memcpy(out + i, &va, sizeof va);
        __builtin_memcpy(out + half + i, &vb, sizeof vb);
        if (keepMask) {
          typedef uint8_t u8v __attribute__((vector_size(W)));
          const u8v ba = __builtin_convertvector((uv)ma & 1u, u8v), bb = __builtin_convertvector((uv)mb & 1u, u8v);
          __builtin_memcpy(keepMask + i, &ba, sizeof ba);
          __builtin_memcpy(keepMask + half + i, &bb, sizeof bb);
        }
      } else {
        for (int l = 0; l < W; ++l) { put(i + l, a[q][l]); put(half + i + l, b[q][l]); }
      }
    }
  }
  };
  par_range(blocks, 0.8 * W, body, U);
  for (long i = blocks * W; i < half; ++i) {
    uint32_t a = (uint32_t)i + K0, b = ((half + i < n) ? (uint32_t)(half + i) : 0u) + K1;
    const uint32_t kk[3] = {K0, K1, K2};
    static const int R[8] = {13, 15, 26, 6, 17, 29, 16, 24};
    for (int inj = 1; inj <= 5; ++inj) {
      const int base = (inj & 1) ? 0 : 4;
      for (int r = 0; r < 4; ++r) { a += b; b = ((b << R[base + r]) | (b >> (32 - R[base + r]))) ^ a; }
      a += kk[inj % 3];
      b += kk[(inj + 1) % 3] + (uint32_t)inj;
    }
    put(i, a);
    put(half + i, b);
  }
}

static void k_dropout_apply(const uint8_t* keepMask, float scale, const float* x, float* out, long n) {
  auto body = [&](long i0, long i1) {
    const vf sc = vset1(scale);
    long i = i0;
    for (; i + W <= i1; i += W) vstore(out + i, vmul(vload(x + i), vmul(vbytes(keepMask + i), sc)));
    for (; i < i1; ++i) out[i] = x[i] * (keepMask[i] ? scale : 0.f);
  };
  par_range(n, 0.25, body, 64);
}

static const KernelTable kTable = {
  TRAX_ISA_NAME, k_matmul, k_unary, k_binary, k_reduce, k_softmax, k_softmax_bw, k_layernorm, k_layernorm_bw,
  k_ce, k_ce_bw, k_attention, k_attention_bw, k_gather, k_scatter, k_adam, k_adafactor, k_sumsq, k_dropout,
  k_dropout_apply,
};
