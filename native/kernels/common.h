// Pieces shared by the kernel families: min/max, per-thread scratch, the
// thread-pool loops and double-accumulated sums.
// Part of impl.h: included inside a per-ISA namespace.

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
