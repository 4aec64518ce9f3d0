// Row-wise WGSL kernels: one workgroup of RW threads per row, reducing in
// workgroup memory. Reductions, softmax and its backward, layer norm and its
// backward, fused log-softmax + cross-entropy and its backward.

export const RW = 256;

/** Workgroup sum / max helpers over RW threads (call from uniform control flow). */
const reduceSrc = (wg: number) => /* wgsl */`
var<workgroup> red: array<f32, ${wg}>;
fn wgSum(v: f32, li: u32) -> f32 {
  red[li] = v; workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (li < s) { red[li] = red[li] + red[li + s]; }
    workgroupBarrier();
  }
  let r = red[0]; workgroupBarrier(); return r;
}
fn wgMax(v: f32, li: u32) -> f32 {
  red[li] = v; workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (li < s) { let o = red[li + s]; if (o > red[li] || isNan(o)) { red[li] = o; } }
    workgroupBarrier();
  }
  let r = red[0]; workgroupBarrier(); return r;
}
fn wgMin(v: f32, li: u32) -> f32 {
  red[li] = v; workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (li < s) { let o = red[li + s]; if (o < red[li] || isNan(o)) { red[li] = o; } }
    workgroupBarrier();
  }
  let r = red[0]; workgroupBarrier(); return r;
}
`;

/** Entry of a row kernel: `row` is the row (grid may be 2-D), `li` the thread. */
function rowMain(body: string, bindings: string, wg: number, extra = ''): string {
  return `${bindings}
${reduceSrc(wg)}
${extra}
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= pu(0u)) { return; }
  ${body}
}`;
}

// The early return above depends only on the workgroup, so barriers stay in uniform control flow.

/** Reduce (outer, n, 1) rows: params rows=outer, n. op: 0 sum, 1 max, 2 min. */
export function reduceRowsSource(op: number, wg = RW): string {
  const init = op === 0 ? '0.0' : op === 1 ? '(-INF())' : 'INF()';
  const comb = op === 0 ? 'acc = acc + v;' : op === 1 ? 'if (v > acc || isNan(v)) { acc = v; }' : 'if (v < acc || isNan(v)) { acc = v; }';
  const fin = op === 0 ? 'wgSum' : op === 1 ? 'wgMax' : 'wgMin';
  return rowMain(`let n = pu(1u); let base = row * n;
  var acc = ${init};
  for (var j = li; j < n; j = j + ${wg}u) { let v = X[base + j]; ${comb} }
  let r = ${fin}(acc, li);
  if (li == 0u) { O[row] = r; }`,
  `@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;`, wg);
}

/** Reduce (outer, n, inner) with inner > 1: one thread per output (params: total, n, inner). */
export function reduceColsSource(op: number): string {
  const init = op === 0 ? '0.0' : op === 1 ? '-INF()' : 'INF()';
  const comb = op === 0 ? 'acc = acc + v;' : op === 1 ? 'if (v > acc || isNan(v)) { acc = v; }' : 'if (v < acc || isNan(v)) { acc = v; }';
  return `@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let t = (wid.y * nwg.x + wid.x) * 256u + lid.x;
  if (t >= pu(0u)) { return; }
  let n = pu(1u); let inner = pu(2u);
  let o = t / inner; let i = t % inner;
  var acc = ${init};
  for (var j = 0u; j < n; j = j + 1u) { let v = X[(o * n + j) * inner + i]; ${comb} }
  O[t] = acc;
}`;
}

/** Sum of squares, stage 1: each workgroup strides over x (params: n, groups) into partial[wid]. */
export function sumSquaresPartialSource(wg = RW): string {
  return `@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
${reduceSrc(wg)}
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let n = pu(0u); let groups = pu(1u);
  var acc = 0.0;
  for (var j = wid.x * ${wg}u + li; j < n; j = j + groups * ${wg}u) { let v = X[j]; acc = fma(v, v, acc); }
  let r = wgSum(acc, li);
  if (li == 0u) { O[wid.x] = r; }
}`;
}

/** Sum of partials into O[pu(1)] (params: count, outIndex); one workgroup. */
export function sumPartialsSource(wg = RW): string {
  return `@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
${reduceSrc(wg)}
@compute @workgroup_size(${wg})
fn main(@builtin(local_invocation_index) li: u32) {
  let n = pu(0u);
  var acc = 0.0;
  for (var j = li; j < n; j = j + ${wg}u) { acc = acc + X[j]; }
  let r = wgSum(acc, li);
  if (li == 0u) { O[pu(1u)] = r; }
}`;
}

/** Softmax or log-softmax over rows (params: rows, cols). */
export function softmaxSource(log: boolean, wg = RW): string {
  return rowMain(`let n = pu(1u); let base = row * n;
  var mx = (-INF());
  for (var j = li; j < n; j = j + ${wg}u) { mx = max(mx, X[base + j]); }
  mx = wgMax(mx, li);
  if (mx == (-INF())) { mx = 0.0; }
  var s = 0.0;
  for (var j = li; j < n; j = j + ${wg}u) { s = s + exp(X[base + j] - mx); }
  s = wgSum(s, li);
  ${log
    ? 'let lse = mx + log(s);\n  for (var j = li; j < n; j = j + ' + wg + 'u) { O[base + j] = X[base + j] - lse; }'
    : 'let inv = 1.0 / s;\n  for (var j = li; j < n; j = j + ' + wg + 'u) { O[base + j] = exp(X[base + j] - mx) * inv; }'}`,
  `@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;`, wg);
}

/** Softmax backward (params: rows, cols). */
export function softmaxBackwardSource(log: boolean, wg = RW): string {
  return rowMain(`let n = pu(1u); let base = row * n;
  var s = 0.0;
  for (var j = li; j < n; j = j + ${wg}u) { s = s + ${log ? 'DY[base + j]' : 'DY[base + j] * Y[base + j]'}; }
  s = wgSum(s, li);
  for (var j = li; j < n; j = j + ${wg}u) {
    ${log ? 'DX[base + j] = DY[base + j] - exp(Y[base + j]) * s;' : 'DX[base + j] = Y[base + j] * (DY[base + j] - s);'}
  }`,
  `@group(0) @binding(1) var<storage, read> Y: array<f32>;
@group(0) @binding(2) var<storage, read> DY: array<f32>;
@group(0) @binding(3) var<storage, read_write> DX: array<f32>;`, wg);
}

/** Layer norm (params: rows, cols, eps). */
export function layerNormSource(wg = RW): string {
  return rowMain(`let n = pu(1u); let base = row * n;
  var s = 0.0;
  for (var j = li; j < n; j = j + ${wg}u) { s = s + X[base + j]; }
  let mu = wgSum(s, li) / f32(n);
  var v = 0.0;
  for (var j = li; j < n; j = j + ${wg}u) { let d = X[base + j] - mu; v = fma(d, d, v); }
  let rs = 1.0 / sqrt(wgSum(v, li) / f32(n) + pf(2u));
  if (li == 0u) { MEAN[row] = mu; RSTD[row] = rs; }
  for (var j = li; j < n; j = j + ${wg}u) { O[base + j] = (X[base + j] - mu) * rs * SC[j] + BI[j]; }`,
  `@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> SC: array<f32>;
@group(0) @binding(3) var<storage, read> BI: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<storage, read_write> MEAN: array<f32>;
@group(0) @binding(6) var<storage, read_write> RSTD: array<f32>;`, wg);
}

/** Layer norm backward, dx part (params: rows, cols). */
export function layerNormBackwardSource(wg = RW): string {
  return rowMain(`let n = pu(1u); let base = row * n; let mu = MEAN[row]; let rs = RSTD[row];
  var sg = 0.0; var sgx = 0.0;
  for (var j = li; j < n; j = j + ${wg}u) {
    let xh = (X[base + j] - mu) * rs; let g = DY[base + j] * SC[j];
    sg = sg + g; sgx = fma(g, xh, sgx);
  }
  sg = wgSum(sg, li) / f32(n); sgx = wgSum(sgx, li) / f32(n);
  for (var j = li; j < n; j = j + ${wg}u) {
    let xh = (X[base + j] - mu) * rs;
    DX[base + j] = rs * (DY[base + j] * SC[j] - sg - xh * sgx);
  }`,
  `@group(0) @binding(1) var<storage, read> DY: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read> SC: array<f32>;
@group(0) @binding(4) var<storage, read> MEAN: array<f32>;
@group(0) @binding(5) var<storage, read> RSTD: array<f32>;
@group(0) @binding(6) var<storage, read_write> DX: array<f32>;`, wg);
}

/**
 * Layer norm backward, dscale/dbias partial column sums over a chunk of rows:
 * workgroup (x = column block of 256, y = row chunk); params rows, cols, chunk.
 * Writes PART[(y * 2) * cols + c] (dscale) and PART[(y * 2 + 1) * cols + c] (dbias).
 */
export function layerNormParamPartialSource(): string {
  return `@group(0) @binding(1) var<storage, read> DY: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read> MEAN: array<f32>;
@group(0) @binding(4) var<storage, read> RSTD: array<f32>;
@group(0) @binding(5) var<storage, read_write> PART: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let rows = pu(0u); let n = pu(1u); let chunk = pu(2u);
  let c = wid.x * 256u + li;
  if (c >= n) { return; }
  let r0 = wid.y * chunk; let r1 = min(rows, r0 + chunk);
  var ds = 0.0; var db = 0.0;
  for (var r = r0; r < r1; r = r + 1u) {
    let dy = DY[r * n + c];
    ds = fma(dy, (X[r * n + c] - MEAN[r]) * RSTD[r], ds); db = db + dy;
  }
  PART[(wid.y * 2u) * n + c] = ds; PART[(wid.y * 2u + 1u) * n + c] = db;
}`;
}

/** Adds the chunk partials into dscale and dbias (params: chunks, cols). */
export function layerNormParamFinishSource(): string {
  return `@group(0) @binding(1) var<storage, read> PART: array<f32>;
@group(0) @binding(2) var<storage, read_write> DS: array<f32>;
@group(0) @binding(3) var<storage, read_write> DB: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let chunks = pu(0u); let n = pu(1u);
  let c = wid.x * 256u + li;
  if (c >= n) { return; }
  var ds = 0.0; var db = 0.0;
  for (var y = 0u; y < chunks; y = y + 1u) { ds = ds + PART[(y * 2u) * n + c]; db = db + PART[(y * 2u + 1u) * n + c]; }
  DS[c] = DS[c] + ds; DB[c] = DB[c] + db;
}`;
}

/** Fused log-softmax + weighted NLL (params: rows, vocab). An out-of-range target gives a NaN loss. */
export function crossEntropySource(wg = RW): string {
  return rowMain(`let n = pu(1u); let base = row * n;
  var mx = (-INF());
  for (var j = li; j < n; j = j + ${wg}u) { mx = max(mx, X[base + j]); }
  mx = wgMax(mx, li);
  if (mx == (-INF())) { mx = 0.0; }
  var s = 0.0;
  for (var j = li; j < n; j = j + ${wg}u) { s = s + exp(X[base + j] - mx); }
  let lse = mx + log(wgSum(s, li));
  for (var j = li; j < n; j = j + ${wg}u) { LOGP[base + j] = X[base + j] - lse; }
  if (li == 0u) {
    let t = T[row];
    if (t < 0 || u32(t) >= n) { LOSS[row] = NAN(); }
    else { LOSS[row] = -W[row] * (X[base + u32(t)] - lse); }
  }`,
  `@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> T: array<i32>;
@group(0) @binding(3) var<storage, read> W: array<f32>;
@group(0) @binding(4) var<storage, read_write> LOSS: array<f32>;
@group(0) @binding(5) var<storage, read_write> LOGP: array<f32>;`, wg);
}

/** dlogits = dloss*w * (exp(logp) - onehot(t)), one thread per value (params: n, vocab). */
export function crossEntropyBackwardSource(): string {
  return `@group(0) @binding(1) var<storage, read> LOGP: array<f32>;
@group(0) @binding(2) var<storage, read> T: array<i32>;
@group(0) @binding(3) var<storage, read> W: array<f32>;
@group(0) @binding(4) var<storage, read> DL: array<f32>;
@group(0) @binding(5) var<storage, read_write> DX: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid.x;
  if (i >= pu(0u)) { return; }
  let V = pu(1u); let r = i / V; let j = i % V;
  let s = DL[r] * W[r];
  var v = s * exp(LOGP[i]);
  if (i32(j) == T[r]) { v = v - s; }
  DX[i] = v;
}`;
}

/**
 * Row argmax into int32 O[outOffset + row] (params: rows, cols, outOffset), the
 * js kernel's rule: the first index of the largest value, NaNs never chosen,
 * except that a NaN at index 0 (or a row of NaNs) gives 0.
 */
export function argmaxSource(wg = RW): string {
  return `@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<i32>;
var<workgroup> bv: array<f32, ${wg}>;
var<workgroup> bi: array<u32, ${wg}>;
const NONE = 0xffffffffu;
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= pu(0u)) { return; }
  let n = pu(1u); let base = row * n;
  var v = 0.0; var idx = NONE;
  for (var j = li; j < n; j = j + ${wg}u) {
    let x = X[base + j];
    if (!isNan(x) && (idx == NONE || x > v)) { v = x; idx = j; }
  }
  bv[li] = v; bi[li] = idx; workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (li < s) {
      let oi = bi[li + s]; let ov = bv[li + s]; let mi = bi[li];
      if (oi != NONE && (mi == NONE || ov > bv[li] || (ov == bv[li] && oi < mi))) { bv[li] = ov; bi[li] = oi; }
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    let x0 = X[base];
    O[pu(2u) + row] = select(i32(bi[0]), 0, bi[0] == NONE || isNan(x0));
  }
}`;
}
