// 16-lane fp32 vector ops on AVX-512F. Included inside the ISA namespace.

typedef __m512 vf;
typedef __m512i vi;
typedef __mmask16 vm;
enum { W = 16 };
static inline vf vzero() { return _mm512_setzero_ps(); }
static inline vf vset1(float x) { return _mm512_set1_ps(x); }
static inline vf vload(const float* p) { return _mm512_loadu_ps(p); }
static inline void vstore(float* p, vf v) { _mm512_storeu_ps(p, v); }
static inline vm vfirst(long n) { return (vm)((1u << n) - 1u); }
static inline vf vloadn(const float* p, long n) { return _mm512_maskz_loadu_ps(vfirst(n), p); }
static inline void vstoren(float* p, vf v, long n) { _mm512_mask_storeu_ps(p, vfirst(n), v); }
static inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vfnma(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); }
// x86 semantics: returns b when either is NaN.
static inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf vmin(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vf vsqrt(vf a) { return _mm512_sqrt_ps(a); }
static inline vf vabs(vf a) { return _mm512_abs_ps(a); }
static inline vf vneg(vf a) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32((int)0x80000000u))); }
static inline vf vround(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline vi vf2i(vf a) { return _mm512_cvtps_epi32(a); }
static inline vf vi2f(vi a) { return _mm512_cvtepi32_ps(a); }
static inline vi vasi(vf a) { return _mm512_castps_si512(a); }
static inline vf vasf(vi a) { return _mm512_castsi512_ps(a); }
static inline vi viset1(int x) { return _mm512_set1_epi32(x); }
static inline vi viadd(vi a, vi b) { return _mm512_add_epi32(a, b); }
static inline vi visub(vi a, vi b) { return _mm512_sub_epi32(a, b); }
static inline vi viand(vi a, vi b) { return _mm512_and_si512(a, b); }
static inline vi vior(vi a, vi b) { return _mm512_or_si512(a, b); }
static inline vi visrl23(vi a) { return _mm512_srli_epi32(a, 23); }
static inline vi visll23(vi a) { return _mm512_slli_epi32(a, 23); }
static inline vi visra1(vi a) { return _mm512_srai_epi32(a, 1); }
static inline vm vlt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
static inline vm vle(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
static inline vm vgt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
static inline vm vge(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
static inline vm veq(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
static inline vm vne(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_NEQ_UQ); }
static inline vm visnan(vf a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
static inline vm vmor(vm a, vm b) { return (vm)(a | b); }
static inline vm vmand(vm a, vm b) { return (vm)(a & b); }
// W bytes (0/1 and the like) as floats.
static inline vf vbytes(const uint8_t* p) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)p))); }
static inline vf vsel(vm m, vf a, vf b) { return _mm512_mask_blend_ps(m, b, a); }
static inline vf vmask01(vm m) { return _mm512_maskz_mov_ps(m, _mm512_set1_ps(1.f)); }
static inline float hsum(vf a) { return _mm512_reduce_add_ps(a); }
static inline float hmax(vf a) { return _mm512_reduce_max_ps(a); }
static inline float hmin(vf a) { return _mm512_reduce_min_ps(a); }
static inline vm vfirstm(long n) { return vfirst(n); }
#include "tr_avx.h"
