// WGSL for embedding rows (gather, scatter-add), Threefry dropout masks and
// the fused optimizer updates.
import { flatMain } from './elementwise.js';

/** out[i, c] = table[clip(ids[idsOffset + i]), c] (params: n = count*cols, rows, cols, idsOffset). */
export function gatherRowsSource(): string {
  return flatMain(`let cols = pu(2u); let r = i / cols; let c = i % cols;
  let t = u32(clamp(IDS[pu(3u) + r], 0, i32(pu(1u)) - 1));
  O[i] = T[t * cols + c];`,
  `@group(0) @binding(1) var<storage, read> T: array<f32>;
@group(0) @binding(2) var<storage, read> IDS: array<i32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;`);
}

/**
 * dtable[clip(ids[i]), c] += dout[i, c], with a compare-and-swap loop on the
 * float's bits (WGSL has no float atomics). Sums of repeated ids land in an
 * unspecified order, so they may differ from the reference in the last bits.
 */
export function scatterAddRowsSource(): string {
  return flatMain(`let cols = pu(2u); let r = i / cols; let c = i % cols;
  let t = u32(clamp(IDS[r], 0, i32(pu(1u)) - 1));
  let add = D[i];
  let at = t * cols + c;
  var old = atomicLoad(&T[at]);
  loop {
    let res = atomicCompareExchangeWeak(&T[at], old, bitcast<u32>(bitcast<f32>(old) + add));
    if (res.exchanged) { break; }
    old = res.old_value;
  }`,
  `@group(0) @binding(1) var<storage, read> D: array<f32>;
@group(0) @binding(2) var<storage, read> IDS: array<i32>;
@group(0) @binding(3) var<storage, read_write> T: array<atomic<u32>>;`);
}

/** Threefry-2x32 (20 rounds), JAX's and threefry.ts's. */
export const THREEFRY = /* wgsl */`
fn rotl(x: u32, r: u32) -> u32 { return (x << r) | (x >> (32u - r)); }
fn threefry(k0: u32, k1: u32, x0: u32, x1: u32) -> vec2u {
  let k2 = k0 ^ k1 ^ 0x1bd11bdau;
  var a = x0 + k0; var b = x1 + k1;
  a += b; b = rotl(b, 13u) ^ a; a += b; b = rotl(b, 15u) ^ a; a += b; b = rotl(b, 26u) ^ a; a += b; b = rotl(b, 6u) ^ a;
  a += k1; b += k2 + 1u;
  a += b; b = rotl(b, 17u) ^ a; a += b; b = rotl(b, 29u) ^ a; a += b; b = rotl(b, 16u) ^ a; a += b; b = rotl(b, 24u) ^ a;
  a += k2; b += k0 + 2u;
  a += b; b = rotl(b, 13u) ^ a; a += b; b = rotl(b, 15u) ^ a; a += b; b = rotl(b, 26u) ^ a; a += b; b = rotl(b, 6u) ^ a;
  a += k0; b += k1 + 3u;
  a += b; b = rotl(b, 17u) ^ a; a += b; b = rotl(b, 29u) ^ a; a += b; b = rotl(b, 16u) ^ a; a += b; b = rotl(b, 24u) ^ a;
  a += k1; b += k2 + 4u;
  a += b; b = rotl(b, 13u) ^ a; a += b; b = rotl(b, 15u) ^ a; a += b; b = rotl(b, 26u) ^ a; a += b; b = rotl(b, 6u) ^ a;
  a += k2; b += k0 + 5u;
  return vec2u(a, b);
}
// Word e of bitsFromWords(k0, k1, n): pairs (p, half + p) give words p and half + p.
fn word(k0: u32, k1: u32, n: u32, e: u32) -> u32 {
  let half = (n + (n & 1u)) >> 1u;
  let lo = e < half;
  let p = select(e - half, e, lo);
  let x1 = select(0u, half + p, half + p < n);
  let w = threefry(k0, k1, p, x1);
  return select(w.y, w.x, lo);
}
`;

/**
 * Dropout mask over n values, four per thread (params: quads, n, k0, k1,
 * threshold, scale): kept when (word >> 9) < threshold, threshold =
 * ceil(keep * 2^23), which is the reference's float comparison made exact.
 * Variants: with x (out = x * mask), with a packed byte keep-mask.
 */
export function dropoutMaskSource(withX: boolean, withKeep: boolean): string {
  let b = 2;
  const xb = withX ? `@group(0) @binding(${b++}) var<storage, read> X: array<f32>;` : '';
  const kb = withKeep ? `@group(0) @binding(${b++}) var<storage, read_write> KEEP: array<u32>;` : '';
  return THREEFRY + flatMain(`let n = pu(1u); let k0 = pu(2u); let k1 = pu(3u); let th = pu(4u); let sc = pf(5u);
  var bits = 0u;
  for (var q = 0u; q < 4u; q = q + 1u) {
    let e = i * 4u + q;
    if (e < n) {
      let kept = (word(k0, k1, n, e) >> 9u) < th;
      let m = select(0.0, sc, kept);
      O[e] = ${withX ? 'X[e] * m' : 'm'};
      if (kept) { bits = bits | (1u << (q * 8u)); }
    }
  }
  ${withKeep ? 'KEEP[i] = bits;' : ''}`,
  `@group(0) @binding(1) var<storage, read_write> O: array<f32>;
${xb}
${kb}`);
}

/** Raw Threefry words (params: n, k0, k1): the engine's random bits on the device. */
export function randomBitsSource(): string {
  return THREEFRY + flatMain('O[i] = word(pu(1u), pu(2u), pu(0u), i);',
    '@group(0) @binding(1) var<storage, read_write> O: array<u32>;');
}

/** Adam, in place (params: n, lr, b1, b2, eps, wd, c1, c2). */
export function adamSource(): string {
  return flatMain(`let lr = pf(1u); let b1 = pf(2u); let b2 = pf(3u); let eps = pf(4u); let wd = pf(5u);
  let c1 = pf(6u); let c2 = pf(7u);
  let g = G[i];
  let m = (1.0 - b1) * g + b1 * M[i];
  let v = (1.0 - b2) * g * g + b2 * V[i];
  M[i] = m; V[i] = v;
  W[i] = (1.0 - wd) * W[i] - lr * (m / c1) / (sqrt(v / c2) + eps);`,
  `@group(0) @binding(1) var<storage, read_write> W: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> M: array<f32>;
@group(0) @binding(4) var<storage, read_write> V: array<f32>;`);
}

// Adafactor passes. S is a small scratch vector: S[0] sum of w^2, S[1] sum of y^2.

/** vr[b, r] = decay vr + (1-decay) mean_c g^2 (params: n = batch*rows, cols, decay). */
export function adafactorRowsSource(): string {
  return flatMain(`let cols = pu(1u); let decay = pf(2u);
  var s = 0.0;
  for (var c = 0u; c < cols; c = c + 1u) { let g = G[i * cols + c]; s = fma(g, g, s); }
  VR[i] = decay * VR[i] + (1.0 - decay) * (s / f32(cols));`,
  `@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> VR: array<f32>;`);
}

/** vc[b, c] = decay vc + (1-decay) mean_r g^2 (params: n = batch*cols, rows, cols, decay). */
export function adafactorColsSource(): string {
  return flatMain(`let rows = pu(1u); let cols = pu(2u); let decay = pf(3u);
  let b = i / cols; let c = i % cols;
  var s = 0.0;
  for (var r = 0u; r < rows; r = r + 1u) { let g = G[(b * rows + r) * cols + c]; s = fma(g, g, s); }
  VC[i] = decay * VC[i] + (1.0 - decay) * (s / f32(rows));`,
  `@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> VC: array<f32>;`);
}

/** S[2 + b] = mean of vr[b, :] (params: n = batch, rows). */
export function adafactorRowMeanSource(): string {
  return flatMain(`let rows = pu(1u);
  var s = 0.0;
  for (var k = 0u; k < rows; k = k + 1u) { s = s + VR[i * rows + k]; }
  S[2u + i] = s / f32(rows);`,
  `@group(0) @binding(1) var<storage, read> VR: array<f32>;
@group(0) @binding(2) var<storage, read_write> S: array<f32>;`);
}

/** y = g * sqrt(S[2+b]/(vr+eps1)) / sqrt(vc+eps1) (params: n, rows, cols, eps1). */
export function adafactorFactoredYSource(): string {
  return flatMain(`let rows = pu(1u); let cols = pu(2u); let eps1 = pf(3u);
  let b = i / (rows * cols); let r = (i / cols) % rows; let c = i % cols;
  Y[i] = G[i] * sqrt(S[2u + b] / (VR[b * rows + r] + eps1)) / sqrt(VC[b * cols + c] + eps1);`,
  `@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> VR: array<f32>;
@group(0) @binding(3) var<storage, read> VC: array<f32>;
@group(0) @binding(4) var<storage, read> S: array<f32>;
@group(0) @binding(5) var<storage, read_write> Y: array<f32>;`);
}

/** Unfactored: v = decay v + (1-decay) g^2; y = g / sqrt(v + eps1) (params: n, decay, eps1). */
export function adafactorVecYSource(): string {
  return flatMain(`let decay = pf(1u); let eps1 = pf(2u);
  let g = G[i];
  let v = decay * V[i] + (1.0 - decay) * g * g;
  V[i] = v;
  Y[i] = g / sqrt(v + eps1);`,
  `@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> V: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;`);
}

/**
 * Final update (params: n, lr, eps2, clip, flags (1 param scale, 2 clipping, 4 momentum), beta1, wd):
 * scale from S[0], clipping from S[1].
 */
export function adafactorUpdateSource(momentum: boolean): string {
  return flatMain(`let n = pu(0u); let lr = pf(1u); let eps2 = pf(2u); let clip = pf(3u); let flags = pu(4u);
  let beta1 = pf(5u); let wd = pf(6u);
  var scale = lr;
  if ((flags & 1u) != 0u) { scale = lr * max(sqrt(S[0] / f32(n)), eps2); }
  var y = Y[i];
  if ((flags & 2u) != 0u) { y = y / max(1.0, sqrt(S[1] / f32(n)) / clip); }
  var sub = scale * y;
  ${momentum ? 'let m = beta1 * M[i] + (1.0 - beta1) * sub; M[i] = m; sub = m;' : ''}
  W[i] = (1.0 - wd) * W[i] - sub;`,
  `@group(0) @binding(1) var<storage, read_write> W: array<f32>;
@group(0) @binding(2) var<storage, read> Y: array<f32>;
@group(0) @binding(3) var<storage, read> S: array<f32>;
${momentum ? '@group(0) @binding(4) var<storage, read_write> M: array<f32>;' : ''}`);
}
