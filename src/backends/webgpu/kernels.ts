/// <reference types="@webgpu/types" />
// The WebGPU kernels: the methods and argument order of Kernels
// (src/backends/kernels.ts), over device storage (GpuStore) instead of typed
// arrays. Every method only encodes work; nothing waits for the GPU, and
// nothing returns a host value (sumSquares writes a one-value storage).
import { Binary, Reduce, Unary } from '../kernels.js';
import { GpuStore, Params, PRELUDE, Runtime, grid } from './runtime.js';
import { checkTile, gemmSource, tileKey, type GemmTile, type GemmVariant } from './wgsl/gemm.js';
import * as ew from './wgsl/elementwise.js';
import * as rw from './wgsl/rows.js';
import * as at from './wgsl/attention.js';
import * as mi from './wgsl/misc.js';
import * as da from './wgsl/data.js';
import * as op from './wgsl/optim.js';

type G = GpuStore;
const MAX_RANK = 8;
/** Parameter words from here on hold view offsets (one per storage argument). */
const VIEW_SLOT = 48;

/**
 * Rewrites a kernel for views: storage argument i reads through its offset
 * (pu(48 + i)), and an argument sharing a buffer with an earlier one uses
 * that one's binding (read_write if either writes). Bindings are renumbered.
 */
function withViews(src: string, first: number[]): string {
  const decl = /@group\(0\) @binding\((\d+)\) var<storage, (read|read_write)> (\w+): ([^;]+);/g;
  const found: { binding: number; access: string; name: string; type: string; text: string }[] = [];
  for (const m of src.matchAll(decl)) found.push({ binding: +m[1], access: m[2], name: m[3], type: m[4], text: m[0] });
  const byBinding = new Map(found.map((f) => [f.binding, f]));
  let out = src;
  const kept: typeof found = [];
  first.forEach((j, i) => {
    const me = byBinding.get(i + 1), owner = byBinding.get(j + 1);
    if (!me || !owner) return;
    if (j !== i && me.access === 'read_write') owner.access = 'read_write';
    if (j === i) kept.push(me);
  });
  for (const f of found) out = out.replace(f.text, `/*binding ${f.name}*/`);
  // Two phases, so a renamed access is not offset twice.
  first.forEach((_j, i) => {
    const me = byBinding.get(i + 1);
    if (me) out = out.replace(new RegExp(`(?<![\\w.])${me.name}\\[`, 'g'), `@@${i}@@[`);
  });
  first.forEach((j, i) => {
    const owner = byBinding.get(j + 1);
    if (owner) out = out.replaceAll(`@@${i}@@[`, `${owner.name}[pu(${VIEW_SLOT + i}u) + `);
  });
  kept.forEach((f, k) => {
    out = out.replace(`/*binding ${f.name}*/`, `@group(0) @binding(${k + 1}) var<storage, ${f.access}> ${f.name}: ${f.type};`);
  });
  return out.replace(/\/\*binding \w+\*\//g, '');
}

/** Tiles tried by size: big GEMMs get large register blocks, small ones more workgroups. */
export interface GemmTiles { large: GemmTile; medium: GemmTile; small: GemmTile }
export const DEFAULT_TILES: GemmTiles = {
  large: { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8, vec: true },
  medium: { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4, vec: true },
  small: { bm: 32, bn: 32, bk: 16, tm: 2, tn: 2 },
};

/** Threads per row for a row of `cols` values: narrow rows take narrow workgroups (fewer barrier steps). */
function rowWg(cols: number): number {
  let wg = 32;
  while (wg < 256 && wg * 4 < cols) wg *= 2;
  return wg;
}

/** Threads per attention row: 32 for short rows and small heads, else 64. */
function attnWg(lk: number, d: number): number { return lk <= 32 && d <= 32 ? 32 : 64; }

function checkRank(what: string, r: number): void {
  if (r > MAX_RANK) throw new RangeError(`webgpu ${what}: rank ${r} is above the backend's ${MAX_RANK}`);
}

export class WebGpuKernels {
  readonly name = 'webgpu';
  private tiles: GemmTiles = DEFAULT_TILES;
  private readonly p = new Params();
  /** Workgroup count at which a GEMM uses the next larger tile (fills the GPU's cores). */
  fillTarget: number;

  constructor(readonly rt: Runtime) {
    const env = typeof process !== 'undefined' ? process.env?.TRAX_WEBGPU_TILES : undefined;
    if (env) this.setGemmTiles(parseTiles(env));
    this.fillTarget = 264;
  }

  threads(): number { return 1; }
  setThreads(_n: number): void { /* the device decides */ }

  /** Sets the GEMM tile configuration (bench:gpu tries several). */
  setGemmTiles(t: Partial<GemmTiles>): void {
    const next = { ...this.tiles, ...t };
    const lim = this.rt.device.limits;
    for (const tile of [next.large, next.medium, next.small]) {
      checkTile(tile, lim.maxComputeInvocationsPerWorkgroup, lim.maxComputeWorkgroupStorageSize);
    }
    this.tiles = next;
  }
  gemmTiles(): GemmTiles { return this.tiles; }

  private params(): Params { return this.p.reset(); }

  private run(key: string, code: () => string, stores: G[], params: Params | null, groups: [number, number?, number?]): void {
    let views = false;
    for (let i = 0; i < stores.length && !views; i++) {
      if (stores[i].offset !== 0) views = true;
      for (let j = 0; j < i; j++) if (stores[j].buffer === stores[i].buffer) views = true;
    }
    if (!views) { this.rt.dispatch(key, () => PRELUDE + code(), stores, params, groups); return; }
    // Views (offsets) and storages that share a buffer: one binding per buffer, offsets from the parameter block.
    const p = params ?? this.params();
    if (p.n > VIEW_SLOT) throw new RangeError(`webgpu: kernel ${key} uses too many parameters for views`);
    const first: number[] = [];
    const bound: G[] = [];
    stores.forEach((st, i) => {
      const j = stores.findIndex((o) => o.buffer === st.buffer);
      first.push(j);
      if (j === i) bound.push(st);
      p.u[VIEW_SLOT + i] = st.offset;
    });
    this.rt.dispatch(`${key}|views:${first.join(',')}`, () => PRELUDE + withViews(code(), first), bound, p, groups);
  }

  private flat(key: string, code: () => string, stores: G[], n: number, params: Params, wg = ew.WG): void {
    this.run(key, code, stores, params, grid(Math.ceil(n / wg)));
  }

  /**
   * Kernels.matmul, plus optional word offsets of A, B and C into their storages
   * (row blocks of a larger matrix, rows of a KV cache); the gate is indexed like C without its offset.
   */
  matmul(a: G, b: G, c: G, batch: number, m: number, n: number, k: number,
    transA: boolean, transB: boolean, strideA: number, strideB: number, accumulate: boolean,
    bias?: G | null, relu?: boolean, gate?: G | null, gateScale?: number,
    offsets?: { a?: number; b?: number; c?: number }): void {
    if (bias && bias.length !== n) throw new RangeError(`matmul: bias has ${bias.length} values, n is ${n}`);
    if (gate && gate.length !== batch * m * n) throw new RangeError(`matmul: gate has ${gate.length} values, c needs ${batch * m * n}`);
    if (batch === 0 || m === 0 || n === 0) return;
    const t = this.pickTile(batch, m, n);
    const v: GemmVariant = { transA, transB, accumulate, bias: !!bias, relu: !!relu, gate: !!gate };
    const key = `gemm/${tileKey(t)}/${+transA}${+transB}${+accumulate}${+!!bias}${+!!relu}${+!!gate}`;
    const p = this.params().u32(m).u32(n).u32(k).u32(strideA).u32(strideB).f32(gateScale ?? 1)
      .u32(offsets?.a ?? 0).u32(offsets?.b ?? 0).u32(offsets?.c ?? 0);
    const stores = [a, b, c];
    if (bias) stores.push(bias);
    if (gate) stores.push(gate);
    if (batch > 65535) throw new RangeError(`matmul: batch ${batch} exceeds 65535`);
    this.run(key, () => gemmSource(t, v), stores, p, [Math.ceil(n / t.bn), Math.ceil(m / t.bm), batch]);
  }

  private pickTile(batch: number, m: number, n: number): GemmTile {
    const count = (t: GemmTile) => batch * Math.ceil(m / t.bm) * Math.ceil(n / t.bn);
    const { large, medium, small } = this.tiles;
    if (count(large) >= this.fillTarget) return large;
    if (count(medium) >= this.fillTarget / 2 || (m >= 64 && n >= 64)) return medium;
    return small;
  }

  unary(op: Unary, x: G, out: G): void {
    const inPlace = x.buffer === out.buffer;
    this.flat(`unary/${op}/${+inPlace}`, () => ew.unarySource(op, inPlace), inPlace ? [x] : [x, out], out.length,
      this.params().u32(out.length));
  }

  binary(op: Binary, a: G, b: G, out: G, shape: Int32Array, aStrides: Int32Array, bStrides: Int32Array): void {
    const r = shape.length;
    checkRank('binary', r);
    const n = out.length;
    let contiguous = true, scalarB = true;
    for (let ax = r - 1, s = 1; ax >= 0; ax--) {
      if (aStrides[ax] !== s && shape[ax] !== 1) contiguous = false;
      if (bStrides[ax] !== s && shape[ax] !== 1) contiguous = false;
      if (bStrides[ax] !== 0 && shape[ax] !== 1) scalarB = false;
      s *= shape[ax];
    }
    let aContig = true;
    for (let ax = r - 1, s = 1; ax >= 0; ax--) { if (aStrides[ax] !== s && shape[ax] !== 1) aContig = false; s *= shape[ax]; }
    const mode: 'same' | 'scalarB' | 'strided' = contiguous ? 'same' : aContig && scalarB ? 'scalarB' : 'strided';
    const inPlace = a.buffer === out.buffer;
    if (b.buffer === out.buffer) throw new RangeError('webgpu binary: out may alias a, not b');
    const p = this.params().u32(n).u32(r);
    if (mode === 'strided') {
      for (let i = 0; i < 8; i++) p.u32(i < r ? shape[i] : 1);
      for (let i = 0; i < 8; i++) p.u32(i < r ? aStrides[i] : 0);
      for (let i = 0; i < 8; i++) p.u32(i < r ? bStrides[i] : 0);
    }
    this.flat(`binary/${op}/${mode}/${+inPlace}`, () => ew.binarySource(op, mode, inPlace),
      inPlace ? [a, b] : [a, b, out], n, p);
  }

  reduce(op: Reduce, x: G, out: G, outer: number, n: number, inner: number): void {
    if (inner === 1) {
      const wg = rowWg(n);
      this.run(`reduceRows/${op}/${wg}`, () => rw.reduceRowsSource(op, wg), [x, out], this.params().u32(outer).u32(n), grid(outer));
    } else {
      const total = outer * inner;
      this.flat(`reduceCols/${op}`, () => rw.reduceColsSource(op), [x, out], total, this.params().u32(total).u32(n).u32(inner), 256);
    }
  }

  softmax(x: G, out: G, rows: number, cols: number, log: boolean): void {
    const wg = rowWg(cols);
    this.run(`softmax/${+log}/${wg}`, () => rw.softmaxSource(log, wg), [x, out], this.params().u32(rows).u32(cols), grid(rows));
  }

  softmaxBackward(y: G, dy: G, dx: G, rows: number, cols: number, log: boolean): void {
    const wg = rowWg(cols);
    this.run(`softmaxBw/${+log}/${wg}`, () => rw.softmaxBackwardSource(log, wg), [y, dy, dx], this.params().u32(rows).u32(cols), grid(rows));
  }

  layerNorm(x: G, scale: G, bias: G, out: G, mean: G, rstd: G, rows: number, cols: number, eps: number): void {
    const wg = rowWg(cols);
    this.run(`layerNorm/${wg}`, () => rw.layerNormSource(wg), [x, scale, bias, out, mean, rstd],
      this.params().u32(rows).u32(cols).f32(eps), grid(rows));
  }

  layerNormBackward(dy: G, x: G, scale: G, mean: G, rstd: G, dx: G, dscale: G, dbias: G, rows: number, cols: number): void {
    const wg = rowWg(cols);
    this.run(`layerNormBw/${wg}`, () => rw.layerNormBackwardSource(wg), [dy, x, scale, mean, rstd, dx],
      this.params().u32(rows).u32(cols), grid(rows));
    const chunk = Math.max(16, Math.ceil(rows / 128));
    const chunks = Math.ceil(rows / chunk);
    const part = this.rt.alloc(chunks * 2 * cols, 'layer-norm partial sums');
    this.run('layerNormParamPart', rw.layerNormParamPartialSource, [dy, x, mean, rstd, part],
      this.params().u32(rows).u32(cols).u32(chunk), [Math.ceil(cols / 256), chunks]);
    this.run('layerNormParamFin', rw.layerNormParamFinishSource, [part, dscale, dbias],
      this.params().u32(chunks).u32(cols), [Math.ceil(cols / 256)]);
    this.rt.release(part);
  }

  crossEntropy(logits: G, targets: G, weights: G, loss: G, logp: G, rows: number, vocab: number): void {
    const wg = rowWg(vocab);
    this.run(`crossEntropy/${wg}`, () => rw.crossEntropySource(wg), [logits, targets, weights, loss, logp],
      this.params().u32(rows).u32(vocab), grid(rows));
  }

  crossEntropyBackward(logp: G, targets: G, weights: G, dloss: G, dlogits: G, rows: number, vocab: number): void {
    const n = rows * vocab;
    this.flat('crossEntropyBw', rw.crossEntropyBackwardSource, [logp, targets, weights, dloss, dlogits], n,
      this.params().u32(n).u32(vocab), 256);
  }

  private attnParams(rows: number, lq: number, lk: number, d: number, scale: number, causal: boolean, offset: number,
    heads?: number, qs?: number, ks?: number, vs?: number, os?: number): Params {
    const H = heads ?? 1;
    if (!(Number.isInteger(H) && H >= 1)) throw new RangeError(`attention: heads must be a positive integer, got ${heads}`);
    const L = { qs: qs ?? d, ks: ks ?? d, vs: vs ?? d, os: os ?? d };
    for (const [name, st] of Object.entries(L)) {
      if (st < H * d) throw new RangeError(`attention: ${name} ${st} is below heads*d = ${H * d}`);
    }
    return this.params().u32(rows).u32(lq).u32(lk).u32(d).f32(scale).u32(causal ? 1 : 0).i32(offset)
      .u32(H).u32(L.qs).u32(L.ks).u32(L.vs).u32(L.os);
  }

  attention(q: G, k: G, v: G, out: G, probs: G, bh: number, lq: number, lk: number, d: number, scale: number,
    causal: boolean, offset: number, dropMask: G | null, keyMask: G | null,
    heads?: number, qs?: number, ks?: number, vs?: number, os?: number): void {
    const p = this.attnParams(bh * lq, lq, lk, d, scale, causal, offset, heads, qs, ks, vs, os);
    const stores = [q, k, v, out, probs];
    if (dropMask) stores.push(dropMask);
    if (keyMask) stores.push(keyMask);
    const aw = attnWg(lk, d);
    this.run(`attnProbs/${+!!dropMask}${+!!keyMask}/${aw}`, () => at.attentionProbsSource(!!dropMask, !!keyMask, aw), stores, p, grid(bh * lq));
  }

  attentionBackward(dout: G, q: G, k: G, v: G, probs: G, dq: G, dk: G, dv: G, bh: number, lq: number, lk: number,
    d: number, scale: number, dropMask: G | null, heads?: number, qs?: number, ks?: number, vs?: number, os?: number): void {
    const ds = this.rt.alloc(bh * lq * lk, 'attention score gradients');
    const drop = !!dropMask;
    const p1 = this.attnParams(bh * lq, lq, lk, d, scale, false, 0, heads, qs, ks, vs, os);
    const s1 = [dout, k, v, probs, ds, dq];
    if (dropMask) s1.push(dropMask);
    const aw = attnWg(lk, d);
    this.run(`attnBwRows/${+drop}/${aw}`, () => at.attentionBackwardRowsSource(drop, aw), s1, p1, grid(bh * lq));
    const p2 = this.attnParams(bh * lk, lq, lk, d, scale, false, 0, heads, qs, ks, vs, os);
    const s2 = [dout, q, probs, ds, dk, dv];
    if (dropMask) s2.push(dropMask);
    this.run(`attnBwKeys/${+drop}/${aw}`, () => at.attentionBackwardKeysSource(drop, aw), s2, p2, grid(bh * lk));
    this.rt.release(ds);
  }

  /**
   * Flash-style attention: like attention() without probs or dropout; lse
   * (2*bh*lq values) receives each row's softmax max and sum for attentionFlashBackward.
   */
  attentionFlash(q: G, k: G, v: G, out: G, lse: G, bh: number, lq: number, lk: number, d: number, scale: number,
    causal: boolean, offset: number, keyMask: G | null,
    heads?: number, qs?: number, ks?: number, vs?: number, os?: number): void {
    const aw = attnWg(lk, d), slots = at.flashSlots(d, aw);
    const p = this.attnParams(bh * lq, lq, lk, d, scale, causal, offset, heads, qs, ks, vs, os);
    const stores = [q, k, v, out, lse];
    if (keyMask) stores.push(keyMask);
    this.run(`flashFw/${slots}/${+!!keyMask}/${aw}`, () => at.flashForwardSource(slots, !!keyMask, aw), stores, p, grid(bh * lq));
  }

  attentionFlashBackward(dout: G, q: G, k: G, v: G, out: G, lse: G, dq: G, dk: G, dv: G, bh: number, lq: number,
    lk: number, d: number, scale: number, causal: boolean, offset: number, keyMask: G | null,
    heads?: number, qs?: number, ks?: number, vs?: number, os?: number): void {
    const aw = attnWg(Math.max(lq, lk), d), slots = at.flashSlots(d, aw);
    const km = !!keyMask;
    const delta = this.rt.alloc(bh * lq, 'attention row deltas');
    const pq = this.attnParams(bh * lq, lq, lk, d, scale, causal, offset, heads, qs, ks, vs, os);
    this.run(`flashDelta/${aw}`, () => at.flashDeltaSource(aw), [dout, out, delta], pq, grid(bh * lq));
    const sq = [dout, q, k, v, lse, delta, dq];
    if (keyMask) sq.push(keyMask);
    this.run(`flashBwQ/${slots}/${+km}/${aw}`, () => at.flashBackwardQuerySource(slots, km, aw), sq, pq, grid(bh * lq));
    const pk = this.attnParams(bh * lk, lq, lk, d, scale, causal, offset, heads, qs, ks, vs, os);
    const sk = [dout, q, k, v, lse, delta, dk, dv];
    if (keyMask) sk.push(keyMask);
    this.run(`flashBwK/${slots}/${+km}/${aw}`, () => at.flashBackwardKeySource(slots, km, aw), sk, pk, grid(bh * lk));
    this.rt.release(delta);
  }

  /** out[i, :] = table[clip(ids[idsOffset + i]), :] for i < count (default: all of ids). */
  gatherRows(table: G, ids: G, out: G, rows: number, cols: number, idsOffset = 0, count = ids.length - idsOffset): void {
    const n = count * cols;
    this.flat('gatherRows', mi.gatherRowsSource, [table, ids, out], n, this.params().u32(n).u32(rows).u32(cols).u32(idsOffset));
  }

  /** out[outOffset + r] = argmax of row r of x (rows, cols), int32 (argmax's rule), for decoding into a token history. */
  argmaxRows(x: G, out: G, rows: number, cols: number, outOffset = 0): void {
    const wg = rowWg(cols);
    this.run(`argmax/${wg}`, () => rw.argmaxSource(wg), [x, out], this.params().u32(rows).u32(cols).u32(outOffset), grid(rows));
  }

  /** x (outer, n, inner) -> out (outer, inner) int32: the first index of the maximum. */
  argmax(x: G, out: G, outer: number, n: number, inner: number): void {
    if (inner === 1) { this.argmaxRows(x, out, outer, n, 0); return; }
    const total = outer * inner;
    this.flat('argmaxCols', da.argmaxColsSource, [x, out], total, this.params().u32(total).u32(n).u32(inner));
  }

  scatterAddRows(dout: G, ids: G, dtable: G, rows: number, cols: number): void {
    const n = ids.length * cols;
    this.flat('scatterAddRows', mi.scatterAddRowsSource, [dout, ids, dtable], n, this.params().u32(n).u32(rows).u32(cols));
  }

  adam(w: G, g: G, m: G, v: G, lr: number, b1: number, b2: number, eps: number, wd: number, step: number): void {
    const t = step + 1;
    const c1 = 1 - Math.pow(b1, t), c2 = 1 - Math.pow(b2, t);
    const n = w.length;
    this.flat('adam', mi.adamSource, [w, g, m, v], n,
      this.params().u32(n).f32(lr).f32(b1).f32(b2).f32(eps).f32(wd).f32(c1).f32(c2));
  }

  adafactor(w: G, g: G, vr: G | null, vc: G | null, v: G | null, m: G | null,
    batch: number, rows: number, cols: number, lr: number, decay: number, eps1: number,
    eps2: number, clipThreshold: number, multiplyByParameterScale: boolean,
    doClipping: boolean, beta1: number, wd: number): void {
    const n = w.length;
    const scratch = this.rt.alloc(2 + batch, 'adafactor scratch');
    const y = this.rt.alloc(n, 'adafactor update');
    if (multiplyByParameterScale) this.sumSquaresInto(w, scratch, 0);
    if (vr && vc) {
      this.flat('afRows', mi.adafactorRowsSource, [g, vr], batch * rows, this.params().u32(batch * rows).u32(cols).f32(decay));
      this.flat('afCols', mi.adafactorColsSource, [g, vc], batch * cols,
        this.params().u32(batch * cols).u32(rows).u32(cols).f32(decay));
      this.flat('afRowMean', mi.adafactorRowMeanSource, [vr, scratch], batch, this.params().u32(batch).u32(rows));
      this.flat('afFactY', mi.adafactorFactoredYSource, [g, vr, vc, scratch, y], n,
        this.params().u32(n).u32(rows).u32(cols).f32(eps1));
    } else if (v) {
      this.flat('afVecY', mi.adafactorVecYSource, [g, v, y], n, this.params().u32(n).f32(decay).f32(eps1));
    } else {
      throw new Error('adafactor: need either (vr, vc) or v');
    }
    if (doClipping) this.sumSquaresInto(y, scratch, 1);
    const flags = (multiplyByParameterScale ? 1 : 0) | (doClipping ? 2 : 0) | (m ? 4 : 0);
    const stores = [w, y, scratch];
    if (m) stores.push(m);
    this.flat(`afUpdate/${+!!m}`, () => mi.adafactorUpdateSource(!!m), stores, n,
      this.params().u32(n).f32(lr).f32(eps2).f32(clipThreshold).u32(flags).f32(beta1).f32(wd));
    this.rt.release(y);
    this.rt.release(scratch);
  }

  sgd(w: G, g: G, lr: number): void {
    this.flat('sgd', op.sgdSource, [w, g], w.length, this.params().u32(w.length).f32(lr));
  }

  momentum(w: G, g: G, v: G, mass: number, lr: number, wd: number, nesterov: boolean): void {
    this.flat('momentum', op.momentumSource, [w, g, v], w.length,
      this.params().u32(w.length).f32(mass).f32(lr).f32(wd).u32(nesterov ? 1 : 0));
  }

  rmsprop(w: G, g: G, avg: G, gamma: number, eps: number, lr: number): void {
    this.flat('rmsprop', op.rmspropSource, [w, g, avg], w.length, this.params().u32(w.length).f32(gamma).f32(eps).f32(lr));
  }

  roundBfloat16(x: G): void {
    this.flat('roundBf16', op.roundBfloat16Source, [x], x.length, this.params().u32(x.length));
  }

  sm3(w: G, g: G, m: G | null, v1: G, v2: G | null, dims: Int32Array, lr: number, wd: number, beta1: number,
    beta2: number, momentumType: number): void {
    const n = w.length, rank = dims.length;
    checkRank('sm3', rank);
    const graft = v2 !== null;
    const head = (): Params => {
      const p = this.params().u32(n).u32(rank);
      for (let i = 0; i < 8; i++) p.u32(i < rank ? dims[i] : 1);
      for (let i = 0, off = 0; i < 8; i++) { p.u32(off); if (i < rank) off += dims[i]; }
      return p;
    };
    const tmp = this.rt.alloc(4 * n, 'sm3 scratch'), sums = this.rt.alloc(2, 'sm3 sums');
    this.flat(`sm3a/${+graft}`, () => op.sm3PassOneSource(graft), [g, v1, v2 ?? v1, tmp], n, head().f32(beta2).u32(+graft));
    if (graft) {
      this.sumSquaresInto(tmp.view(n, n), sums, 0);
      this.sumSquaresInto(tmp.view(3 * n, n), sums, 1);
    }
    const u = [w, tmp, sums];
    if (m) u.push(m);
    this.flat(`sm3b/${+!!m}`, () => op.sm3UpdateSource(!!m), u, n,
      head().f32(lr).f32(wd).f32(beta1).u32(momentumType).u32(+graft).u32(+!!m));
    const entries = rank <= 1 ? n : dims.reduce((a, b) => a + b, 0);
    this.flat('sm3c', op.sm3AccumulatorsSource, [tmp, v1], entries, head().u32(entries).u32(0));
    if (v2) this.flat('sm3c', op.sm3AccumulatorsSource, [tmp, v2], entries, head().u32(entries).u32(2));
    this.rt.release(tmp);
    this.rt.release(sums);
  }

  dropoutMask(k0: number, k1: number, keep: number, scale: number, out: G, x?: G | null, keepMask?: G | null): void {
    const n = out.length;
    if (x && x.length !== n) throw new RangeError(`dropoutMask: x has ${x.length} values, out ${n}`);
    if (keepMask && keepMask.length !== Math.ceil(n / 4)) {
      throw new RangeError(`dropoutMask: keepMask has ${keepMask.length} words, out needs ${Math.ceil(n / 4)}`);
    }
    const quads = Math.ceil(n / 4);
    // (word >> 9) * 2^-23 < keep  <=>  (word >> 9) < ceil(keep * 2^23), exactly (keep * 2^23 is exact in doubles).
    const th = Math.min(Math.max(Math.ceil(keep * 8388608), 0), 8388608);
    const stores = [out];
    if (x) stores.push(x);
    if (keepMask) stores.push(keepMask);
    this.flat(`dropout/${+!!x}${+!!keepMask}`, () => mi.dropoutMaskSource(!!x, !!keepMask), stores, quads,
      this.params().u32(quads).u32(n).u32(k0).u32(k1).u32(th).f32(scale));
  }

  dropoutApply(keepMask: G, scale: number, x: G, out: G): void {
    const n = x.length;
    if (out.length !== n || keepMask.length !== Math.ceil(n / 4)) {
      throw new RangeError(`dropoutApply: keepMask has ${keepMask.length} words, x ${n} and out ${out.length} values`);
    }
    this.flat('dropoutApply', ew.dropoutApplySource, [keepMask, x, out], n, this.params().u32(n).f32(scale));
  }

  /** Writes the sum of squares of x into out[0] (a one-value storage). */
  sumSquares(x: G, out: G): void { this.sumSquaresInto(x, out, 0); }

  private sumSquaresInto(x: G, out: G, index: number): void {
    const groups = Math.min(256, Math.max(1, Math.ceil(x.length / 4096)));
    const part = this.rt.alloc(groups, 'partial sums');
    this.run('sumSqPart', rw.sumSquaresPartialSource, [x, part], this.params().u32(x.length).u32(groups), [groups]);
    this.run('sumPartials', rw.sumPartialsSource, [part, out], this.params().u32(groups).u32(index), [1]);
    this.rt.release(part);
  }

  permute(x: G, out: G, shape: Int32Array, perm: Int32Array): void {
    const r = shape.length;
    checkRank('permute', r);
    if (perm.length !== r) throw new RangeError(`permute: perm has ${perm.length} axes, shape ${r}`);
    const inStr: number[] = new Array(r);
    for (let i = r - 1, s = 1; i >= 0; i--) { inStr[i] = s; s *= shape[i]; }
    const n = out.length;
    const p = this.params().u32(n).u32(r);
    for (let i = 0; i < 8; i++) p.u32(i < r ? shape[perm[i]] : 1);
    for (let i = 0; i < 8; i++) p.u32(i < r ? inStr[perm[i]] : 0);
    this.flat('permute', ew.permuteSource, [x, out], n, p);
  }

  /** out[outOffset + sum(i*outStrides)] = x[xOffset + sum(i*xStrides)] over shape (4-byte words, any dtype). */
  copyStrided(x: G, out: G, shape: Int32Array, xStrides: Int32Array, xOffset: number, outStrides: Int32Array, outOffset: number): void {
    const r = shape.length;
    checkRank('copyStrided', r);
    let n = 1;
    for (const d of shape) n *= d;
    const p = this.params().u32(n).u32(r);
    for (let i = 0; i < 8; i++) p.u32(i < r ? shape[i] : 1);
    for (let i = 0; i < 8; i++) p.i32(i < r ? xStrides[i] : 0);
    for (let i = 0; i < 8; i++) p.i32(i < r ? outStrides[i] : 0);
    p.i32(xOffset).i32(outOffset);
    this.flat('copyStrided', ew.copyStridedSource, [x, out], n, p);
  }

  /** out[i] = value (an int32 value when int). */
  fill(out: G, value: number, int: boolean): void {
    const bits = int ? (value | 0) >>> 0 : new Uint32Array(new Float32Array([value]).buffer)[0];
    this.flat('fill', ew.fillSource, [out], out.length, this.params().u32(out.length).u32(bits));
  }

  /** float32 -> int32 (truncating) when toInt, else int32 -> float32. */
  cast(x: G, out: G, toInt: boolean): void {
    this.flat(`cast/${+toInt}`, () => ew.castSource(toInt), [x, out], out.length, this.params().u32(out.length));
  }

  private stridedParams(n: number, shape: Int32Array, ...strides: Int32Array[]): Params {
    const r = shape.length;
    checkRank('strided op', r);
    const p = this.params().u32(n).u32(r);
    for (let i = 0; i < 8; i++) p.u32(i < r ? shape[i] : 1);
    for (const st of strides) for (let i = 0; i < 8; i++) p.u32(i < r ? st[i] : 0);
    return p;
  }

  binaryInt(op: Binary, a: G, b: G, out: G, shape: Int32Array, aStrides: Int32Array, bStrides: Int32Array, outFloat: boolean): void {
    const n = out.length;
    this.flat(`binaryInt/${op}/${+outFloat}`, () => da.binaryIntSource(op, outFloat), [a, b, out], n,
      this.stridedParams(n, shape, aStrides, bStrides));
  }

  select(cond: G, a: G, b: G, out: G, shape: Int32Array, cStrides: Int32Array, aStrides: Int32Array, bStrides: Int32Array): void {
    const n = out.length;
    this.flat('select', da.selectSource, [cond, a, b, out], n, this.stridedParams(n, shape, cStrides, aStrides, bStrides));
  }

  gather(x: G, ids: G, out: G, outer: number, n: number, m: number, inner: number): void {
    const total = outer * m * inner;
    this.flat('gather', da.gatherSource, [x, ids, out], total, this.params().u32(total).u32(n).u32(m).u32(inner));
  }

  scatterAdd(updates: G, ids: G, out: G, outer: number, n: number, m: number, inner: number, int: boolean): void {
    const total = outer * m * inner;
    this.flat(`scatterAdd/${+int}`, () => da.scatterSource(false, int), [updates, ids, out], total,
      this.params().u32(total).u32(n).u32(m).u32(inner));
  }

  gatherAlong(x: G, ids: G, out: G, outer: number, n: number, m: number, inner: number): void {
    const total = outer * m * inner;
    this.flat('gatherAlong', da.gatherAlongSource, [x, ids, out], total, this.params().u32(total).u32(n).u32(m).u32(inner));
  }

  scatterAlong(dy: G, ids: G, out: G, outer: number, n: number, m: number, inner: number): void {
    const total = outer * m * inner;
    this.flat('scatterAlong', () => da.scatterSource(true, false), [dy, ids, out], total,
      this.params().u32(total).u32(n).u32(m).u32(inner));
  }

  cumsum(x: G, out: G, outer: number, n: number, inner: number, int: boolean): void {
    const total = outer * inner;
    this.flat(`cumsum/${+int}`, () => da.cumsumSource(int), [x, out], total, this.params().u32(total).u32(n).u32(inner));
  }

  oneHot(ids: G, out: G, count: number, depth: number): void {
    const total = count * depth;
    this.flat('oneHot', da.oneHotSource, [ids, out], total, this.params().u32(total).u32(depth));
  }

  randomUniform(k0: number, k1: number, out: G, minval: number, maxval: number): void {
    this.flat('rUniform', () => da.randomSource('uniform'), [out], out.length,
      this.params().u32(out.length).u32(k0).u32(k1).f32(minval).f32(maxval));
  }

  randomNormal(k0: number, k1: number, out: G, mean: number, stddev: number): void {
    this.flat('rNormal', () => da.randomSource('normal'), [out], out.length,
      this.params().u32(out.length).u32(k0).u32(k1).f32(mean).f32(stddev));
  }

  randomTruncatedNormal(k0: number, k1: number, out: G, lower: number, upper: number): void {
    if (out.length === 0) return;
    this.run('rTruncNormal', da.truncatedNormalSource, [out],
      this.params().u32(out.length).u32(k0).u32(k1).f32(lower).f32(upper), [1]);
  }

  randomBernoulli(k0: number, k1: number, out: G, p: number): void {
    // unit(w) < p  <=>  (w >> 9) < ceil(p * 2^23), exactly.
    const th = Math.min(Math.max(Math.ceil(p * 8388608), 0), 8388608);
    this.flat('rBernoulli', () => da.randomSource('bernoulli'), [out], out.length,
      this.params().u32(out.length).u32(k0).u32(k1).u32(th));
  }

  randomInt(k0: number, k1: number, out: G, minval: number, maxval: number): void {
    this.flat('rInt', () => da.randomSource('int'), [out], out.length,
      this.params().u32(out.length).u32(k0).u32(k1).i32(minval).u32(maxval - minval));
  }

  randomGumbel(k0: number, k1: number, out: G): void {
    this.flat('rGumbel', () => da.randomSource('gumbel'), [out], out.length, this.params().u32(out.length).u32(k0).u32(k1));
  }

  /** n raw Threefry words of key (k0, k1), as threefry.bitsFromWords. */
  randomBits(k0: number, k1: number, out: G): void {
    this.flat('randomBits', mi.randomBitsSource, [out], out.length, this.params().u32(out.length).u32(k0).u32(k1));
  }
}

/** Parses "large=128x128x8/8x8v,medium=64x64x16/4x4v" (bench:gpu, TRAX_WEBGPU_TILES; v: the vec4 variant). */
export function parseTiles(spec: string): Partial<GemmTiles> {
  const out: Partial<GemmTiles> = {};
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(large|medium|small)=(\d+)x(\d+)x(\d+)\/(\d+)x(\d+)(v?)$/.exec(part);
    if (!m) throw new Error(`webgpu tiles: cannot parse '${part}' (want e.g. large=128x128x8/8x8v; v: vec4 variant)`);
    out[m[1] as keyof GemmTiles] = { bm: +m[2], bn: +m[3], bk: +m[4], tm: +m[5], tn: +m[6], vec: m[7] === 'v' };
  }
  return out;
}
