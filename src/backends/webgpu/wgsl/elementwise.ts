// Elementwise WGSL: unary and broadcasting binary float ops (the op codes of
// kernels.ts), with the same special cases as the js reference (NaN through
// max/min, pow of negative bases, softplus and erf without cancellation).
import { Binary, Unary } from '../../kernels.js';

export const WG = 256;

/** Head of a 1-D kernel over n = pu(0) elements; `i` is the element. */
export function flatMain(body: string, bindings: string): string {
  return `${bindings}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = (wid.y * nwg.x + wid.x) * ${WG}u + lid.x;
  if (i >= pu(0u)) { return; }
  ${body}
}`;
}

/** erf in f32: Maclaurin series near 0 (relative accuracy), erfc's rational fit beyond (A&S 7.1.26). */
export const ERF = /* wgsl */`
fn erf32(x: f32) -> f32 {
  let ax = abs(x);
  if (ax < 1.0) {
    let x2 = x * x;
    var term = x; var sum = x;
    for (var n = 1; n < 14; n = n + 1) {
      term = term * (-x2 / f32(n));
      sum = sum + term / f32(2 * n + 1);
    }
    return 1.1283791670955126 * sum;
  }
  let t = 1.0 / (1.0 + 0.3275911 * ax);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-ax * ax);
  return select(-y, y, x >= 0.0);
}
fn tanh32(x: f32) -> f32 { return tanh(clamp(x, -15.0, 15.0)); }
`;

export function unaryExpr(op: Unary): string {
  switch (op) {
    case Unary.Neg: return '-v';
    case Unary.Exp: return 'exp(v)';
    case Unary.Log: return 'log(v)';
    case Unary.Tanh: return 'tanh32(v)';
    case Unary.Sqrt: return 'sqrt(v)';
    case Unary.Rsqrt: return '1.0 / sqrt(v)';
    case Unary.Relu: return 'select(0.0, v, v > 0.0)';
    case Unary.Gelu: return '0.5 * v * (1.0 + erf32(v * 0.7071067811865476))';
    case Unary.Sigmoid: return '1.0 / (1.0 + exp(-v))';
    case Unary.Abs: return 'abs(v)';
    case Unary.Square: return 'v * v';
    case Unary.FastGelu: return '0.5 * v * (1.0 + tanh32(0.7978845608 * v * (1.0 + 0.044715 * v * v)))';
    case Unary.Reciprocal: return '1.0 / v';
    case Unary.Sign: return 'sign(v)';
    // log1p(e) as log(u) * e / (u - 1): exact where 1 + e rounds.
    case Unary.Softplus: return 'softplus32(v)';
    case Unary.Erf: return 'erf32(v)';
  }
  throw new Error(`webgpu: unknown unary op ${op as number}`);
}

const SOFTPLUS = /* wgsl */`
fn softplus32(v: f32) -> f32 {
  if (v > 20.0) { return v; }
  let e = exp(v); let u = 1.0 + e;
  if (u == 1.0) { return e; }
  return log(u) * e / (u - 1.0);
}`;

const POW = /* wgsl */`
fn pow32(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  let odd = floor(b) == b && abs(b - 2.0 * floor(b * 0.5)) == 1.0;
  if (a == 0.0) {
    // 0^b: 0 for b > 0, infinity for b < 0, signed like -0 for odd b.
    let r = select(INF(), 0.0, b > 0.0);
    return select(r, -r, odd && bitcast<u32>(a) == 0x80000000u);
  }
  let r = exp2(b * log2(abs(a)));
  if (a > 0.0) { return r; }
  if (floor(b) != b) { return NAN(); }
  return select(r, -r, odd);
}`;

export function binaryExpr(op: Binary): string {
  switch (op) {
    case Binary.Add: return 'a + b';
    case Binary.Sub: return 'a - b';
    case Binary.Mul: return 'a * b';
    case Binary.Div: return 'a / b';
    case Binary.Max: return 'select(b, a, a > b || isNan(a))';
    case Binary.Min: return 'select(b, a, a < b || isNan(a))';
    case Binary.Pow: return 'pow32(a, b)';
    case Binary.Eq: return 'select(0.0, 1.0, a == b)';
    case Binary.Ne: return 'select(0.0, 1.0, a != b)';
    case Binary.Lt: return 'select(0.0, 1.0, a < b)';
    case Binary.Le: return 'select(0.0, 1.0, a <= b)';
    case Binary.Gt: return 'select(0.0, 1.0, a > b)';
    case Binary.Ge: return 'select(0.0, 1.0, a >= b)';
    case Binary.PassIfPos: return 'select(0.0, a, b > 0.0)';
  }
  throw new Error(`webgpu: unknown binary op ${op as number}`);
}

export function unarySource(op: Unary, inPlace: boolean): string {
  const bindings = inPlace
    ? '@group(0) @binding(1) var<storage, read_write> X: array<f32>;'
    : '@group(0) @binding(1) var<storage, read> X: array<f32>;\n@group(0) @binding(2) var<storage, read_write> O: array<f32>;';
  return ERF + SOFTPLUS + flatMain(`let v = X[i]; ${inPlace ? 'X' : 'O'}[i] = ${unaryExpr(op)};`, bindings);
}

/**
 * Binary op; mode 'same' (a, b and out contiguous, same shape), 'scalarB'
 * (b one value), or 'strided' (params: n, rank, shape[8], aStrides[8], bStrides[8]).
 * Aliasing: out may be a (binding 1 read_write) when inPlace.
 */
export function binarySource(op: Binary, mode: 'same' | 'scalarB' | 'strided', inPlace: boolean): string {
  const bindings = inPlace
    ? `@group(0) @binding(1) var<storage, read_write> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;`
    : `@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;`;
  let idx: string;
  if (mode === 'same') idx = 'let ia = i; let ib = i;';
  else if (mode === 'scalarB') idx = 'let ia = i; let ib = 0u;';
  else {
    idx = `let rank = pu(1u); var rem = i; var ia = 0u; var ib = 0u;
  for (var ax = i32(rank) - 1; ax >= 0; ax = ax - 1) {
    let d = pu(2u + u32(ax)); let c = rem % d; rem = rem / d;
    ia = ia + c * pu(10u + u32(ax)); ib = ib + c * pu(18u + u32(ax));
  }`;
  }
  const out = inPlace ? 'A' : 'O';
  return SOFTPLUS + POW + flatMain(`${idx}\n  let a = A[ia]; let b = B[ib];\n  ${out}[i] = ${binaryExpr(op)};`, bindings);
}

/** out[i] = value (fill words with one bit pattern). */
export function fillSource(): string {
  return flatMain('O[i] = pu(1u);', '@group(0) @binding(1) var<storage, read_write> O: array<u32>;');
}

/** dropoutApply: out[i] = byte i of the mask ? x[i] * scale : 0. */
export function dropoutApplySource(): string {
  return flatMain(`let byte = (M[i >> 2u] >> ((i & 3u) * 8u)) & 255u;
  O[i] = X[i] * select(0.0, pf(1u), byte != 0u);`,
  `@group(0) @binding(1) var<storage, read> M: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;`);
}

/** Permutation (params: n, rank, outShape[8], inStridesPermuted[8]); 4-byte words of any dtype. */
export function permuteSource(): string {
  return flatMain(`let rank = pu(1u); var rem = i; var src = 0u;
  for (var ax = i32(rank) - 1; ax >= 0; ax = ax - 1) {
    let d = pu(2u + u32(ax)); let c = rem % d; rem = rem / d;
    src = src + c * pu(10u + u32(ax));
  }
  O[i] = X[src];`,
  `@group(0) @binding(1) var<storage, read> X: array<u32>;
@group(0) @binding(2) var<storage, read_write> O: array<u32>;`);
}

/**
 * Strided copy of 4-byte words (params: n, rank, shape[8], xStrides[8],
 * outStrides[8], xOffset, outOffset): covers slice, concat, pad, expand, reverse
 * (negative strides as i32).
 */
export function copyStridedSource(): string {
  return flatMain(`let rank = pu(1u); var rem = i; var src = pi(26u); var dst = pi(27u);
  for (var ax = i32(rank) - 1; ax >= 0; ax = ax - 1) {
    let d = pu(2u + u32(ax)); let c = i32(rem % d); rem = rem / d;
    src = src + c * pi(10u + u32(ax)); dst = dst + c * pi(18u + u32(ax));
  }
  O[u32(dst)] = X[u32(src)];`,
  `@group(0) @binding(1) var<storage, read> X: array<u32>;
@group(0) @binding(2) var<storage, read_write> O: array<u32>;`);
}

/** float32 <-> int32 conversion (toInt truncates toward zero like Math.trunc; the engine picks the rounding). */
export function castSource(toInt: boolean): string {
  return flatMain(toInt ? 'O[i] = bitcast<u32>(i32(X[i]));' : 'O[i] = bitcast<u32>(f32(bitcast<i32>(X[i])));',
    toInt ? `@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<u32>;`
      : `@group(0) @binding(1) var<storage, read> X: array<u32>;
@group(0) @binding(2) var<storage, read_write> O: array<u32>;`);
}
