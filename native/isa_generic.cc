// Kernels compiled for the generic instruction set (flags come from binding.gyp).
#include "common.h"

#if 1
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>


#define TRAX_MR 6
#define TRAX_ISA_NAME "generic"
namespace trax {
namespace isa_generic {
#include "simd_generic.h"
#include "vmath.h"
#include "impl.h"
}  // namespace isa_generic
const KernelTable* table_generic() { return &isa_generic::kTable; }
}  // namespace trax
#else
// Built without the needed -m flags (non-x86 target): not available.
const trax::KernelTable* trax::table_generic() { return nullptr; }
#endif
