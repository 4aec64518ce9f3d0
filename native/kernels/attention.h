// Scaled dot-product attention (causal, masked, with dropout) and its backward.
// Part of impl.h: included inside a per-ISA namespace.

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
