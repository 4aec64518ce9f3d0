#pragma once
namespace trax {
int pool_threads();
void pool_set_threads(int n);
}  // namespace trax
