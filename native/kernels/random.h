// Dropout: Threefry keep-masks (forward) and re-applying a stored mask
// (backward).
// Part of impl.h: included inside a per-ISA namespace.

// Threefry-2x32 in JAX's word layout (see src/engine/threefry.ts), W counters
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
