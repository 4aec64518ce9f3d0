// Plan executor: a traced kernel sequence (src/engine/plan.ts serialises it)
// decoded once into steps with resolved buffer pointers, then run in one
// N-API call per replay.
#pragma once
#include <node_api.h>

#include <cstdint>

#include "common.h"

namespace trax {
// The kernel table in use (addon.cc chooses it).
const KernelTable* active_table();
// Axis permutation on checked arguments (addon.cc).
void permute(const float* x, float* out, const int32_t* shape, const int32_t* perm, long rank, long total);

// planCreate(code: Int32Array, lits: Float64Array, meta: Int32Array,
//            bufs: (Uint8Array | null)[], nInputs, nScalars) -> plan
napi_value PlanCreate(napi_env env, napi_callback_info info);
// planRun(plan, inputs: TypedArray[], scalars: Float64Array)
napi_value PlanRun(napi_env env, napi_callback_info info);
}  // namespace trax
