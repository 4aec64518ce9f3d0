// Binary's broadcast layout, simplified once for every caller (the N-API
// binding and the plan executor): unit axes are dropped and axes that are
// contiguous in a, b and the output alike are merged.
#pragma once
#include <cstdint>

// Writes the merged shape and strides (room for `rank` entries, at most 64)
// and returns the merged rank, at least 1.
static inline int merge_binary_axes(const int32_t* shape, const int32_t* as, const int32_t* bs, long rank,
                                    long* sh, long* sa, long* sb) {
  int r = 0;
  for (long d = 0; d < rank; ++d) {
    if (shape[d] == 1) continue;
    if (r > 0 && sa[r - 1] == (long)as[d] * shape[d] && sb[r - 1] == (long)bs[d] * shape[d]) {
      sh[r - 1] *= shape[d]; sa[r - 1] = as[d]; sb[r - 1] = bs[d];
      continue;
    }
    sh[r] = shape[d]; sa[r] = as[d]; sb[r] = bs[d]; ++r;
  }
  if (r == 0) { sh[0] = 1; sa[0] = 0; sb[0] = 0; r = 1; }
  return r;
}
