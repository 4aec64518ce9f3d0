// Kernels compiled for the avx512 instruction set (flags come from binding.gyp).
#include "common.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512VL__) && defined(__FMA__)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <immintrin.h>

#define TRAX_MR 14
#define TRAX_ISA_NAME "avx512"
namespace trax {
namespace isa_avx512 {
#include "simd_avx512.h"
#include "vmath.h"
#include "impl.h"
}  // namespace isa_avx512
const KernelTable* table_avx512() { return &isa_avx512::kTable; }
}  // namespace trax
#else
// Built without the needed -m flags (non-x86 target): not available.
const trax::KernelTable* trax::table_avx512() { return nullptr; }
#endif
