// 8-lane fp32 vector ops on AVX2 + FMA. Included inside the ISA namespace.

typedef __m256 vf;
typedef __m256i vi;
typedef __m256 vm;
enum { W = 8 };
static inline vf vzero() { return _mm256_setzero_ps(); }
static inline vf vset1(float x) { return _mm256_set1_ps(x); }
static inline vf vload(const float* p) { return _mm256_loadu_ps(p); }
static inline void vstore(float* p, vf v) { _mm256_storeu_ps(p, v); }
static inline __m256i vfirst(long n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf vloadn(const float* p, long n) { return _mm256_maskload_ps(p, vfirst(n)); }
static inline void vstoren(float* p, vf v, long n) { _mm256_maskstore_ps(p, vfirst(n), v); }
static inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vfnma(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
static inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf vmin(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf vsqrt(vf a) { return _mm256_sqrt_ps(a); }
static inline vf vabs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.f), a); }
static inline vf vneg(vf a) { return _mm256_xor_ps(_mm256_set1_ps(-0.f), a); }
static inline vf vround(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline vi vf2i(vf a) { return _mm256_cvtps_epi32(a); }
static inline vf vi2f(vi a) { return _mm256_cvtepi32_ps(a); }
static inline vi vasi(vf a) { return _mm256_castps_si256(a); }
static inline vf vasf(vi a) { return _mm256_castsi256_ps(a); }
static inline vi viset1(int x) { return _mm256_set1_epi32(x); }
static inline vi viadd(vi a, vi b) { return _mm256_add_epi32(a, b); }
static inline vi visub(vi a, vi b) { return _mm256_sub_epi32(a, b); }
static inline vi viand(vi a, vi b) { return _mm256_and_si256(a, b); }
static inline vi vior(vi a, vi b) { return _mm256_or_si256(a, b); }
static inline vi visrl23(vi a) { return _mm256_srli_epi32(a, 23); }
static inline vi visll23(vi a) { return _mm256_slli_epi32(a, 23); }
static inline vi visra1(vi a) { return _mm256_srai_epi32(a, 1); }
static inline vm vlt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
static inline vm vle(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
static inline vm vgt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
static inline vm vge(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
static inline vm veq(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
static inline vm vne(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_NEQ_UQ); }
static inline vm visnan(vf a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
static inline vm vmor(vm a, vm b) { return _mm256_or_ps(a, b); }
static inline vm vmand(vm a, vm b) { return _mm256_and_ps(a, b); }
// W bytes (0/1 and the like) as floats.
static inline vf vbytes(const uint8_t* p) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)p))); }
static inline vf vsel(vm m, vf a, vf b) { return _mm256_blendv_ps(b, a, m); }
static inline vf vmask01(vm m) { return _mm256_and_ps(m, _mm256_set1_ps(1.f)); }
static inline float hsum(vf a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
static inline float hmax(vf a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
static inline float hmin(vf a) {
  __m128 s = _mm_min_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_min_ps(s, _mm_movehl_ps(s, s));
  s = _mm_min_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
static inline vm vfirstm(long n) { return _mm256_castsi256_ps(vfirst(n)); }
#include "tr_avx.h"
