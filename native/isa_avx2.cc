// Kernels compiled for the avx2 instruction set (flags come from binding.gyp).
#include "common.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <immintrin.h>

#define TRAX_MR 6
#define TRAX_ISA_NAME "avx2"
namespace trax {
namespace isa_avx2 {
#include "simd_avx2.h"
#include "vmath.h"
#include "impl.h"
}  // namespace isa_avx2
const KernelTable* table_avx2() { return &isa_avx2::kTable; }
}  // namespace trax
#else
// Built without the needed -m flags (non-x86 target): not available.
const trax::KernelTable* trax::table_avx2() { return nullptr; }
#endif
