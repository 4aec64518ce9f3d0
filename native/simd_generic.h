// 4-lane fp32 vector ops in GCC/Clang vector extensions: SSE2 on x86-64,
// NEON on arm64, scalar elsewhere. Included inside the ISA namespace.

typedef float vf __attribute__((vector_size(16)));
typedef int32_t vi __attribute__((vector_size(16)));
typedef uint32_t vu __attribute__((vector_size(16)));
typedef vi vm;
enum { W = 4 };
static inline vf vzero() { return (vf){0.f, 0.f, 0.f, 0.f}; }
static inline vf vset1(float x) { return (vf){x, x, x, x}; }
static inline vf vload(const float* p) { vf v; std::memcpy(&v, p, sizeof v); return v; }
static inline void vstore(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
static inline vf vloadn(const float* p, long n) { vf v = vzero(); std::memcpy(&v, p, (size_t)n * 4); return v; }
static inline void vstoren(float* p, vf v, long n) { std::memcpy(p, &v, (size_t)n * 4); }
static inline vf vadd(vf a, vf b) { return a + b; }
static inline vf vsub(vf a, vf b) { return a - b; }
static inline vf vmul(vf a, vf b) { return a * b; }
static inline vf vdiv(vf a, vf b) { return a / b; }
static inline vf vfma(vf a, vf b, vf c) { return a * b + c; }
static inline vf vfnma(vf a, vf b, vf c) { return c - a * b; }
static inline vf vmax(vf a, vf b) { return a > b ? a : b; }
static inline vf vmin(vf a, vf b) { return a < b ? a : b; }
static inline vf vsqrt(vf a) { vf r = a; for (int i = 0; i < W; ++i) r[i] = __builtin_sqrtf(a[i]); return r; }
static inline vi vasi(vf a) { return (vi)a; }
static inline vf vasf(vi a) { return (vf)a; }
static inline vi viset1(int x) { return (vi){x, x, x, x}; }
static inline vf vabs(vf a) { return vasf(vasi(a) & viset1(0x7fffffff)); }
static inline vf vneg(vf a) { return vasf(vasi(a) ^ viset1((int)0x80000000u)); }
// Exact for |a| < 2^22, which is all the math code needs.
static inline vf vround(vf a) { const vf c = vset1(12582912.f); return (a + c) - c; }
static inline vi vf2i(vf a) { return __builtin_convertvector(vround(a), vi); }
static inline vf vi2f(vi a) { return __builtin_convertvector(a, vf); }
static inline vi viadd(vi a, vi b) { return a + b; }
static inline vi visub(vi a, vi b) { return a - b; }
static inline vi viand(vi a, vi b) { return a & b; }
static inline vi vior(vi a, vi b) { return a | b; }
static inline vi visrl23(vi a) { return (vi)((vu)a >> 23); }
static inline vi visll23(vi a) { return a << 23; }
static inline vi visra1(vi a) { return a >> 1; }
static inline vm vlt(vf a, vf b) { return a < b; }
static inline vm vle(vf a, vf b) { return a <= b; }
static inline vm vgt(vf a, vf b) { return a > b; }
static inline vm vge(vf a, vf b) { return a >= b; }
static inline vm veq(vf a, vf b) { return a == b; }
static inline vm vne(vf a, vf b) { return a != b; }
static inline vm visnan(vf a) { return a != a; }
static inline vm vmor(vm a, vm b) { return a | b; }
static inline vm vmand(vm a, vm b) { return a & b; }
// W bytes (0/1 and the like) as floats.
static inline vf vbytes(const uint8_t* p) { return (vf){(float)p[0], (float)p[1], (float)p[2], (float)p[3]}; }
static inline vf vsel(vm m, vf a, vf b) { return m ? a : b; }
static inline vf vmask01(vm m) { return vsel(m, vset1(1.f), vzero()); }
static inline float hsum(vf a) { return (a[0] + a[1]) + (a[2] + a[3]); }
static inline float hmax(vf a) { float x = a[0] > a[1] ? a[0] : a[1], y = a[2] > a[3] ? a[2] : a[3]; return x > y ? x : y; }
static inline float hmin(vf a) { float x = a[0] < a[1] ? a[0] : a[1], y = a[2] < a[3] ? a[2] : a[3]; return x < y ? x : y; }
static inline vm vfirstm(long n) { return (vi){0, 1, 2, 3} < viset1((int)n); }
