// Tiled batched GEMM in WGSL, generated per tile configuration and operand
// layout: each workgroup computes a BM x BN block of C, staging BK-deep
// slices of A and B in workgroup memory; each thread keeps a TM x TN block
// of accumulators in registers (rows and columns strided by the thread grid,
// so shared-memory reads and global writes are contiguous across threads).
// Epilogues (accumulate, bias, ReLU, gate) run on the registers.

export interface GemmTile {
  /** Rows and columns of C per workgroup. */
  bm: number; bn: number;
  /** Depth of the staged A and B slices. */
  bk: number;
  /** Rows and columns of C per thread (bm/tm * bn/tn threads, at most 256). */
  tm: number; tn: number;
}

export interface GemmVariant {
  transA: boolean; transB: boolean; accumulate: boolean;
  bias: boolean; relu: boolean; gate: boolean;
}

export function tileKey(t: GemmTile): string { return `${t.bm}x${t.bn}x${t.bk}/${t.tm}x${t.tn}`; }

export function checkTile(t: GemmTile, maxThreads: number, maxShared: number): void {
  const wgx = t.bn / t.tn, wgy = t.bm / t.tm;
  const ok = [t.bm, t.bn, t.bk, t.tm, t.tn].every((v) => Number.isInteger(v) && v > 0) &&
    Number.isInteger(wgx) && Number.isInteger(wgy) && wgx * wgy <= maxThreads &&
    (t.bm * t.bk) % (wgx * wgy) === 0 && (t.bn * t.bk) % (wgx * wgy) === 0 &&
    (t.bm + t.bn) * t.bk * 4 <= maxShared;
  if (!ok) {
    throw new RangeError(`webgpu gemm: tile ${tileKey(t)} is invalid (bm/tm * bn/tn threads <= ${maxThreads}, ` +
      `each staged slice a multiple of the thread count, ${maxShared} bytes of workgroup memory)`);
  }
}

export function gemmSource(t: GemmTile, v: GemmVariant): string {
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
