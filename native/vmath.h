// Vectorized exp/log/tanh/erf written against the simd_*.h ops. Included
// inside the ISA namespace after one of those headers.

static inline vf vexp(vf x) {
  // Below ln(FLT_MIN) the result is flushed to 0: producing denormals costs a
  // microcode assist per instruction, and masked attention scores (-1e9) hit
  // this on every row.
  const vf hi = vset1(88.72283935546875f), lo = vset1(-87.0f);
  vf xc = vmin(vmax(x, lo), hi);
  vf n = vround(vmul(xc, vset1(1.44269504088896341f)));
  // Cody-Waite split of ln2 keeps r accurate for large |n|.
  vf r = vfnma(n, vset1(0.693145751953125f), xc);
  r = vfnma(n, vset1(1.428606765330187045e-06f), r);
  // Taylor to degree 7 on |r| <= ln2/2: truncation error ~5e-9.
  vf p = vset1(1.f / 5040.f);
  p = vfma(p, r, vset1(1.f / 720.f));
  p = vfma(p, r, vset1(1.f / 120.f));
  p = vfma(p, r, vset1(1.f / 24.f));
  p = vfma(p, r, vset1(1.f / 6.f));
  p = vfma(p, r, vset1(0.5f));
  p = vfma(p, r, vset1(1.f));
  p = vfma(p, r, vset1(1.f));
  // 2^n applied in two halves so results down to the denormal range and up to
  // FLT_MAX stay exact without exponent overflow.
  vi ni = vf2i(n);
  vi n1 = visra1(ni), n2 = visub(ni, n1);
  vf s1 = vasf(visll23(viadd(n1, viset1(127))));
  vf s2 = vasf(visll23(viadd(n2, viset1(127))));
  vf res = vmul(vmul(p, s1), s2);
  res = vsel(vgt(x, hi), vset1(__builtin_inff()), res);
  res = vsel(vlt(x, lo), vzero(), res);
  return vsel(visnan(x), x, res);
}

static inline vf vlog(vf x) {
  vm sub = vlt(x, vset1(1.17549435e-38f));
  vf xs = vsel(sub, vmul(x, vset1(8388608.f)), x);
  vi bits = vasi(xs);
  vf e = vi2f(visub(visrl23(bits), viset1(127)));
  e = vsel(sub, vsub(e, vset1(23.f)), e);
  vf m = vasf(vior(viand(bits, viset1(0x007fffff)), viset1(0x3f800000)));
  vm big = vgt(m, vset1(1.41421356237f));
  m = vsel(big, vmul(m, vset1(0.5f)), m);
  e = vsel(big, vadd(e, vset1(1.f)), e);
  // log(m) = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.1716.
  vf f = vsub(m, vset1(1.f));
  vf s = vdiv(f, vadd(f, vset1(2.f)));
  vf s2 = vmul(s, s);
  vf p = vset1(2.f / 11.f);
  p = vfma(p, s2, vset1(2.f / 9.f));
  p = vfma(p, s2, vset1(2.f / 7.f));
  p = vfma(p, s2, vset1(2.f / 5.f));
  p = vfma(p, s2, vset1(2.f / 3.f));
  p = vfma(p, s2, vset1(2.f));
  vf r = vfma(e, vset1(1.428606765330187045e-06f), vmul(p, s));
  r = vfma(e, vset1(0.693145751953125f), r);
  r = vsel(veq(x, vset1(__builtin_inff())), x, r);
  r = vsel(veq(x, vzero()), vset1(-__builtin_inff()), r);
  return vsel(vmor(vlt(x, vzero()), visnan(x)), vset1(__builtin_nanf("")), r);
}

// log(1+y) for y >= 0 without losing y when it is tiny.
static inline vf vlog1p(vf y) {
  vf u = vadd(vset1(1.f), y);
  vf d = vsub(u, vset1(1.f));
  vf r = vmul(vlog(u), vdiv(y, d));
  return vsel(veq(d, vzero()), y, r);
}

static inline vf vtanh(vf x) {
  vf ax = vabs(x);
  // Large |x|: 1 - 2/(e^{2|x|}+1); clamp keeps e finite (tanh is 1 in fp32 there).
  vf e = vexp(vmul(vmin(vset1(10.f), ax), vset1(2.f)));
  vf big = vsub(vset1(1.f), vdiv(vset1(2.f), vadd(e, vset1(1.f))));
  big = vsel(vlt(x, vzero()), vneg(big), big);
  // Small |x|: odd Taylor series, avoids cancellation near 0.
  vf x2 = vmul(x, x);
  vf p = vset1(6404582.f / 10854718875.f);
  p = vfma(p, x2, vset1(-929569.f / 638512875.f));
  p = vfma(p, x2, vset1(21844.f / 6081075.f));
  p = vfma(p, x2, vset1(-1382.f / 155925.f));
  p = vfma(p, x2, vset1(62.f / 2835.f));
  p = vfma(p, x2, vset1(-17.f / 315.f));
  p = vfma(p, x2, vset1(2.f / 15.f));
  p = vfma(p, x2, vset1(-1.f / 3.f));
  vf small = vfma(vmul(x, x2), p, x);
  return vsel(vlt(ax, vset1(0.55f)), small, big);
}

static inline vf vsigmoid(vf x) {
  return vdiv(vset1(1.f), vadd(vset1(1.f), vexp(vneg(x))));
}

static inline vf verfc_pos(vf ax);
static inline vf verf(vf x) {
  vf ax = vabs(x), x2 = vmul(x, x);
  // |x| < 1: Maclaurin series sum (-1)^k x^(2k+1) / (k! (2k+1)), k <= 10.
  vf p = vset1(1.f / 76204800.f);
  p = vfma(p, x2, vset1(-1.f / 6894720.f));
  p = vfma(p, x2, vset1(1.f / 685440.f));
  p = vfma(p, x2, vset1(-1.f / 75600.f));
  p = vfma(p, x2, vset1(1.f / 9360.f));
  p = vfma(p, x2, vset1(-1.f / 1320.f));
  p = vfma(p, x2, vset1(1.f / 216.f));
  p = vfma(p, x2, vset1(-1.f / 42.f));
  p = vfma(p, x2, vset1(1.f / 10.f));
  p = vfma(p, x2, vset1(-1.f / 3.f));
  p = vfma(p, x2, vset1(1.f));
  vf small = vmul(vmul(x, vset1(1.12837916709551257f)), p);
  vf big = vsub(vset1(1.f), verfc_pos(ax));
  big = vsel(vlt(x, vzero()), vneg(big), big);
  vf r = vsel(vlt(ax, vset1(1.f)), small, big);
  return vsel(visnan(x), x, r);
}

// erfc(ax) for ax >= 0 (used for ax >= 1): Chebyshev fit, fractional error < 1.2e-7.
static inline vf verfc_pos(vf ax) {
  vf axc = ax;
  vf t = vdiv(vset1(1.f), vfma(vset1(0.5f), axc, vset1(1.f)));
  vf q = vset1(0.17087277f);
  q = vfma(q, t, vset1(-0.82215223f));
  q = vfma(q, t, vset1(1.48851587f));
  q = vfma(q, t, vset1(-1.13520398f));
  q = vfma(q, t, vset1(0.27886807f));
  q = vfma(q, t, vset1(-0.18628806f));
  q = vfma(q, t, vset1(0.09678418f));
  q = vfma(q, t, vset1(0.37409196f));
  q = vfma(q, t, vset1(1.00002368f));
  q = vfma(q, t, vset1(-1.26551223f));
  return vmul(t, vexp(vsub(q, vmul(axc, axc))));
}

// Exact GELU 0.5 x (1 + erf(x/sqrt2)); for x/sqrt2 <= -1 uses erfc(|z|)
// directly so the far negative tail keeps its relative accuracy.
static inline vf vgelu(vf x) {
  vf z = vmul(x, vset1(0.70710678118654752f));
  vf az = vabs(z);
  vf ec = verfc_pos(az);
  vf onePlus = vsel(vlt(z, vzero()), ec, vsub(vset1(2.f), ec));
  onePlus = vsel(vlt(az, vset1(1.f)), vadd(vset1(1.f), verf(z)), onePlus);
  return vmul(vmul(vset1(0.5f), x), onePlus);
}

// 0.5 x (1 + tanh(u)) == x * sigmoid(2u): no cancellation for u << 0.
static inline vf vfastgelu(vf x) {
  vf u = vmul(vmul(vset1(0.7978845608f), x), vfma(vset1(0.044715f), vmul(x, x), vset1(1.f)));
  return vdiv(x, vadd(vset1(1.f), vexp(vmul(vset1(-2.f), u))));
}
