// Dot-product attention in WGSL, with the operand layout of Kernels.attention
// (heads H and row strides, so q, k, v may be column blocks of one activation).
// Two paths: one that saves the probabilities (bh, lq, lk) for a backward pass
// that reads them (and applies a stored dropout mask), and a flash-style path
// that streams keys in chunks with an online softmax, saving only each row's
// log-sum-exp, so no lq x lk matrix exists for long sequences.
// Params (all kernels): 0 rows, 1 lq, 2 lk, 3 d, 4 scale, 5 causal, 6 offset (i32),
// 7 H, 8 qs, 9 ks, 10 vs, 11 os.

export const AW = 64;

const common = (aw: number) => /* wgsl */`
var<workgroup> red: array<f32, ${aw}>;
fn wgSum(v: f32, li: u32) -> f32 {
  red[li] = v; workgroupBarrier();
  for (var s = ${aw / 2}u; s > 0u; s = s >> 1u) {
    if (li < s) { red[li] = red[li] + red[li + s]; }
    workgroupBarrier();
  }
  let r = red[0]; workgroupBarrier(); return r;
}
fn wgMax(v: f32, li: u32) -> f32 {
  red[li] = v; workgroupBarrier();
  for (var s = ${aw / 2}u; s > 0u; s = s >> 1u) {
    if (li < s) { red[li] = max(red[li], red[li + s]); }
    workgroupBarrier();
  }
  let r = red[0]; workgroupBarrier(); return r;
}
// Start of head h's row i of an operand with 'len' rows and row stride 'st'.
fn rowAt(h: u32, i: u32, len: u32, st: u32) -> u32 {
  let H = pu(7u); return ((h / H) * len + i) * st + (h % H) * pu(3u);
}
fn masked(i: u32, j: u32) -> bool {
  return pu(5u) != 0u && i32(j) > i32(i) + pi(6u);
}
// Keys a query row attends to: [0, end). A row with none attends to all keys, each at -1e9, as the reference does.
fn keyEnd(i: u32) -> u32 {
  let lk = pu(2u);
  if (pu(5u) == 0u) { return lk; }
  let e = i32(i) + pi(6u) + 1;
  if (e <= 0) { return lk; }
  return min(lk, u32(e));
}
`;

function head(bindings: string, aw: number, extra = ''): string {
  return `${bindings}
${common(aw)}
${extra}
@compute @workgroup_size(${aw})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= pu(0u)) { return; }`;
}

/** Forward, saving probs (bh, lq, lk). Variant flags: dropout mask, key mask. */
export function attentionProbsSource(drop: boolean, keyMask: boolean, aw = AW): string {
  let b = 6;
  const dm = drop ? `@group(0) @binding(${b++}) var<storage, read> DM: array<f32>;` : '';
  const km = keyMask ? `@group(0) @binding(${b++}) var<storage, read> KM: array<f32>;` : '';
  return `${head(`@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<storage, read_write> PR: array<f32>;
${dm}
${km}`, aw)}
  let lq = pu(1u); let lk = pu(2u); let d = pu(3u); let scale = pf(4u);
  let h = row / lq; let i = row % lq;
  let qo = rowAt(h, i, lq, pu(8u)); let oo = rowAt(h, i, lq, pu(11u)); let po = row * lk;
  var mx = -INF();
  for (var j = li; j < lk; j = j + ${aw}u) {
    let ko = rowAt(h, j, lk, pu(9u));
    var dot = 0.0;
    for (var p = 0u; p < d; p = p + 1u) { dot = fma(Q[qo + p], K[ko + p], dot); }
    var val = dot * scale;
    if (masked(i, j)${keyMask ? ' || KM[h * lk + j] == 0.0' : ''}) { val = -1e9; }
    PR[po + j] = val;
    mx = max(mx, val);
  }
  mx = wgMax(mx, li);
  var s = 0.0;
  for (var j = li; j < lk; j = j + ${aw}u) { let e = exp(PR[po + j] - mx); PR[po + j] = e; s = s + e; }
  s = wgSum(s, li);
  for (var j = li; j < lk; j = j + ${aw}u) { PR[po + j] = PR[po + j] / s; }
  storageBarrier(); workgroupBarrier();
  for (var p = li; p < d; p = p + ${aw}u) {
    var acc = 0.0;
    for (var j = 0u; j < lk; j = j + 1u) {
      acc = fma(PR[po + j]${drop ? ' * DM[po + j]' : ''}, V[rowAt(h, j, lk, pu(10u)) + p], acc);
    }
    O[oo + p] = acc;
  }
}`;
}

/**
 * Backward with saved probs, part 1 (per query row): ds = p * (dp - rowdot) * scale
 * into DS (bh, lq, lk), and dq.
 */
export function attentionBackwardRowsSource(drop: boolean, aw = AW): string {
  return `${head(`@group(0) @binding(1) var<storage, read> DO: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> PR: array<f32>;
@group(0) @binding(5) var<storage, read_write> DS: array<f32>;
@group(0) @binding(6) var<storage, read_write> DQ: array<f32>;
${drop ? '@group(0) @binding(7) var<storage, read> DM: array<f32>;' : ''}`, aw)}
  let lq = pu(1u); let lk = pu(2u); let d = pu(3u); let scale = pf(4u);
  let h = row / lq; let i = row % lq;
  let qo = rowAt(h, i, lq, pu(8u)); let oo = rowAt(h, i, lq, pu(11u)); let po = row * lk;
  var rd = 0.0;
  for (var j = li; j < lk; j = j + ${aw}u) {
    let vo = rowAt(h, j, lk, pu(10u));
    var g = 0.0;
    for (var p = 0u; p < d; p = p + 1u) { g = fma(DO[oo + p], V[vo + p], g); }
    let dp = g${drop ? ' * DM[po + j]' : ''};
    DS[po + j] = dp;
    rd = fma(dp, PR[po + j], rd);
  }
  rd = wgSum(rd, li);
  for (var j = li; j < lk; j = j + ${aw}u) { DS[po + j] = PR[po + j] * (DS[po + j] - rd) * scale; }
  storageBarrier(); workgroupBarrier();
  for (var p = li; p < d; p = p + ${aw}u) {
    var acc = 0.0;
    for (var j = 0u; j < lk; j = j + 1u) { acc = fma(DS[po + j], K[rowAt(h, j, lk, pu(9u)) + p], acc); }
    DQ[qo + p] = acc;
  }
}`;
}

/** Backward with saved probs, part 2 (per key row j; rows = bh * lk): dk and dv. */
export function attentionBackwardKeysSource(drop: boolean, aw = AW): string {
  return `${head(`@group(0) @binding(1) var<storage, read> DO: array<f32>;
@group(0) @binding(2) var<storage, read> Q: array<f32>;
@group(0) @binding(3) var<storage, read> PR: array<f32>;
@group(0) @binding(4) var<storage, read> DS: array<f32>;
@group(0) @binding(5) var<storage, read_write> DK: array<f32>;
@group(0) @binding(6) var<storage, read_write> DV: array<f32>;
${drop ? '@group(0) @binding(7) var<storage, read> DM: array<f32>;' : ''}`, aw)}
  let lq = pu(1u); let lk = pu(2u); let d = pu(3u);
  let h = row / lk; let j = row % lk;
  let ko = rowAt(h, j, lk, pu(9u)); let vo = rowAt(h, j, lk, pu(10u));
  for (var p = li; p < d; p = p + ${aw}u) {
    var dk = 0.0; var dv = 0.0;
    for (var i = 0u; i < lq; i = i + 1u) {
      let pi_ = (h * lq + i) * lk + j;
      dv = fma(PR[pi_]${drop ? ' * DM[pi_]' : ''}, DO[rowAt(h, i, lq, pu(11u)) + p], dv);
      dk = fma(DS[pi_], Q[rowAt(h, i, lq, pu(8u)) + p], dk);
    }
    DK[ko + p] = dk; DV[vo + p] = dv;
  }
}`;
}

/** Number of accumulator registers per thread for head size d. */
export function flashSlots(d: number, aw = AW): number { return Math.max(1, Math.ceil(d / aw)); }

function slotDecl(slots: number): string {
  return Array.from({ length: slots }, (_, a) => `var acc${a} = 0.0;`).join(' ');
}

/**
 * Flash forward: per query row, keys in chunks of AW with an online softmax.
 * Writes out and LSE[2 row], LSE[2 row + 1]: the row's running max and sum of exponentials
 * (kept apart: with scores of -1e9 their sum as one float would lose log(sum)).
 */
export function flashForwardSource(slots: number, keyMask: boolean, aw = AW): string {
  const upd = Array.from({ length: slots }, (_, a) =>
    `{ let p = li + ${a * aw}u; if (p < d) { var s = acc${a} * alpha;
      for (var jj = 0u; jj < cnt; jj = jj + 1u) { s = fma(SP[jj], V[rowAt(h, j0 + jj, lk, pu(10u)) + p], s); }
      acc${a} = s; } }`).join('\n    ');
  const fin = Array.from({ length: slots }, (_, a) =>
    `{ let p = li + ${a * aw}u; if (p < d) { O[oo + p] = acc${a} / l; } }`).join('\n  ');
  return `${head(`@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<storage, read_write> LSE: array<f32>;
${keyMask ? '@group(0) @binding(6) var<storage, read> KM: array<f32>;' : ''}`, aw, `var<workgroup> SP: array<f32, ${aw}>;`)}
  let lq = pu(1u); let lk = pu(2u); let d = pu(3u); let scale = pf(4u);
  let h = row / lq; let i = row % lq;
  let qo = rowAt(h, i, lq, pu(8u)); let oo = rowAt(h, i, lq, pu(11u));
  let end = keyEnd(i);
  var m = -INF(); var l = 0.0;
  ${slotDecl(slots)}
  for (var j0 = 0u; j0 < end; j0 = j0 + ${aw}u) {
    let j = j0 + li;
    var sc = -INF();
    if (j < end) {
      let ko = rowAt(h, j, lk, pu(9u));
      var dot = 0.0;
      for (var p = 0u; p < d; p = p + 1u) { dot = fma(Q[qo + p], K[ko + p], dot); }
      sc = dot * scale;
      if (masked(i, j)${keyMask ? ' || KM[h * lk + j] == 0.0' : ''}) { sc = -1e9; }
    }
    let mn = max(m, wgMax(sc, li));
    let alpha = exp(m - mn);
    let e = select(0.0, exp(sc - mn), j < end);
    SP[li] = e;
    l = l * alpha + wgSum(e, li);
    m = mn;
    let cnt = min(${aw}u, end - j0);
    ${upd}
    workgroupBarrier();
  }
  ${fin}
  if (li == 0u) { LSE[2u * row] = m; LSE[2u * row + 1u] = l; }
}`;
}

/** Flash backward, step 1: Dd[row] = dot(dout_row, out_row). */
export function flashDeltaSource(aw = AW): string {
  return `${head(`@group(0) @binding(1) var<storage, read> DO: array<f32>;
@group(0) @binding(2) var<storage, read> O: array<f32>;
@group(0) @binding(3) var<storage, read_write> DD: array<f32>;`, aw)}
  let lq = pu(1u); let d = pu(3u);
  let h = row / lq; let i = row % lq;
  let oo = rowAt(h, i, lq, pu(11u));
  var s = 0.0;
  for (var p = li; p < d; p = p + ${aw}u) { s = fma(DO[oo + p], O[oo + p], s); }
  s = wgSum(s, li);
  if (li == 0u) { DD[row] = s; }
}`;
}

/** Flash backward, step 2 (per query row): dq = scale * sum_j p_ij (dp_ij - D_i) k_j. */
export function flashBackwardQuerySource(slots: number, keyMask: boolean, aw = AW): string {
  const upd = Array.from({ length: slots }, (_, a) =>
    `{ let p = li + ${a * aw}u; if (p < d) { var s = acc${a};
      for (var jj = 0u; jj < cnt; jj = jj + 1u) { s = fma(SP[jj], K[rowAt(h, j0 + jj, lk, pu(9u)) + p], s); }
      acc${a} = s; } }`).join('\n    ');
  const fin = Array.from({ length: slots }, (_, a) =>
    `{ let p = li + ${a * aw}u; if (p < d) { DQ[qo + p] = acc${a}; } }`).join('\n  ');
  return `${head(`@group(0) @binding(1) var<storage, read> DO: array<f32>;
@group(0) @binding(2) var<storage, read> Q: array<f32>;
@group(0) @binding(3) var<storage, read> K: array<f32>;
@group(0) @binding(4) var<storage, read> V: array<f32>;
@group(0) @binding(5) var<storage, read> LSE: array<f32>;
@group(0) @binding(6) var<storage, read> DD: array<f32>;
@group(0) @binding(7) var<storage, read_write> DQ: array<f32>;
${keyMask ? '@group(0) @binding(8) var<storage, read> KM: array<f32>;' : ''}`, aw, `var<workgroup> SP: array<f32, ${aw}>;`)}
  let lq = pu(1u); let lk = pu(2u); let d = pu(3u); let scale = pf(4u);
  let h = row / lq; let i = row % lq;
  let qo = rowAt(h, i, lq, pu(8u)); let oo = rowAt(h, i, lq, pu(11u));
  let end = keyEnd(i); let mx = LSE[2u * row]; let il = 1.0 / LSE[2u * row + 1u]; let D = DD[row];
  ${slotDecl(slots)}
  for (var j0 = 0u; j0 < end; j0 = j0 + ${aw}u) {
    let j = j0 + li;
    var ds = 0.0;
    if (j < end) {
      let ko = rowAt(h, j, lk, pu(9u)); let vo = rowAt(h, j, lk, pu(10u));
      var dot = 0.0; var dp = 0.0;
      for (var p = 0u; p < d; p = p + 1u) { dot = fma(Q[qo + p], K[ko + p], dot); dp = fma(DO[oo + p], V[vo + p], dp); }
      var sc = dot * scale;
      if (masked(i, j)${keyMask ? ' || KM[h * lk + j] == 0.0' : ''}) { sc = -1e9; }
      let pr = exp(sc - mx) * il;
      ds = pr * (dp - D) * scale;
    }
    SP[li] = ds;
    workgroupBarrier();
    let cnt = min(${aw}u, end - j0);
    ${upd}
    workgroupBarrier();
  }
  ${fin}
}`;
}

/** Flash backward, step 3 (per key row; rows = bh * lk): dk and dv over the queries that see the key. */
export function flashBackwardKeySource(slots: number, keyMask: boolean, aw = AW): string {
  const upd = Array.from({ length: slots }, (_, a) =>
    `{ let p = li + ${a * aw}u; if (p < d) { var sk = dk${a}; var sv = dv${a};
      for (var ii = 0u; ii < cnt; ii = ii + 1u) {
        sk = fma(SD[ii], Q[rowAt(h, i0 + ii, lq, pu(8u)) + p], sk);
        sv = fma(SP[ii], DO[rowAt(h, i0 + ii, lq, pu(11u)) + p], sv);
      }
      dk${a} = sk; dv${a} = sv; } }`).join('\n    ');
  const decl = Array.from({ length: slots }, (_, a) => `var dk${a} = 0.0; var dv${a} = 0.0;`).join(' ');
  const fin = Array.from({ length: slots }, (_, a) =>
    `{ let p = li + ${a * aw}u; if (p < d) { DK[ko + p] = dk${a}; DV[vo + p] = dv${a}; } }`).join('\n  ');
  return `${head(`@group(0) @binding(1) var<storage, read> DO: array<f32>;
@group(0) @binding(2) var<storage, read> Q: array<f32>;
@group(0) @binding(3) var<storage, read> K: array<f32>;
@group(0) @binding(4) var<storage, read> V: array<f32>;
@group(0) @binding(5) var<storage, read> LSE: array<f32>;
@group(0) @binding(6) var<storage, read> DD: array<f32>;
@group(0) @binding(7) var<storage, read_write> DK: array<f32>;
@group(0) @binding(8) var<storage, read_write> DV: array<f32>;
${keyMask ? '@group(0) @binding(9) var<storage, read> KM: array<f32>;' : ''}`, aw,
  `var<workgroup> SP: array<f32, ${aw}>;\nvar<workgroup> SD: array<f32, ${aw}>;`)}
  let lq = pu(1u); let lk = pu(2u); let d = pu(3u); let scale = pf(4u);
  let h = row / lk; let j = row % lk;
  let ko = rowAt(h, j, lk, pu(9u)); let vo = rowAt(h, j, lk, pu(10u));
  ${decl}
  for (var i0 = 0u; i0 < lq; i0 = i0 + ${aw}u) {
    let i = i0 + li;
    var pr = 0.0; var ds = 0.0;
    if (i < lq && j < keyEnd(i)) {
      let qo = rowAt(h, i, lq, pu(8u)); let oo = rowAt(h, i, lq, pu(11u));
      var dot = 0.0; var dp = 0.0;
      for (var p = 0u; p < d; p = p + 1u) { dot = fma(Q[qo + p], K[ko + p], dot); dp = fma(DO[oo + p], V[vo + p], dp); }
      var sc = dot * scale;
      if (masked(i, j)${keyMask ? ' || KM[h * lk + j] == 0.0' : ''}) { sc = -1e9; }
      let qr = h * lq + i;
      pr = exp(sc - LSE[2u * qr]) / LSE[2u * qr + 1u];
      ds = pr * (dp - DD[h * lq + i]) * scale;
    }
    SP[li] = pr; SD[li] = ds;
    workgroupBarrier();
    let cnt = min(${aw}u, lq - i0);
    ${upd}
    workgroupBarrier();
  }
  ${fin}
}`;
}
