// WGSL for the other optimizers' fused updates (SGD, momentum, RMSProp, SM3)
// and bfloat16 rounding; Adam and Adafactor are in misc.ts.
import { flatMain } from './elementwise.js';

export function sgdSource(): string {
  return flatMain('W[i] = W[i] - pf(1u) * G[i];',
    `@group(0) @binding(1) var<storage, read_write> W: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;`);
}

/** params: n, mass, lr, wd, nesterov. */
export function momentumSource(): string {
  return flatMain(`let mass = pf(1u); let lr = pf(2u); let keep = 1.0 - pf(3u);
  let nv = mass * V[i] + G[i];
  V[i] = nv;
  let upd = select(nv, mass * nv + G[i], pu(4u) != 0u);
  W[i] = keep * W[i] - lr * upd;`,
  `@group(0) @binding(1) var<storage, read_write> W: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> V: array<f32>;`);
}

/** params: n, gamma, eps, lr. */
export function rmspropSource(): string {
  return flatMain(`let gamma = pf(1u); let eps = pf(2u); let lr = pf(3u);
  let g = G[i];
  let a = A[i] * gamma + g * g * (1.0 - gamma);
  A[i] = a;
  W[i] = W[i] - lr * g / (sqrt(a) + eps);`,
  `@group(0) @binding(1) var<storage, read_write> W: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> A: array<f32>;`);
}

export function roundBfloat16Source(): string {
  return flatMain(`let b = X[i];
  if ((b & 0x7f800000u) != 0x7f800000u) { X[i] = (b + 0x7fffu + ((b >> 16u) & 1u)) & 0xffff0000u; }`,
  '@group(0) @binding(1) var<storage, read_write> X: array<u32>;');
}

// SM3. Params: 0 n, 1 rank, 2..9 dims, 10..17 offsets of each dimension's accumulators, then per pass.
const SM3_COMMON = /* wgsl */`
fn precond(acc: f32) -> f32 { return select(0.0, 1.0 / (sqrt(acc) + 1e-16), acc > 0.0); }
// min over the dimensions of the accumulators that cover element i.
fn coverMin(i: u32, which: u32) -> f32 {
  let rank = pu(1u);
  if (rank <= 1u) { return select(V1[i], V2[i], which == 1u); }
  var rem = i; var a = INF();
  for (var k = i32(rank) - 1; k >= 0; k = k - 1) {
    let d = pu(2u + u32(k)); let c = rem % d; rem = rem / d;
    let at = pu(10u + u32(k)) + c;
    a = min(a, select(V1[at], V2[at], which == 1u));
  }
  return a;
}
`;

/**
 * Pass 1 (per element; params 18 beta2, 19 graft): ACC = beta2 * min(v1) + mix * g^2 and
 * PG = g * precond(ACC); with grafting ACC2 = min(v2) + g^2 and Q = g * precond(ACC2).
 * TMP holds ACC, PG, ACC2, Q as four blocks of n.
 */
export function sm3PassOneSource(graft: boolean): string {
  return SM3_COMMON + flatMain(`let n = pu(0u); let beta2 = pf(18u);
  let mix = select(1.0 - beta2, 1.0, beta2 == 1.0);
  let g = G[i]; let g2 = g * g;
  let acc = beta2 * coverMin(i, 0u) + mix * g2;
  TMP[i] = acc; TMP[n + i] = g * precond(acc);
  ${graft ? 'let acc2 = coverMin(i, 1u) + g2; TMP[2u * n + i] = acc2; TMP[3u * n + i] = g * precond(acc2);' : ''}`,
  `@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> V1: array<f32>;
@group(0) @binding(3) var<storage, read> V2: array<f32>;
@group(0) @binding(4) var<storage, read_write> TMP: array<f32>;`);
}

/** Pass 2 (per element; params 18 lr, 19 wd, 20 beta1, 21 momentumType, 22 graft, 23 hasM): the weight update. S: [pgSq, graftSq]. */
export function sm3UpdateSource(hasM: boolean): string {
  return flatMain(`let n = pu(0u); let lr = pf(18u); let wd = pf(19u); let beta1 = pf(20u); let mt = pu(21u);
  var scale = 1.0;
  if (pu(22u) != 0u) { scale = sqrt(S[1]) / (sqrt(S[0]) + 1e-16); }
  let u0 = TMP[n + i] * scale + W[i] * wd;
  var upd = u0;
  ${hasM ? `if (mt == 0u) { M[i] = (1.0 - beta1) * u0 + beta1 * M[i]; upd = M[i]; }
  else if (mt == 1u) { M[i] = u0 + beta1 * M[i]; upd = M[i]; }
  else { M[i] = u0 + beta1 * M[i]; upd = u0 + beta1 * M[i]; }` : ''}
  W[i] = W[i] - lr * upd;`,
  `@group(0) @binding(1) var<storage, read_write> W: array<f32>;
@group(0) @binding(2) var<storage, read> TMP: array<f32>;
@group(0) @binding(3) var<storage, read> S: array<f32>;
${hasM ? '@group(0) @binding(4) var<storage, read_write> M: array<f32>;' : ''}`);
}

/**
 * Pass 3: new accumulators, one thread per accumulator entry (params 18 total entries, 19 block of TMP:
 * 0 for v1 from ACC, 2 for v2 from ACC2): the max over the elements it covers (diagonal: a copy).
 */
export function sm3AccumulatorsSource(): string {
  return `@group(0) @binding(1) var<storage, read> TMP: array<f32>;
@group(0) @binding(2) var<storage, read_write> V: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = (wid.y * nwg.x + wid.x) * 256u + lid.x;
  if (e >= pu(18u)) { return; }
  let n = pu(0u); let rank = pu(1u); let base = pu(19u) * n;
  if (rank <= 1u) { V[e] = TMP[base + e]; return; }
  // Which dimension k and index j this entry is.
  var k = 0u;
  for (var q = 1u; q < rank; q = q + 1u) { if (e >= pu(10u + q)) { k = q; } }
  let j = e - pu(10u + k);
  let count = n / pu(2u + k);
  var mx = -INF();
  for (var t = 0u; t < count; t = t + 1u) {
    var rem = t; var lin = 0u; var stride = 1u;
    for (var ax = i32(rank) - 1; ax >= 0; ax = ax - 1) {
      let d = pu(2u + u32(ax));
      var c = j;
      if (u32(ax) != k) { c = rem % d; rem = rem / d; }
      lin = lin + c * stride; stride = stride * d;
    }
    mx = max(mx, TMP[base + lin]);
  }
  V[e] = mx;
}`;
}
