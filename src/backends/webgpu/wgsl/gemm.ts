// Tiled batched GEMM in WGSL, generated per tile configuration and operand
// layout: each workgroup computes a BM x BN block of C, staging BK-deep
// slices of A and B in workgroup memory; each thread keeps a TM x TN block
// of accumulators in registers. Scalar tiles stride a thread's rows and
// columns by the thread grid (conflict-free scalar reads); vec4 tiles give
// each thread a contiguous block and read the staged slices as vec4 (a
// quarter of the shared-memory loads per multiply-add), and load the next
// slice from global memory into registers while the current one is used.
// Epilogues (accumulate, bias, ReLU, gate) run on the registers.

export interface GemmTile {
  /** Rows and columns of C per workgroup. */
  bm: number; bn: number;
  /** Depth of the staged A and B slices. */
  bk: number;
  /** Rows and columns of C per thread (bm/tm * bn/tn threads, at most 256). */
  tm: number; tn: number;
  /** vec4 shared-memory reads and register prefetch (tm, tn multiples of 4). */
  vec?: boolean;
}

export interface GemmVariant {
  transA: boolean; transB: boolean; accumulate: boolean;
  bias: boolean; relu: boolean; gate: boolean;
}

export function tileKey(t: GemmTile): string { return `${t.bm}x${t.bn}x${t.bk}/${t.tm}x${t.tn}${t.vec ? 'v' : ''}`; }

export function checkTile(t: GemmTile, maxThreads: number, maxShared: number): void {
  const wgx = t.bn / t.tn, wgy = t.bm / t.tm;
  const ok = [t.bm, t.bn, t.bk, t.tm, t.tn].every((v) => Number.isInteger(v) && v > 0) &&
    Number.isInteger(wgx) && Number.isInteger(wgy) && wgx * wgy <= maxThreads &&
    (t.bm * t.bk) % (wgx * wgy) === 0 && (t.bn * t.bk) % (wgx * wgy) === 0 &&
    (t.bm + t.bn) * t.bk * 4 <= maxShared && (!t.vec || (t.tm % 4 === 0 && t.tn % 4 === 0));
  if (!ok) {
    throw new RangeError(`webgpu gemm: tile ${tileKey(t)} is invalid (bm/tm * bn/tn threads <= ${maxThreads}, ` +
      `each staged slice a multiple of the thread count, ${maxShared} bytes of workgroup memory, vec tiles with tm and tn multiples of 4)`);
  }
}

export function gemmSource(t: GemmTile, v: GemmVariant): string {
  if (t.vec) return gemmVecSource(t, v);
  const { bm, bn, bk, tm, tn } = t;
  const wgx = bn / tn, wgy = bm / tm, nt = wgx * wgy;
  let b = 4;
  const biasBinding = v.bias ? b++ : 0;
  const gateBinding = v.gate ? b++ : 0;
  const lines: string[] = [];
  // Stage loads: thread li loads elements li, li+nt, ... of each slice.
  const loadA: string[] = [];
  for (let e = 0; e < (bm * bk) / nt; e++) {
    if (v.transA) {
      // A stored (k, m): consecutive threads read consecutive rows of C.
      loadA.push(`{ let e = li + ${e * nt}u; let kk = e / ${bm}u; let r = e % ${bm}u; let gr = row0 + r; let gk = k0 + kk;
        As[kk * ${bm}u + r] = select(0.0, A[aOff + gk * M + gr], gr < M && gk < K); }`);
    } else {
      loadA.push(`{ let e = li + ${e * nt}u; let r = e / ${bk}u; let kk = e % ${bk}u; let gr = row0 + r; let gk = k0 + kk;
        As[kk * ${bm}u + r] = select(0.0, A[aOff + gr * K + gk], gr < M && gk < K); }`);
    }
  }
  const loadB: string[] = [];
  for (let e = 0; e < (bn * bk) / nt; e++) {
    if (v.transB) {
      loadB.push(`{ let e = li + ${e * nt}u; let c = e / ${bk}u; let kk = e % ${bk}u; let gc = col0 + c; let gk = k0 + kk;
        Bs[kk * ${bn}u + c] = select(0.0, B[bOff + gc * K + gk], gc < N && gk < K); }`);
    } else {
      loadB.push(`{ let e = li + ${e * nt}u; let kk = e / ${bn}u; let c = e % ${bn}u; let gc = col0 + c; let gk = k0 + kk;
        Bs[kk * ${bn}u + c] = select(0.0, B[bOff + gk * N + gc], gc < N && gk < K); }`);
    }
  }
  const accDecl: string[] = [];
  for (let i = 0; i < tm; i++) for (let j = 0; j < tn; j++) accDecl.push(`var c${i}_${j} = 0.0;`);
  const inner: string[] = [];
  for (let i = 0; i < tm; i++) inner.push(`let a${i} = As[kk * ${bm}u + ty + ${i * wgy}u];`);
  for (let j = 0; j < tn; j++) inner.push(`let b${j} = Bs[kk * ${bn}u + tx + ${j * wgx}u];`);
  for (let i = 0; i < tm; i++) for (let j = 0; j < tn; j++) inner.push(`c${i}_${j} = fma(a${i}, b${j}, c${i}_${j});`);
  const store: string[] = [];
  for (let i = 0; i < tm; i++) {
    for (let j = 0; j < tn; j++) {
      let s = `{ let r = row0 + ty + ${i * wgy}u; let c = col0 + tx + ${j * wgx}u;
        if (r < M && c < N) { let rc = r * N + c; let idx = cOff + rc; var val = c${i}_${j};`;
      if (v.accumulate) s += ` val = C[idx] + val;`;
      if (v.bias) s += ` val = val + bias[c];`;
      if (v.relu) s += ` val = select(0.0, val, val > 0.0);`;
      if (v.gate) s += ` val = select(0.0, val * gs, gate[gOff + rc] > 0.0);`;
      s += ` C[idx] = val; } }`;
      store.push(s);
    }
  }
  lines.push(`
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
${v.bias ? `@group(0) @binding(${biasBinding}) var<storage, read> bias: array<f32>;` : ''}
${v.gate ? `@group(0) @binding(${gateBinding}) var<storage, read> gate: array<f32>;` : ''}
var<workgroup> As: array<f32, ${bm * bk}>;
var<workgroup> Bs: array<f32, ${bn * bk}>;
@compute @workgroup_size(${wgx}, ${wgy})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let M = pu(0u); let N = pu(1u); let K = pu(2u);
  let bt = wid.z;
  let aOff = pu(6u) + bt * pu(3u); let bOff = pu(7u) + bt * pu(4u); let gOff = bt * M * N; let cOff = pu(8u) + gOff;
  let gs = pf(5u);
  let row0 = wid.y * ${bm}u; let col0 = wid.x * ${bn}u;
  let tx = lid.x; let ty = lid.y;
  ${accDecl.join('\n  ')}
  for (var k0 = 0u; k0 < K; k0 = k0 + ${bk}u) {
    ${loadA.join('\n    ')}
    ${loadB.join('\n    ')}
    workgroupBarrier();
    for (var kk = 0u; kk < ${bk}u; kk = kk + 1u) {
      ${inner.join('\n      ')}
    }
    workgroupBarrier();
  }
  ${store.join('\n  ')}
}
`);
  return lines.join('\n');
}

/** Global-memory index and bounds test of staged element e (0 <= e < slice size) of A or B. */
function stageIndex(which: 'A' | 'B', trans: boolean, bm: number, bn: number, bk: number): { rc: string; k: string; idx: string; ok: string; sh: string } {
  if (which === 'A') {
    // Staged As[kk * bm + r]; A stored (m, k), or (k, m) when transposed.
    return trans
      ? { rc: `e % ${bm}u`, k: `e / ${bm}u`, idx: 'aOff + gk * M + gr', ok: 'gr < M && gk < K', sh: `kk * ${bm}u + r` }
      : { rc: `e / ${bk}u`, k: `e % ${bk}u`, idx: 'aOff + gr * K + gk', ok: 'gr < M && gk < K', sh: `kk * ${bm}u + r` };
  }
  return trans
    ? { rc: `e / ${bk}u`, k: `e % ${bk}u`, idx: 'bOff + gr * K + gk', ok: 'gr < N && gk < K', sh: `kk * ${bn}u + r` }
    : { rc: `e % ${bn}u`, k: `e / ${bn}u`, idx: 'bOff + gk * N + gr', ok: 'gr < N && gk < K', sh: `kk * ${bn}u + r` };
}

function gemmVecSource(t: GemmTile, v: GemmVariant): string {
  const { bm, bn, bk, tm, tn } = t;
  const wgx = bn / tn, wgy = bm / tm, nt = wgx * wgy;
  const na = (bm * bk) / nt, nb = (bn * bk) / nt;
  let b = 4;
  const biasBinding = v.bias ? b++ : 0;
  const gateBinding = v.gate ? b++ : 0;
  const sa = stageIndex('A', v.transA, bm, bn, bk), sb = stageIndex('B', v.transB, bm, bn, bk);
  const fetch = (which: 'A' | 'B', n: number, s: ReturnType<typeof stageIndex>, base: string) =>
    Array.from({ length: n }, (_, e) => `{ let e = li + ${e * nt}u; let r = ${s.rc}; let gr = ${base} + r; let gk = k0 + ${s.k};
      p${which}${e} = select(0.0, ${which}[${s.idx}], ${s.ok}); }`).join('\n    ');
  const store = (which: 'A' | 'B', n: number, s: ReturnType<typeof stageIndex>, arr: string) =>
    Array.from({ length: n }, (_, e) => `{ let e = li + ${e * nt}u; let r = ${s.rc}; let kk = ${s.k}; let o = ${s.sh};
      ${arr}[o >> 2u][o & 3u] = p${which}${e}; }`).join('\n    ');
  const decl = [
    ...Array.from({ length: na }, (_, e) => `var pA${e} = 0.0;`),
    ...Array.from({ length: nb }, (_, e) => `var pB${e} = 0.0;`),
    ...Array.from({ length: tm * (tn / 4) }, (_, q) => `var c${q} = vec4<f32>(0.0);`),
  ].join(' ');
  const inner: string[] = [];
  for (let i = 0; i < tm / 4; i++) inner.push(`let a${i} = As[(kk * ${bm}u + ty * ${tm}u) / 4u + ${i}u];`);
  for (let j = 0; j < tn / 4; j++) inner.push(`let b${j} = Bs[(kk * ${bn}u + tx * ${tn}u) / 4u + ${j}u];`);
  for (let i = 0; i < tm; i++) {
    for (let j = 0; j < tn / 4; j++) inner.push(`c${i * (tn / 4) + j} = fma(vec4<f32>(a${i >> 2}[${i & 3}]), b${j}, c${i * (tn / 4) + j});`);
  }
  const out: string[] = [];
  for (let i = 0; i < tm; i++) {
    for (let j = 0; j < tn / 4; j++) {
      for (let l = 0; l < 4; l++) {
        let s = `{ let r = row0 + ty * ${tm}u + ${i}u; let c = col0 + tx * ${tn}u + ${j * 4 + l}u;
    if (r < M && c < N) { let rc = r * N + c; let idx = cOff + rc; var val = c${i * (tn / 4) + j}[${l}];`;
        if (v.accumulate) s += ' val = C[idx] + val;';
        if (v.bias) s += ' val = val + bias[c];';
        if (v.relu) s += ' val = select(0.0, val, val > 0.0);';
        if (v.gate) s += ' val = select(0.0, val * gs, gate[gOff + rc] > 0.0);';
        s += ' C[idx] = val; } }';
        out.push(s);
      }
    }
  }
  return `
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
${v.bias ? `@group(0) @binding(${biasBinding}) var<storage, read> bias: array<f32>;` : ''}
${v.gate ? `@group(0) @binding(${gateBinding}) var<storage, read> gate: array<f32>;` : ''}
var<workgroup> As: array<vec4<f32>, ${(bm * bk) / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${(bn * bk) / 4}>;
@compute @workgroup_size(${wgx}, ${wgy})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let M = pu(0u); let N = pu(1u); let K = pu(2u);
  let bt = wid.z;
  let aOff = pu(6u) + bt * pu(3u); let bOff = pu(7u) + bt * pu(4u); let gOff = bt * M * N; let cOff = pu(8u) + gOff;
  let gs = pf(5u);
  let row0 = wid.y * ${bm}u; let col0 = wid.x * ${bn}u;
  let tx = lid.x; let ty = lid.y;
  ${decl}
  var k0 = 0u;
  ${fetch('A', na, sa, 'row0')}
  ${fetch('B', nb, sb, 'col0')}
  loop {
    if (k0 >= K) { break; }
    ${store('A', na, sa, 'As')}
    ${store('B', nb, sb, 'Bs')}
    workgroupBarrier();
    k0 = k0 + ${bk}u;
    if (k0 < K) {
    ${fetch('A', na, sa, 'row0')}
    ${fetch('B', nb, sb, 'col0')}
    }
    for (var kk = 0u; kk < ${bk}u; kk = kk + 1u) {
      ${inner.join('\n      ')}
    }
    workgroupBarrier();
  }
  ${out.join('\n  ')}
}
`;
}
