// Row gather (embedding lookup) and its backward, a scatter-add.
// Part of impl.h: included inside a per-ISA namespace.

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
