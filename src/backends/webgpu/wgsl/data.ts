// WGSL for the registry's data-movement, integer and random kernels: int32
// arithmetic, select, gathers and scatters along an axis, argmax, cumsum,
// one-hot, and the Threefry distributions (same words as threefry.ts).
import { flatMain, binaryExpr } from './elementwise.js';
import { THREEFRY } from './misc.js';
import { Binary } from '../../kernels.js';

/** Broadcast index loop over params 1 (rank), 2.. (shape), then stride blocks of 8 starting at `blocks`. */
function stridedIndex(vars: string[]): string {
  const decl = vars.map((v) => `var ${v} = 0u;`).join(' ');
  const acc = vars.map((v, k) => `${v} = ${v} + c * pu(${10 + 8 * k}u + u32(ax));`).join(' ');
  return `let rank = pu(1u); var rem = i; ${decl}
  for (var ax = i32(rank) - 1; ax >= 0; ax = ax - 1) {
    let d = pu(2u + u32(ax)); let c = rem % d; rem = rem / d;
    ${acc}
  }`;
}

/** int32 broadcasting binary op (params: n, rank, shape[8], aStrides[8], bStrides[8]); float or int output. */
export function binaryIntSource(op: Binary, outFloat: boolean): string {
  let e: string;
  switch (op) {
    case Binary.Add: e = 'a + b'; break;
    case Binary.Sub: e = 'a - b'; break;
    case Binary.Mul: e = 'a * b'; break;
    case Binary.Max: e = 'max(a, b)'; break;
    case Binary.Min: e = 'min(a, b)'; break;
    case Binary.PassIfPos: e = 'select(0, a, b > 0)'; break;
    case Binary.Eq: e = 'select(0, 1, a == b)'; break;
    case Binary.Ne: e = 'select(0, 1, a != b)'; break;
    case Binary.Lt: e = 'select(0, 1, a < b)'; break;
    case Binary.Le: e = 'select(0, 1, a <= b)'; break;
    case Binary.Gt: e = 'select(0, 1, a > b)'; break;
    case Binary.Ge: e = 'select(0, 1, a >= b)'; break;
    default: e = '';
  }
  // Float outputs are computed on floats (as the reference does, -0 included); int outputs are
  // exact int32 with wrap-around, Div and Pow truncated from floats.
  const value = outFloat ? 'fop(f32(a), f32(b))' : e || 'i32(fop(f32(a), f32(b)))';
  const fop = `fn fop(a: f32, b: f32) -> f32 { return ${binaryExpr(op)}; }
fn pow32(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  let r = exp2(b * log2(abs(a)));
  if (a >= 0.0) { return r; }
  let odd = abs(b - 2.0 * floor(b * 0.5)) == 1.0;
  return select(r, -r, odd);
}`;
  return fop + flatMain(`${stridedIndex(['ia', 'ib'])}
  let a = A[ia]; let b = B[ib];
  O[i] = ${value};`,
  `@group(0) @binding(1) var<storage, read> A: array<i32>;
@group(0) @binding(2) var<storage, read> B: array<i32>;
@group(0) @binding(3) var<storage, read_write> O: array<${outFloat ? 'f32' : 'i32'}>;`);
}

/** out[i] = cond != 0 ? a : b, broadcast (params: n, rank, shape[8], c[8], a[8], b[8]). */
export function selectSource(): string {
  return flatMain(`${stridedIndex(['ic', 'ia', 'ib'])}
  O[i] = select(B[ib], A[ia], C[ic] != 0.0);`,
  `@group(0) @binding(1) var<storage, read> C: array<f32>;
@group(0) @binding(2) var<storage, read> A: array<u32>;
@group(0) @binding(3) var<storage, read> B: array<u32>;
@group(0) @binding(4) var<storage, read_write> O: array<u32>;`);
}

/** gather along an axis (params: total, n, m, inner): out (outer, m, inner) = x[:, clip(ids), :]. */
export function gatherSource(): string {
  return flatMain(`let n = pu(1u); let m = pu(2u); let inner = pu(3u);
  let k = i % inner; let j = (i / inner) % m; let o = i / (inner * m);
  let r = u32(clamp(IDS[j], 0, i32(n) - 1));
  O[i] = X[(o * n + r) * inner + k];`,
  `@group(0) @binding(1) var<storage, read> X: array<u32>;
@group(0) @binding(2) var<storage, read> IDS: array<i32>;
@group(0) @binding(3) var<storage, read_write> O: array<u32>;`);
}

/** take_along_axis (params: total, n, m, inner). */
export function gatherAlongSource(): string {
  return flatMain(`let n = pu(1u); let m = pu(2u); let inner = pu(3u);
  let k = i % inner; let o = i / (inner * m);
  let r = u32(clamp(IDS[i], 0, i32(n) - 1));
  O[i] = X[(o * n + r) * inner + k];`,
  `@group(0) @binding(1) var<storage, read> X: array<u32>;
@group(0) @binding(2) var<storage, read> IDS: array<i32>;
@group(0) @binding(3) var<storage, read_write> O: array<u32>;`);
}

const CAS_ADD = /* wgsl */`
fn addF(at: u32, add: f32) {
  var old = atomicLoad(&O[at]);
  loop {
    let res = atomicCompareExchangeWeak(&O[at], old, bitcast<u32>(bitcast<f32>(old) + add));
    if (res.exchanged) { break; }
    old = res.old_value;
  }
}`;

/**
 * scatterAdd (params: total, n, m, inner) and scatterAlong (along = true: ids per element):
 * float sums by compare-and-swap, int sums by atomicAdd.
 */
export function scatterSource(along: boolean, int: boolean): string {
  const target = along ? 'u32(clamp(IDS[i], 0, i32(n) - 1))' : 'u32(clamp(IDS[j], 0, i32(n) - 1))';
  return (int ? '' : CAS_ADD) + flatMain(`let n = pu(1u); let m = pu(2u); let inner = pu(3u);
  let k = i % inner; let j = (i / inner) % m; let o = i / (inner * m);
  let r = ${target};
  let at = (o * n + r) * inner + k;
  ${int ? 'atomicAdd(&O[at], U[i]);' : 'addF(at, U[i]);'}`,
  `@group(0) @binding(1) var<storage, read> U: array<${int ? 'i32' : 'f32'}>;
@group(0) @binding(2) var<storage, read> IDS: array<i32>;
@group(0) @binding(3) var<storage, read_write> O: array<atomic<${int ? 'i32' : 'u32'}>>;`);
}

/** argmax over the middle axis, one thread per (o, i) (params: total, n, inner); the js kernel's rule: strict >, from index 0. */
export function argmaxColsSource(): string {
  return flatMain(`let n = pu(1u); let inner = pu(2u);
  let o = i / inner; let k = i % inner;
  var best = 0u; var bv = X[o * n * inner + k];
  for (var j = 1u; j < n; j = j + 1u) { let v = X[(o * n + j) * inner + k]; if (v > bv) { bv = v; best = j; } }
  O[i] = i32(best);`,
  `@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<i32>;`);
}

/** Inclusive cumulative sum along the middle axis (params: total = outer*inner, n, inner). */
export function cumsumSource(int: boolean): string {
  const t = int ? 'i32' : 'f32';
  return flatMain(`let n = pu(1u); let inner = pu(2u);
  let o = i / inner; let k = i % inner;
  var acc = ${t}(0);
  for (var j = 0u; j < n; j = j + 1u) { let p = (o * n + j) * inner + k; acc = acc + X[p]; O[p] = acc; }`,
  `@group(0) @binding(1) var<storage, read> X: array<${t}>;
@group(0) @binding(2) var<storage, read_write> O: array<${t}>;`);
}

/** one-hot (params: total = count*depth, depth). */
export function oneHotSource(): string {
  return flatMain(`let depth = pu(1u); let r = i / depth; let j = i % depth;
  let v = IDS[r];
  O[i] = select(0.0, 1.0, v == f32(j) && floor(v) == v);`,
  `@group(0) @binding(1) var<storage, read> IDS: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;`);
}

const UNIT = /* wgsl */`
fn unitF(w: u32) -> f32 { return f32(w >> 9u) * 1.1920928955078125e-7; }
// (sin, cos) of 2 pi u to float precision: WGSL's sin and cos may be off by 2^-11.
// Reduced to an eighth of a turn, then Taylor polynomials.
fn sincosTurns(u: f32) -> vec2<f32> {
  let q = round(u * 4.0);
  let r = (u - q * 0.25) * 6.283185307179586;
  let r2 = r * r;
  let s = r * (1.0 - r2 / 6.0 * (1.0 - r2 / 20.0 * (1.0 - r2 / 42.0 * (1.0 - r2 / 72.0))));
  let c = 1.0 - r2 / 2.0 * (1.0 - r2 / 12.0 * (1.0 - r2 / 30.0 * (1.0 - r2 / 56.0)));
  let k = i32(q) & 3;
  if (k == 0) { return vec2<f32>(s, c); }
  if (k == 1) { return vec2<f32>(c, -s); }
  if (k == 2) { return vec2<f32>(-s, -c); }
  return vec2<f32>(-c, s);
}
// (a * b) >> 23 for a < 2^23, exactly, through 16-bit halves.
fn mulShift23(a: u32, b: u32) -> u32 {
  let al = a & 0xffffu; let ah = a >> 16u; let bl = b & 0xffffu; let bh = b >> 16u;
  let ll = al * bl; let lh = al * bh; let hl = ah * bl; let hh = ah * bh;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  let lo = (ll & 0xffffu) | ((mid & 0xffffu) << 16u);
  let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
  return (hi << 9u) | (lo >> 23u);
}
`;

/**
 * Random distributions over n = pu(0) values with key pu(1), pu(2):
 * kind 'uniform' (minval, maxval), 'bernoulli' (threshold), 'int' (minval, span), 'gumbel', 'normal' (mean, stddev).
 */
export function randomSource(kind: 'uniform' | 'bernoulli' | 'int' | 'gumbel' | 'normal'): string {
  const w = 'word(pu(1u), pu(2u), pu(0u), i)';
  let body: string;
  let type = 'f32';
  switch (kind) {
    case 'uniform': body = `let a = pf(3u); let b = pf(4u); O[i] = a + (b - a) * unitF(${w});`; break;
    case 'bernoulli': body = `O[i] = select(0.0, 1.0, (${w} >> 9u) < pu(3u));`; break;
    case 'int': type = 'i32'; body = `O[i] = pi(3u) + i32(mulShift23(${w} >> 9u, pu(4u)));`; break;
    case 'gumbel': body = `let u = 1e-6 + (1.0 - 1e-6 - 1e-6) * unitF(${w}); O[i] = -log(-log(u));`; break;
    case 'normal':
      // Box-Muller on the pair (2p, 2p + 1) of 2*ceil(n/2) words: cos for even i, sin for odd.
      body = `let nw = pu(0u) + (pu(0u) & 1u); let p = i & ~1u;
  let u1 = 1.0 - unitF(word(pu(1u), pu(2u), nw, p)); let u2 = unitF(word(pu(1u), pu(2u), nw, p + 1u));
  let r = sqrt(-2.0 * log(u1)); let sc = sincosTurns(u2);
  O[i] = pf(3u) + pf(4u) * r * select(sc.y, sc.x, (i & 1u) == 1u);`;
      break;
  }
  return THREEFRY + UNIT + flatMain(body, `@group(0) @binding(1) var<storage, read_write> O: array<${type}>;`);
}

/**
 * Truncated normal by rounds of rejection, as the js kernel: round r draws
 * max(64, 2*(n - filled)) standard normals under threefry(key, (0, r)) and keeps,
 * in order, those inside [lower, upper]. One workgroup; a prefix sum places the kept values.
 * Params: n, k0, k1, lower, upper.
 */
export function truncatedNormalSource(): string {
  return `${THREEFRY}${UNIT}
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
var<workgroup> scan: array<u32, 256>;
var<workgroup> filledW: u32;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  let n = pu(0u); let lo = pf(3u); let hi = pf(4u);
  if (li == 0u) { filledW = 0u; }
  workgroupBarrier();
  var round = 0u;
  loop {
    let filled = workgroupUniformLoad(&filledW);
    if (filled >= n) { break; }
    let key = threefry(pu(1u), pu(2u), 0u, round);
    round = round + 1u;
    let m = max(64u, 2u * (n - filled));
    let nw = m + (m & 1u);
    var base = filled;
    for (var c0 = 0u; c0 < m; c0 = c0 + 256u) {
      let c = c0 + li;
      var v = 0.0; var ok = 0u;
      if (c < m) {
        let p = c & ~1u;
        let u1 = 1.0 - unitF(word(key.x, key.y, nw, p)); let u2 = unitF(word(key.x, key.y, nw, p + 1u));
        let r = sqrt(-2.0 * log(u1)); let sc = sincosTurns(u2);
        v = r * select(sc.y, sc.x, (c & 1u) == 1u);
        ok = select(0u, 1u, v >= lo && v <= hi);
      }
      scan[li] = ok;
      workgroupBarrier();
      for (var s = 1u; s < 256u; s = s << 1u) {
        var add = 0u;
        if (li >= s) { add = scan[li - s]; }
        workgroupBarrier();
        scan[li] = scan[li] + add;
        workgroupBarrier();
      }
      let at = base + scan[li] - ok;
      if (ok == 1u && at < n) { O[at] = v; }
      base = base + scan[255];
      workgroupBarrier();
    }
    if (li == 0u) { filledW = min(n, base); }
    workgroupBarrier();
  }
}`;
}
