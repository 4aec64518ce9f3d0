// Attention layers (trax/layers/attention.py): heads split/merge, causal
// dot-product attention with a predict-mode key/value cache, padding masks,
// positional encoding and ShiftRight.
import * as F from '../engine/index.js';
import { Tensor, peekScalar, readScalar } from '../engine/tensor.js';
import { assignInPlace } from '../engine/ops/shape.js';
import * as random from '../engine/random.js';
import { ShapeDtype, type Signature } from '../shapes.js';
import { Layer, EMPTY, type Mode, type State, type Value, type Weights } from './base.js';
import { Branch, FnLayer, Parallel, Select, Serial, SerialLayer, Cache } from './combinators.js';
import { Dense, isDenseWeights } from './core.js';

function sigs(sig: Signature, n: number): ShapeDtype[] {
  const arr = (n === 1 ? [sig] : sig) as ShapeDtype[];
  return arr;
}

/** (B, L, D) -> (B*H, L, D/H). */
export function splitHeads(x: Tensor, nHeads: number): Tensor {
  return F.splitHeads(x, nHeads);
}

/** (B*H, L, Dh) -> (B, L, H*Dh). */
export function mergeHeads(x: Tensor, nHeads: number): Tensor {
  return F.mergeHeads(x, nHeads);
}

export function SplitIntoHeads(nHeads: number): Layer {
  return new FnLayer('SplitIntoHeads', (x: Tensor) => splitHeads(x, nHeads), 1);
}
export function MergeHeads(nHeads: number): Layer {
  return new FnLayer('MergeHeads', (x: Tensor) => mergeHeads(x, nHeads), 1);
}

function dropMask(rng: random.PRNGKey, rate: number, shape: number[]): Tensor {
  return random.dropoutMask(rng, 1 - rate, shape);
}

/**
 * Causal attention core on (q, k, v) of shape (B*H, L, Dh). In predict mode
 * the state is [K cache, V cache, index] with caches (B*H, maxLen, Dh); each
 * call appends its chunk and attends causally inside it (Trax master's mask,
 * not v1.3.4's bidirectional first chunk).
 */
export class DotProductCausalAttentionLayer extends Layer {
  /** The last attention probabilities when mode is 'viz'. */
  lastProbs: Tensor | null = null;
  constructor(readonly dropout: number, readonly maxInferenceLength: number, readonly mode: Mode) {
    if (!(dropout >= 0 && dropout < 1)) throw new RangeError(`DotProductCausalAttention: dropout must be in [0, 1), got ${dropout}`);
    super({ nIn: 3, nOut: 1, name: 'DotProductCausalAttention' });
  }

  override forward(xs: Value): Value {
    const [q, k, v] = xs as Tensor[];
    if (this.mode === 'predict') return this.predictStep(q, k, v);
    const [bh, lq] = q.shape;
    const useDrop = this.mode === 'train' && this.dropout > 0;
    const probsOut = this.mode === 'viz' ? {} as { probs?: Tensor } : undefined;
    const out = F.dotProductAttention(q, k, v, {
      causal: true, offset: 0,
      dropMask: useDrop ? dropMask(this.rng, this.dropout, [bh, lq, k.shape[1]]) : null,
      probsOut,
    });
    if (probsOut) this.lastProbs = probsOut.probs ?? null;
    return out;
  }

  private predictStep(q: Tensor, k: Tensor, v: Tensor): Tensor {
    const [kBuf, vBuf, idxT] = this.state as Tensor[];
    const [bh, l, dh] = k.shape;
    const maxLen = kBuf.shape[1];
    const idx = readScalar(idxT, 'predict-mode attention (its cache position)');
    if (kBuf.shape[0] !== bh || kBuf.shape[2] !== dh) {
      throw new Error(`predict-mode cache holds [${kBuf.shape}] but the chunk is [${k.shape}]: re-initialize the model with the batch size you decode with`);
    }
    if (idx + l > maxLen) {
      throw new Error(`predict-mode attention cache is full: ${idx} + ${l} positions exceed maxInferenceLength ${maxLen}`);
    }
    // Append in place: the cache tensors are owned by this layer's state.
    assignInPlace(kBuf, k, [0, idx, 0]);
    assignInPlace(vBuf, v, [0, idx, 0]);
    const n = idx + l;
    const kk = n === maxLen ? kBuf : F.sliceAxis(kBuf, 1, 0, n);
    const vv = n === maxLen ? vBuf : F.sliceAxis(vBuf, 1, 0, n);
    const out = F.dotProductAttention(q, kk, vv, { causal: true, offset: idx });
    this.state = [kBuf, vBuf, F.scalar(idx + l, 'int32')];
    return out;
  }

  override initWeightsAndState(sig: Signature): void {
    this._weights = EMPTY;
    if (this.mode === 'predict') {
      const [, k] = sigs(sig, 3);
      const [bh, , dh] = k.shape;
      const maxLen = this.maxInferenceLength;
      this._state = [F.zeros([bh, maxLen, dh]), F.zeros([bh, maxLen, dh]), F.scalar(0, 'int32')];
    } else {
      this._state = EMPTY;
    }
  }
}

export function DotProductCausalAttention(opts: { dropout?: number; maxInferenceLength?: number; mode?: Mode } = {}): DotProductCausalAttentionLayer {
  return new DotProductCausalAttentionLayer(opts.dropout ?? 0, opts.maxInferenceLength ?? 2048, opts.mode ?? 'train');
}

export interface AttentionOptions { nHeads?: number; dropout?: number; maxInferenceLength?: number; mode?: Mode }

/**
 * CausalAttention(dFeature, {nHeads, dropout, mode}):
 * Serial(Branch([Dense, SplitIntoHeads] x 3), DotProductCausalAttention, MergeHeads, Dense).
 */
export function CausalAttention(dFeature: number, opts: AttentionOptions = {}): Layer {
  const nHeads = opts.nHeads ?? 1;
  if (dFeature % nHeads !== 0) throw new Error(`CausalAttention: dFeature ${dFeature} is not divisible by nHeads ${nHeads}`);
  return new CausalAttentionLayer(dFeature, nHeads, opts);
}

/**
 * Trax's CausalAttention Serial, layer for layer (same tree, weights, state
 * and printout). In train and eval mode its first three sublayers run as one
 * fused op (F.causalSelfAttention): one GEMM for q, k and v and attention read
 * in place, with the dropout mask drawn from the same key the attention
 * sublayer would use, so results match the layer-by-layer path.
 */
class CausalAttentionLayer extends SerialLayer {
  private readonly attention: DotProductCausalAttentionLayer;
  constructor(dFeature: number, private readonly nHeads: number, opts: AttentionOptions) {
    const proj = () => [Dense(dFeature), SplitIntoHeads(nHeads)];
    const attention = DotProductCausalAttention({ dropout: opts.dropout, maxInferenceLength: opts.maxInferenceLength, mode: opts.mode });
    super([Branch(proj(), proj(), proj()), attention, MergeHeads(nHeads), Dense(dFeature)]);
    this.attention = attention;
  }

  override forward(xs: Value): Value {
    const mode = this.attention.mode;
    const x = xs as Tensor;
    const proj = (mode === 'train' || mode === 'eval') && x instanceof Tensor && x.rank === 3 && x.dtype === 'float32'
      ? projectionWeights(this.weights) : null;
    if (!proj) return super.forward(xs);
    const subs = this.sublayers;
    const state = this.state as State[];
    const rngs = random.split(this.rng, subs.length);
    const [b, l] = x.shape;
    const rate = this.attention.dropout;
    const mask = mode === 'train' && rate > 0 ? dropMask(rngs[1], rate, [b * this.nHeads, l, l]) : null;
    const y = F.causalSelfAttention(x, ...proj, this.nHeads, mask);
    const [out, s3] = subs[3].pureFn(y, (this.weights as Weights[])[3], state[3], rngs[3], true);
    this.setPureState([state[0], state[1], state[2], s3]);
    return out;
  }
}

// [Wq, bq, Wk, bk, Wv, bv] from the weights of Serial(Branch([Dense, Split] x 3), ...),
// or null when they are not plain tensors (e.g. shared-weight markers).
function projectionWeights(w: Weights): [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor] | null {
  const branch = Array.isArray(w) ? w[0] : null;
  const par = Array.isArray(branch) ? branch[1] : null;
  if (!Array.isArray(par) || par.length !== 3) return null;
  const out: Tensor[] = [];
  for (const p of par) {
    const dense = Array.isArray(p) ? p[0] : null;
    if (!isDenseWeights(dense)) return null;
    out.push(dense[0], dense[1]);
  }
  return out as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
}

/**
 * Attention core with a padding mask: (q, k, v, mask) -> (out, mask), where
 * mask is (B, 1, 1, Lk) of 0/1 (PaddingMask) or (B, 1, Lq, Lk).
 */
export class DotProductAttentionLayer extends Layer {
  lastProbs: Tensor | null = null;
  constructor(readonly dropout: number, readonly mode: Mode) {
    super({ nIn: 4, nOut: 2, name: 'DotProductAttention' });
  }
  override forward(xs: Value): Value {
    const [q, k, v, mask] = xs as Tensor[];
    const bh = q.shape[0], lk = k.shape[1], lq = q.shape[1];
    const b = mask.shape[0];
    if (bh % b !== 0) throw new Error(`attention mask batch ${b} does not divide ${bh} (batch x heads)`);
    const h = bh / b;
    // Masks are (B, 1, 1, Lk) (PaddingMask) or (B, 1, Lq, Lk) (EncoderDecoderMask).
    const perQuery = mask.size === b * lq * lk && lq > 1;
    if (mask.size !== b * lk && !perQuery) {
      throw new Error(`attention mask must be (batch, 1, 1, ${lk}) or (batch, 1, ${lq}, ${lk}), got [${mask.shape}]`);
    }
    // (B, rows, Lk) of 0/1: one row per query for a per-query mask.
    const m3 = F.notEqual(F.reshape(mask, [b, perQuery ? lq : 1, lk]), 0);
    // Key mask for query row r: each batch row's mask repeated for its heads.
    const keyMaskFor = (r: number): Tensor =>
      F.reshape(F.broadcastTo(F.sliceAxis(m3, 1, r, r + 1), [b, h, lk]), [bh, lk]);
    // A (B, 1, Lq, Lk) mask whose rows agree (the usual broadcast padding
    // mask) is one key mask; otherwise each query row is attended separately
    // (also when the check's result is on a device: correct, only slower).
    let uniform = true;
    if (perQuery) {
      const differs = F.sum(F.notEqual(m3, F.sliceAxis(m3, 1, 0, 1)));
      uniform = peekScalar(differs) === 0;
    }
    const useDrop = this.mode === 'train' && this.dropout > 0;
    const probsOut = this.mode === 'viz' ? {} as { probs?: Tensor } : undefined;
    const drop = useDrop ? dropMask(this.rng, this.dropout, [bh, lq, lk]) : null;
    let out: Tensor;
    if (uniform) {
      out = F.dotProductAttention(q, k, v, { keyMask: keyMaskFor(0), dropMask: drop, probsOut });
    } else {
      const outs: Tensor[] = [], probs: Tensor[] = [];
      for (let r = 0; r < lq; r++) {
        const po = probsOut ? {} as { probs?: Tensor } : undefined;
        outs.push(F.dotProductAttention(F.sliceAxis(q, 1, r, r + 1), k, v, {
          keyMask: keyMaskFor(r), dropMask: drop ? F.sliceAxis(drop, 1, r, r + 1) : null, probsOut: po,
        }));
        if (po?.probs) probs.push(po.probs);
      }
      out = F.concat(outs, 1);
      if (probsOut) probsOut.probs = F.concat(probs, 1);
    }
    if (probsOut) this.lastProbs = probsOut.probs ?? null;
    return [out, mask];
  }
}

export function DotProductAttention(opts: { dropout?: number; mode?: Mode } = {}): DotProductAttentionLayer {
  return new DotProductAttentionLayer(opts.dropout ?? 0, opts.mode ?? 'train');
}

/**
 * AttentionQKV(dFeature, {nHeads, dropout, mode, cacheKVInPredict}):
 * (q, k, v, mask) -> (activations, mask).
 */
export function AttentionQKV(dFeature: number, opts: AttentionOptions & { cacheKVInPredict?: boolean } = {}): Layer {
  const nHeads = opts.nHeads ?? 1;
  const mode = opts.mode ?? 'train';
  let kProc: Layer = Dense(dFeature), vProc: Layer = Dense(dFeature);
  if (opts.cacheKVInPredict && mode === 'predict') { kProc = Cache(kProc); vProc = Cache(vProc); }
  return Serial(
    Parallel([Dense(dFeature), SplitIntoHeads(nHeads)], [kProc, SplitIntoHeads(nHeads)], [vProc, SplitIntoHeads(nHeads)]),
    DotProductAttention({ dropout: opts.dropout, mode }),
    MergeHeads(nHeads),
    Dense(dFeature),
  );
}

/** Attention(dFeature, opts): self-attention with a mask, (x, mask) -> (y, mask). */
export function Attention(dFeature: number, opts: AttentionOptions = {}): Layer {
  return Serial(Select([0, 0, 0]), AttentionQKV(dFeature, opts));
}

/** PaddingMask(pad = 0): tokens (B, L) -> (B, 1, 1, L) mask of tokens != pad. */
export function PaddingMask(pad = 0): Layer {
  return new FnLayer(`PaddingMask(${pad})`, (x: Tensor) => {
    const m = F.notEqual(x, pad);
    return F.reshape(m, [x.shape[0], 1, 1, x.shape[x.rank - 1]]);
  }, 1);
}

/** ShiftRight(nPositions = 1, mode): pads zeros on the left of axis 1; identity in predict. */
export function ShiftRight(nPositions = 1, opts: { mode?: Mode } = {}): Layer {
  const mode = opts.mode ?? 'train';
  return new FnLayer(`ShiftRight(${nPositions})`, (x: Tensor) => {
    if (mode === 'predict') return x;
    const pads = x.shape.map((_, i) => (i === 1 ? [nPositions, 0] : [0, 0]) as [number, number]);
    const padded = F.pad(x, pads);
    return F.sliceAxis(padded, 1, 0, x.shape[1]);
  }, 1);
}

/** The sinusoidal table of Trax's PositionalEncoding, (maxLen, d). */
export function sinusoidalTable(maxLen: number, d: number): Tensor {
  const pe = new Float32Array(maxLen * d);
  for (let pos = 0; pos < maxLen; pos++) {
    for (let i = 0; i < d; i += 2) {
      const div = Math.exp(i * -(Math.log(10000) / d));
      pe[pos * d + i] = Math.sin(pos * div);
      if (i + 1 < d) pe[pos * d + i + 1] = Math.cos(pos * div);
    }
  }
  return new Tensor(pe, [maxLen, d]);
}

export class PositionalEncodingLayer extends Layer {
  constructor(readonly maxLen: number, readonly dropout: number, readonly dropoutBroadcastDims: number[], readonly mode: Mode) {
    super({ name: 'PositionalEncoding' });
  }

  override forward(x: Value): Value {
    const xt = x as Tensor;
    let table = this.weights as Tensor;
    // Old checkpoints store the table as (1, maxLen, d).
    if (table.rank === 3) table = F.reshape(table, table.shape.slice(1));
    const l = xt.shape[1];
    if (this.mode === 'predict') {
      const pos = readScalar(this.state as Tensor, 'PositionalEncoding (its predict-mode position)');
      if (pos + l > table.shape[0]) {
        throw new Error(`PositionalEncoding: position ${pos} + ${l} exceeds maxLen ${table.shape[0]}`);
      }
      this.state = F.scalar(pos + l, 'int32');
      return F.add(xt, F.sliceAxis(table, 0, pos, pos + l));
    }
    if (l > table.shape[0]) throw new Error(`PositionalEncoding: sequence length ${l} exceeds maxLen ${table.shape[0]}`);
    let pe = F.sliceAxis(table, 0, 0, l);
    if (this.mode === 'train' && this.dropout > 0) {
      const shape = [1, ...pe.shape];
      for (const dim of this.dropoutBroadcastDims) shape[dim < 0 ? dim + shape.length : dim] = 1;
      pe = F.mul(F.reshape(pe, [1, ...pe.shape]), dropMask(this.rng, this.dropout, shape));
    }
    return F.add(xt, pe);
  }

  override initWeightsAndState(sig: Signature): void {
    const s = sig as ShapeDtype;
    const d = s.shape[s.shape.length - 1];
    this._weights = sinusoidalTable(this.maxLen, d);
    this._state = this.mode === 'predict' ? F.scalar(0, 'int32') : EMPTY;
  }
}

/** PositionalEncoding({maxLen, dropout, dropoutBroadcastDims, mode}): x + PE[pos], PE trainable. */
export function PositionalEncoding(opts: { maxLen?: number; dropout?: number; dropoutBroadcastDims?: number[]; mode?: Mode } = {}): PositionalEncodingLayer {
  return new PositionalEncodingLayer(opts.maxLen ?? 2048, opts.dropout ?? 0, opts.dropoutBroadcastDims ?? [-2], opts.mode ?? 'train');
}
