// A TransformerLM training step and a cached greedy decoder written directly
// against the WebGPU kernels: the same layers and math as the model
// (ShiftRight, Embedding, Dropout, PositionalEncoding, pre-norm decoder blocks
// with causal attention and a ReLU feed-forward, LayerNorm, Dense, LogSoftmax,
// weighted cross-entropy, Adam), with every tensor on the device. It measures
// what the kernels and the runtime deliver on a GPU; the engine's own models
// use the same kernels through the registry.
import type { WebGpuBackend, GpuStore } from '../src/backends/webgpu/index.js';
import { Binary, Reduce } from '../src/backends/kernels.js';

export interface LMShape {
  vocab: number; d: number; ff: number; layers: number; heads: number;
  batch: number; seq: number; dropout: number;
  /**
   * 'probs' keeps the attention probabilities (and applies attention dropout, as the model
   * does); 'flash' streams keys without them and without attention dropout. Default: probs
   * when the (batch*heads, seq, seq) matrix fits one binding, else flash.
   */
  attention?: 'probs' | 'flash';
}

type G = GpuStore;

interface Param { w: G; g: G; m: G; v: G; n: number }

function uniform(n: number, lim: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; out[i] = (s / 4294967296 * 2 - 1) * lim; }
  return out;
}

function sinusoid(maxLen: number, d: number): Float32Array {
  const pe = new Float32Array(maxLen * d);
  for (let p = 0; p < maxLen; p++) {
    for (let i = 0; i < d; i += 2) {
      const div = Math.exp(i * -(Math.log(10000) / d));
      pe[p * d + i] = Math.sin(p * div);
      if (i + 1 < d) pe[p * d + i + 1] = Math.cos(p * div);
    }
  }
  return pe;
}

interface Block {
  ln1s: Param; ln1b: Param; wq: Param; bq: Param; wk: Param; bk: Param; wv: Param; bv: Param;
  wo: Param; bo: Param; ln2s: Param; ln2b: Param; w1: Param; b1: Param; w2: Param; b2: Param;
}

/** Activations of one block kept for the backward pass. */
interface Saved {
  hIn: G; mean1: G; rstd1: G; a1: G; q: G; k: G; v: G; probs: G; pmask: G | null; att: G;
  keepR1: G | null; hMid: G; mean2: G; rstd2: G; a2: G; f1d: G; keepF2: G | null;
}

export class DeviceLM {
  readonly params: Param[] = [];
  private readonly embed: Param;
  private readonly pos: Param;
  private readonly blocks: Block[] = [];
  private readonly lnfS: Param;
  private readonly lnfB: Param;
  private readonly wout: Param;
  private readonly bout: Param;
  private step = 0;
  private keyCounter = 1;
  readonly maxLen: number;

  constructor(private readonly be: WebGpuBackend, readonly s: LMShape, seed = 0) {
    const { vocab, d, ff, layers } = s;
    this.maxLen = Math.max(2048, s.seq);
    let sd = seed * 1000 + 1;
    const dense = (din: number, dout: number): [Param, Param] =>
      [this.param(uniform(din * dout, Math.sqrt(6 / (din + dout)), sd++)), this.param(new Float32Array(dout))];
    this.embed = this.param(uniform(vocab * d, Math.sqrt(3 / d), sd++));
    this.pos = this.param(sinusoid(this.maxLen, d));
    for (let l = 0; l < layers; l++) {
      const [wq, bq] = dense(d, d), [wk, bk] = dense(d, d), [wv, bv] = dense(d, d), [wo, bo] = dense(d, d);
      const [w1, b1] = dense(d, ff), [w2, b2] = dense(ff, d);
      this.blocks.push({
        ln1s: this.param(new Float32Array(d).fill(1)), ln1b: this.param(new Float32Array(d)),
        wq, bq, wk, bk, wv, bv, wo, bo,
        ln2s: this.param(new Float32Array(d).fill(1)), ln2b: this.param(new Float32Array(d)), w1, b1, w2, b2,
      });
    }
    this.lnfS = this.param(new Float32Array(d).fill(1));
    this.lnfB = this.param(new Float32Array(d));
    [this.wout, this.bout] = dense(d, vocab);
  }

  private param(init: Float32Array): Param {
    const p = { w: this.be.fromHost(init), g: this.be.alloc(init.length), m: this.be.alloc(init.length), v: this.be.alloc(init.length), n: init.length };
    this.params.push(p);
    return p;
  }

  get paramCount(): number { return this.params.reduce((a, p) => a + p.n, 0); }

  /** Which attention path the training step uses (see LMShape.attention). */
  attentionPath(): 'probs' | 'flash' {
    if (this.s.attention) return this.s.attention;
    const { batch: B, heads: H, seq: L } = this.s;
    return B * H * L * L * 4 <= this.be.maxTensorBytes ? 'probs' : 'flash';
  }

  /** Rows of the vocabulary head per chunk: logits of one chunk fit one storage binding (and 1 GiB). */
  headRows(): number {
    const BL = this.s.batch * this.s.seq;
    const cap = Math.min(this.be.maxTensorBytes, 1 << 30);
    return Math.max(1, Math.min(BL, Math.floor(cap / (4 * this.s.vocab))));
  }

  private a(n: number): G { return this.be.runtime.alloc(n); }
  private free(...xs: (G | null)[]): void { for (const x of xs) if (x) this.be.release(x); }

  private nextKey(): [number, number] { const k = this.keyCounter++; return [k * 2654435761 >>> 0, 0x5bd1e995 ^ k]; }

  /** Dropout of x in place of out (returns the packed keep mask, or null when inactive). */
  private dropout(x: G, out: G): G | null {
    const K = this.be.kernels, keep = 1 - this.s.dropout;
    if (this.s.dropout === 0) return null;
    const km = this.be.runtime.alloc(Math.ceil(x.length / 4), 'keep mask');
    const [k0, k1] = this.nextKey();
    K.dropoutMask(k0, k1, keep, 1 / keep, out, x, km);
    return km;
  }

  /**
   * One training step on shifted tokens (batch, seq) int32 on the device; targets,
   * weights and the per-row loss come in the head's row chunks (see headRows;
   * read the loss only to log it).
   */
  trainStep(tokensShifted: G, targets: G[], weights: G[], loss: G[]): void {
    const K = this.be.kernels;
    const { batch: B, seq: L, d, ff, heads: H, vocab: V } = this.s;
    const BL = B * L, hd = d / H, keep = 1 - this.s.dropout, rate = this.s.dropout;
    const shapeBLd = Int32Array.of(B, L, d);
    // Embedding, dropout, positional encoding.
    const e0 = this.a(BL * d);
    K.gatherRows(this.embed.w, tokensShifted, e0, V, d);
    const e1 = this.a(BL * d);
    const keepE = this.dropout(e0, e1) ;
    const eIn = keepE ? e1 : e0;
    let h = this.a(BL * d);
    K.binary(Binary.Add, eIn, this.pos.w, h, shapeBLd, Int32Array.of(L * d, d, 1), Int32Array.of(0, d, 1));
    this.free(e0, e1);
    const saved: Saved[] = [];
    for (const b of this.blocks) {
      const s = {} as Saved;
      s.hIn = h;
      s.mean1 = this.a(BL); s.rstd1 = this.a(BL); s.a1 = this.a(BL * d);
      K.layerNorm(h, b.ln1s.w, b.ln1b.w, s.a1, s.mean1, s.rstd1, BL, d, 1e-6);
      s.q = this.a(BL * d); s.k = this.a(BL * d); s.v = this.a(BL * d);
      K.matmul(s.a1, b.wq.w, s.q, 1, BL, d, d, false, false, 0, 0, false, b.bq.w);
      K.matmul(s.a1, b.wk.w, s.k, 1, BL, d, d, false, false, 0, 0, false, b.bk.w);
      K.matmul(s.a1, b.wv.w, s.v, 1, BL, d, d, false, false, 0, 0, false, b.bv.w);
      const flash = this.attentionPath() === 'flash';
      s.probs = this.a(flash ? 2 * B * H * L : B * H * L * L);
      s.pmask = null;
      if (rate > 0 && !flash) {
        s.pmask = this.a(B * H * L * L);
        const [k0, k1] = this.nextKey();
        K.dropoutMask(k0, k1, keep, 1 / keep, s.pmask);
      }
      s.att = this.a(BL * d);
      if (flash) K.attentionFlash(s.q, s.k, s.v, s.att, s.probs, B * H, L, L, hd, 1 / Math.sqrt(hd), true, 0, null, H, d, d, d, d);
      else K.attention(s.q, s.k, s.v, s.att, s.probs, B * H, L, L, hd, 1 / Math.sqrt(hd), true, 0, s.pmask, null, H, d, d, d, d);
      const y = this.a(BL * d);
      K.matmul(s.att, b.wo.w, y, 1, BL, d, d, false, false, 0, 0, false, b.bo.w);
      const yd = this.a(BL * d);
      s.keepR1 = this.dropout(y, yd);
      s.hMid = this.a(BL * d);
      K.binary(Binary.Add, h, s.keepR1 ? yd : y, s.hMid, Int32Array.of(BL * d), Int32Array.of(1), Int32Array.of(1));
      this.free(y, yd);
      s.mean2 = this.a(BL); s.rstd2 = this.a(BL); s.a2 = this.a(BL * d);
      K.layerNorm(s.hMid, b.ln2s.w, b.ln2b.w, s.a2, s.mean2, s.rstd2, BL, d, 1e-6);
      const f1 = this.a(BL * ff);
      K.matmul(s.a2, b.w1.w, f1, 1, BL, ff, d, false, false, 0, 0, false, b.b1.w, true);
      s.f1d = this.a(BL * ff);
      const keepF1 = this.dropout(f1, s.f1d);
      if (!keepF1) { this.free(s.f1d); s.f1d = f1; } else { this.free(f1, keepF1); }
      const f2 = this.a(BL * d);
      K.matmul(s.f1d, b.w2.w, f2, 1, BL, d, ff, false, false, 0, 0, false, b.b2.w);
      const f2d = this.a(BL * d);
      s.keepF2 = this.dropout(f2, f2d);
      h = this.a(BL * d);
      K.binary(Binary.Add, s.hMid, s.keepF2 ? f2d : f2, h, Int32Array.of(BL * d), Int32Array.of(1), Int32Array.of(1));
      this.free(f2, f2d);
      saved.push(s);
    }
    // Head: LayerNorm, Dense(vocab), log-softmax + cross-entropy, in row chunks that fit one binding;
    // each chunk's backward runs at once. Loss = sum(loss) / sum(weights) = the mean over BL rows here.
    const meanF = this.a(BL), rstdF = this.a(BL), hf = this.a(BL * d);
    K.layerNorm(h, this.lnfS.w, this.lnfB.w, hf, meanF, rstdF, BL, d, 1e-6);
    const dhf = this.a(BL * d);
    const chunk = this.headRows();
    const dbTmp = this.a(V);
    for (let r0 = 0, ci = 0; r0 < BL; r0 += chunk, ci++) {
      const rows = Math.min(chunk, BL - r0);
      const logits = this.a(rows * V), logp = this.a(rows * V);
      K.matmul(hf, this.wout.w, logits, 1, rows, V, d, false, false, 0, 0, false, this.bout.w, false, null, 1, { a: r0 * d });
      const [tg, wt, ls] = [targets, weights, loss].map((x) => (x as unknown as G[])[ci]);
      K.crossEntropy(logits, tg, wt, ls, logp, rows, V);
      const dloss = this.a(rows);
      K.fill(dloss, 1 / BL, false);
      K.crossEntropyBackward(logp, tg, wt, dloss, logits, rows, V);   // dlogits over the logits
      K.matmul(hf, logits, this.wout.g, 1, d, V, rows, true, false, 0, 0, r0 > 0, null, false, null, 1, { a: r0 * d });
      K.reduce(Reduce.Sum, logits, r0 > 0 ? dbTmp : this.bout.g, 1, rows, V);
      if (r0 > 0) K.binary(Binary.Add, this.bout.g, dbTmp, this.bout.g, Int32Array.of(V), Int32Array.of(1), Int32Array.of(1));
      K.matmul(logits, this.wout.w, dhf, 1, rows, d, V, false, true, 0, 0, false, null, false, null, 1, { c: r0 * d });
      this.free(logits, logp, dloss);
    }
    this.free(dbTmp);
    let dh = this.a(BL * d);
    K.fill(this.lnfS.g, 0, false); K.fill(this.lnfB.g, 0, false);
    K.layerNormBackward(dhf, h, this.lnfS.w, meanF, rstdF, dh, this.lnfS.g, this.lnfB.g, BL, d);
    this.free(dhf, hf, meanF, rstdF, h);
    for (let l = this.blocks.length - 1; l >= 0; l--) {
      const b = this.blocks[l], s = saved[l];
      // Feed-forward half: h = hMid + drop(f1d @ W2 + b2).
      let df2 = dh;
      if (s.keepF2) { df2 = this.a(BL * d); K.dropoutApply(s.keepF2, 1 / keep, dh, df2); }
      K.matmul(s.f1d, df2, b.w2.g, 1, ff, d, BL, true, false, 0, 0, false);
      K.reduce(Reduce.Sum, df2, b.b2.g, 1, BL, d);
      const df1 = this.a(BL * ff);
      // ReLU's and dropout's backward as the GEMM's gate epilogue (f1d > 0 exactly where both pass).
      K.matmul(df2, b.w2.w, df1, 1, BL, ff, d, false, true, 0, 0, false, null, false, s.f1d, rate > 0 ? 1 / keep : 1);
      if (df2 !== dh) this.free(df2);
      K.matmul(s.a2, df1, b.w1.g, 1, d, ff, BL, true, false, 0, 0, false);
      K.reduce(Reduce.Sum, df1, b.b1.g, 1, BL, ff);
      const da2 = this.a(BL * d);
      K.matmul(df1, b.w1.w, da2, 1, BL, d, ff, false, true, 0, 0, false);
      this.free(df1);
      const dx2 = this.a(BL * d);
      K.fill(b.ln2s.g, 0, false); K.fill(b.ln2b.g, 0, false);
      K.layerNormBackward(da2, s.hMid, b.ln2s.w, s.mean2, s.rstd2, dx2, b.ln2s.g, b.ln2b.g, BL, d);
      K.binary(Binary.Add, dh, dx2, dh, Int32Array.of(BL * d), Int32Array.of(1), Int32Array.of(1));
      this.free(da2, dx2);
      // Attention half: hMid = hIn + drop(att @ Wo + bo).
      let dy = dh;
      if (s.keepR1) { dy = this.a(BL * d); K.dropoutApply(s.keepR1, 1 / keep, dh, dy); }
      K.matmul(s.att, dy, b.wo.g, 1, d, d, BL, true, false, 0, 0, false);
      K.reduce(Reduce.Sum, dy, b.bo.g, 1, BL, d);
      const datt = this.a(BL * d);
      K.matmul(dy, b.wo.w, datt, 1, BL, d, d, false, true, 0, 0, false);
      if (dy !== dh) this.free(dy);
      const dq = this.a(BL * d), dk = this.a(BL * d), dv = this.a(BL * d);
      if (this.attentionPath() === 'flash') {
        K.attentionFlashBackward(datt, s.q, s.k, s.v, s.att, s.probs, dq, dk, dv, B * H, L, L, hd, 1 / Math.sqrt(hd), true, 0, null, H, d, d, d, d);
      } else {
        K.attentionBackward(datt, s.q, s.k, s.v, s.probs, dq, dk, dv, B * H, L, L, hd, 1 / Math.sqrt(hd), s.pmask, H, d, d, d, d);
      }
      this.free(datt);
      const da1 = this.a(BL * d);
      for (const [dz, w, bb, first] of [[dq, b.wq, b.bq, true], [dk, b.wk, b.bk, false], [dv, b.wv, b.bv, false]] as const) {
        K.matmul(s.a1, dz, w.g, 1, d, d, BL, true, false, 0, 0, false);
        K.reduce(Reduce.Sum, dz, bb.g, 1, BL, d);
        K.matmul(dz, w.w, da1, 1, BL, d, d, false, true, 0, 0, !first);
      }
      this.free(dq, dk, dv);
      const dx1 = this.a(BL * d);
      K.fill(b.ln1s.g, 0, false); K.fill(b.ln1b.g, 0, false);
      K.layerNormBackward(da1, s.hIn, b.ln1s.w, s.mean1, s.rstd1, dx1, b.ln1s.g, b.ln1b.g, BL, d);
      K.binary(Binary.Add, dh, dx1, dh, Int32Array.of(BL * d), Int32Array.of(1), Int32Array.of(1));
      this.free(da1, dx1, s.mean1, s.rstd1, s.a1, s.q, s.k, s.v, s.probs, s.pmask, s.att, s.keepR1, s.hMid,
        s.mean2, s.rstd2, s.a2, s.f1d, s.keepF2);
      if (l > 0) this.free(s.hIn);
    }
    this.free(saved[0]?.hIn ?? null);
    // Positional encoding and embedding gradients.
    K.fill(this.pos.g, 0, false);
    K.reduce(Reduce.Sum, dh, this.pos.g, 1, B, L * d);
    let de = dh;
    if (keepE) { de = this.a(BL * d); K.dropoutApply(keepE, 1 / keep, dh, de); }
    K.fill(this.embed.g, 0, false);
    K.scatterAddRows(de, tokensShifted, this.embed.g, V, d);
    this.free(keepE, dh, de === dh ? null : de);
    // Adam (lr 1e-3, b1 0.9, b2 0.99, eps 1e-8), every parameter.
    for (const p of this.params) K.adam(p.w, p.g, p.m, p.v, 1e-3, 0.9, 0.99, 1e-8, 0, this.step);
    this.step++;
  }

  /**
   * Greedy decoding with a KV cache in device memory: token t's choice (argmax on
   * the device) feeds step t+1 without a read-back; the tokens are read once at the end.
   */
  async generate(n: number): Promise<Int32Array> {
    const K = this.be.kernels;
    const { d, ff, heads: H, vocab: V } = this.s;
    const dh = d / H, T = n + 1;
    const caches = this.blocks.map(() => ({ k: this.a(T * d), v: this.a(T * d) }));
    const toks = this.be.alloc(T);   // toks[0] = 0: the shifted start
    const posIds = this.be.fromHost(Int32Array.from({ length: T }, (_, i) => i));
    const x = this.a(d), pe = this.a(d), a = this.a(d), q = this.a(d), att = this.a(d), y = this.a(d), h2 = this.a(d);
    const f1 = this.a(ff), mu = this.a(1), rs = this.a(1), lse = this.a(2), logits = this.a(V);
    const st1 = Int32Array.of(1), vec = Int32Array.of(d);
    for (let pos = 0; pos < n; pos++) {
      K.gatherRows(this.embed.w, toks, x, V, d, pos, 1);
      K.gatherRows(this.pos.w, posIds, pe, this.maxLen, d, pos, 1);
      K.binary(Binary.Add, x, pe, x, vec, st1, st1);
      for (let l = 0; l < this.blocks.length; l++) {
        const b = this.blocks[l], c = caches[l];
        K.layerNorm(x, b.ln1s.w, b.ln1b.w, a, mu, rs, 1, d, 1e-6);
        K.matmul(a, b.wq.w, q, 1, 1, d, d, false, false, 0, 0, false, b.bq.w);
        // K and V rows land in the cache at row pos (column block of a (T, d) matrix = batch offset).
        K.matmul(a, b.wk.w, c.k, 1, 1, d, d, false, false, 0, 0, false, b.bk.w, false, null, 1, { c: pos * d });
        K.matmul(a, b.wv.w, c.v, 1, 1, d, d, false, false, 0, 0, false, b.bv.w, false, null, 1, { c: pos * d });
        K.attentionFlash(q, c.k, c.v, att, lse, H, 1, pos + 1, dh, 1 / Math.sqrt(dh), false, 0, null, H, d, d, d, d);
        K.matmul(att, b.wo.w, y, 1, 1, d, d, false, false, 0, 0, false, b.bo.w);
        K.binary(Binary.Add, x, y, x, vec, st1, st1);
        K.layerNorm(x, b.ln2s.w, b.ln2b.w, a, mu, rs, 1, d, 1e-6);
        K.matmul(a, b.w1.w, f1, 1, 1, ff, d, false, false, 0, 0, false, b.b1.w, true);
        K.matmul(f1, b.w2.w, h2, 1, 1, d, ff, false, false, 0, 0, false, b.b2.w);
        K.binary(Binary.Add, x, h2, x, vec, st1, st1);
      }
      K.layerNorm(x, this.lnfS.w, this.lnfB.w, a, mu, rs, 1, d, 1e-6);
      K.matmul(a, this.wout.w, logits, 1, 1, V, d, false, false, 0, 0, false, this.bout.w);
      K.argmaxRows(logits, toks, 1, V, pos + 1);
    }
    const out = await this.be.read(toks, 'int32');
    for (const c of caches) this.free(c.k, c.v);
    this.free(toks, posIds, x, pe, a, q, att, y, h2, f1, mu, rs, lse, logits);
    return (out as Int32Array).slice(1);
  }
}
