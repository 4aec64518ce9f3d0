// Decoding (trax/supervised/decoding.py): sampling token by token from a
// predict-mode model, whose key/value caches make each new token one step,
// or from an eval-mode model re-run on the growing sequence.
import type { Layer, State, Weights } from '../layers/base.js';
import { jit, type JitFunction } from '../engine/jit.js';
import { backend } from '../backends/index.js';
import * as F from '../engine/index.js';
import * as random from '../engine/random.js';
import { Tensor, peekScalar, toTensor, type TensorLike } from '../engine/tensor.js';
import { disposeReplaced, withBufferScope } from '../engine/pool.js';
import { clone } from '../engine/ops/shape.js';

export interface SampleOptions {
  batchSize?: number;
  /** 0 is greedy; otherwise argmax(logp + temperature * Gumbel). */
  temperature?: number;
  startId?: number;
  /** Kept for Trax compatibility; models here always run directly. */
  accelerate?: boolean;
  /** Re-run an eval-mode model on the whole sequence instead of using caches. */
  evalMode?: boolean;
  evalMinLength?: number;
  /** Keep only the k most likely tokens before sampling. */
  topK?: number;
  /** Nucleus sampling: keep the smallest set of tokens with probability >= topP. */
  topP?: number;
  /** Seed (or key) for sampling; Trax uses numpy's global RNG. */
  seed?: number | random.PRNGKey;
  /**
   * Replay the predict-mode step through fastmath.jit (default true): one
   * recorded kernel sequence per cache position, traced on the second and
   * third decodes that reach it and replayed from the fourth.
   */
  jit?: boolean;
}

function asIntInputs(inputs: TensorLike | null | undefined, batchSize: number): Tensor | null {
  if (inputs === null || inputs === undefined) return null;
  let t = toTensor(inputs, 'autoregressiveSample', 'int32');
  if (t.dtype !== 'int32') t = F.cast(t, 'int32');
  if (t.rank === 1) t = F.reshape(t, [1, t.shape[0]]);
  if (t.rank !== 2) throw new Error(`autoregressiveSample: inputs must be (batch, length) token ids, got shape [${t.shape}]`);
  if (t.shape[0] !== batchSize) {
    throw new Error(`autoregressiveSample: inputs have batch size ${t.shape[0]} but batchSize is ${batchSize}`);
  }
  return t;
}

function keyFrom(seed: number | random.PRNGKey | undefined): random.PRNGKey {
  if (seed === undefined) return random.key(Math.floor(Math.random() * 2 ** 31));
  if (seed instanceof Uint32Array) return seed;
  return random.key(seed);
}

/** Samples one id per row from log-probs (B, V). */
export async function logSoftmaxSample(logp: Tensor, temperature: number, rng: random.PRNGKey | null,
  opts: { topK?: number; topP?: number } = {}): Promise<Int32Array> {
  const [b, v] = logp.shape;
  if (!(temperature >= 0)) throw new RangeError(`temperature must be >= 0, got ${temperature}`);
  const lp = await logp.data();
  const out = new Int32Array(b);
  let noise: Float32Array | null = null;
  if (temperature > 0) {
    const g = random.gumbel(rng ?? random.key(0), [b, v]);
    noise = await g.data() as Float32Array;
    g.dispose();
  }
  for (let r = 0; r < b; r++) {
    const row = lp.subarray(r * v, (r + 1) * v);
    let allowed: Uint8Array | null = null;
    if ((opts.topK !== undefined && opts.topK > 0 && opts.topK < v) || (opts.topP !== undefined && opts.topP < 1)) {
      allowed = new Uint8Array(v);
      const order = Array.from(row.keys()).sort((a, c) => row[c] - row[a]);
      const k = opts.topK && opts.topK > 0 ? Math.min(opts.topK, v) : v;
      let mass = 0;
      const lse = Math.max(...row);
      let total = 0;
      for (let j = 0; j < v; j++) total += Math.exp(row[j] - lse);
      for (let j = 0; j < k; j++) {
        allowed[order[j]] = 1;
        mass += Math.exp(row[order[j]] - lse) / total;
        if (opts.topP !== undefined && mass >= opts.topP) break;
      }
    }
    let best = -1, bestV = -Infinity;
    for (let j = 0; j < v; j++) {
      if (allowed && !allowed[j]) continue;
      const s = row[j] + (noise ? temperature * noise[r * v + j] : 0);
      if (s > bestV) { bestV = s; best = j; }
    }
    out[r] = best < 0 ? 0 : best;
  }
  return out;
}

function lastLogProbs(logits: Tensor, index?: number): Tensor {
  const [b, l, v] = logits.shape;
  const i = index ?? l - 1;
  return F.logSoftmax(F.reshape(F.sliceAxis(logits, 1, i, i + 1), [b, v]));
}

/**
 * Runs one decoding step in a buffer scope: only its log-probs and the
 * model's new state outlive it, so memory stays flat however long decoding
 * runs. State tensors of earlier steps that the new state no longer holds
 * are handed back (the caller's own state, `saved`, never is).
 */
class StepRunner {
  private previous: unknown = null;
  constructor(private readonly model: Layer, private readonly saved: unknown) {}
  run(fn: () => Tensor): Tensor {
    const logp = withBufferScope(fn, (r) => [r, this.model.state]);
    const current = this.model.state;
    disposeReplaced(this.previous, current, this.saved);
    this.previous = current;
    return logp;
  }
  /** Hands back the state the steps made (after the caller's state is restored). */
  finish(): void {
    disposeReplaced(this.previous, null, this.saved);
    this.previous = null;
  }
}

function modelOutput(out: unknown): Tensor {
  const t = Array.isArray(out) ? out[0] : out;
  if (!(t instanceof Tensor) || t.rank !== 3) {
    throw new Error('decoding: the model must output (batch, length, vocab) log-probs or logits');
  }
  return t;
}

type DecodeStep = JitFunction<[Tensor, Weights, State, string], [Tensor, State]>;
const decodeSteps = new WeakMap<Layer, DecodeStep>();

/** The predict-mode model's step (tokens -> last log-probs, new state) through fastmath.jit. */
function decodeStep(model: Layer): DecodeStep {
  let f = decodeSteps.get(model);
  if (!f) {
    const pure = (cur: Tensor, weights: Weights, state: State, _positions: string): [Tensor, State] => {
      const [out, s] = model.pureFn(cur, weights, state, null);
      return [lastLogProbs(modelOutput(out)), s];
    };
    f = jit(pure, { name: 'the decode step', maxPlanBytes: 512 * 1024 * 1024, traceAfter: 1, onUntraceable: (e) => { if (process.env.TRAX_JIT_DEBUG) console.error(e.message); } });
    decodeSteps.set(model, f);
  }
  return f;
}

/** The predict-mode counters in a state (cache positions), as a signature tag. */
function positionsOf(state: unknown): string {
  const out: number[] = [];
  const walk = (s: unknown): void => {
    if (s instanceof Tensor) { if (s.dtype === 'int32' && s.size === 1) out.push(peekScalar(s) ?? NaN); return; }
    if (Array.isArray(s)) for (const x of s) walk(x);
  };
  walk(state);
  return out.join(',');
}

/**
 * Forgets the outputs held by Cache layers (the encoder of an encoder-decoder
 * model in predict mode, and its cross-attention K/V). The cached value is
 * kept on the layer rather than in its state, and init's shape inference runs
 * the model once on zeros, so decoding must clear it before a new input and
 * after restoring the state.
 */
export function resetCaches(model: Layer): void {
  const walk = (l: Layer): void => {
    const r = (l as Layer & { reset?: unknown }).reset;
    if (l.name === 'Cache' && typeof r === 'function') r.call(l);
    for (const s of l.sublayers) walk(s);
  };
  walk(model);
}

/**
 * Yields one (B,) Int32Array of samples per step, forever (stop when you like).
 * A predict-mode model's cache advances as it goes; its state is restored
 * when the iterator finishes, so the next call starts from the same prompt state.
 */
export async function* autoregressiveSampleStream(model: Layer, inputs?: TensorLike | null,
  opts: SampleOptions = {}): AsyncGenerator<Int32Array, void, unknown> {
  const batchSize = opts.batchSize ?? (inputs && !(inputs instanceof Tensor) && Array.isArray(inputs) ? (inputs as unknown[]).length : 1);
  const temperature = opts.temperature ?? 1.0;
  const startId = opts.startId ?? 0;
  // Made in a scope: on a device backend its uploads are handed back at the
  // end (the caller's own tensor never is).
  const x = withBufferScope(() => asIntInputs(inputs, batchSize));
  let rng = keyFrom(opts.seed);
  const start = F.full([batchSize, 1], startId, 'int32');
  const savedState = model.state;
  const encDec = model.nIn > 1;
  if (encDec && x === null) throw new Error('autoregressiveSample: an encoder-decoder model needs inputs');
  resetCaches(model);
  const steps = new StepRunner(model, savedState);
  try {
    if (opts.evalMode) {
      // Eval-mode models shift right themselves: feed the sequence so far plus a slot.
      const seq: Int32Array[] = [];
      const xs = x && !encDec ? await x.data() : null;
      for (let r = 0; r < batchSize; r++) seq.push(xs ? Int32Array.from(xs.subarray(r * x!.shape[1], (r + 1) * x!.shape[1])) : new Int32Array(0));
      for (;;) {
        const len = seq[0].length;
        const padded = new Int32Array(batchSize * (len + 1));
        seq.forEach((s, r) => padded.set(s, r * (len + 1)));
        const logp = steps.run(() => {
          const cur = new Tensor(padded, [batchSize, len + 1], 'int32');
          return lastLogProbs(modelOutput(encDec ? model.apply([x!, cur]) : model.apply(cur)), len);
        });
        const [k1, k2] = random.split(rng);
        rng = k1;
        const sample = await logSoftmaxSample(logp, temperature, k2, opts);
        logp.dispose();
        for (let r = 0; r < batchSize; r++) {
          const next = new Int32Array(len + 1);
          next.set(seq[r]); next[len] = sample[r];
          seq[r] = next;
        }
        yield sample;
      }
    }
    // The previous step's samples: uploaded inside the next step's scope.
    let last: Int32Array | null = null;
    const step = encDec || opts.jit === false || !backend().onHost ? null : decodeStep(model);
    for (;;) {
      const prev = last;
      const logp = steps.run(() => {
        const c = prev ? new Tensor(prev, [batchSize, 1], 'int32') : x && !encDec ? F.concat([start, x], 1) : start;
        if (step) {
          // One recorded kernel sequence per cache position (the positions are
          // in the signature): a decode done once is never traced.
          const [lp, s] = step(c, model.weights, model.state, positionsOf(model.state));
          model.state = s;
          return lp;
        }
        return lastLogProbs(modelOutput(encDec ? model.apply([x!, c]) : model.apply(c)));
      });
      const [k1, k2] = random.split(rng);
      rng = k1;
      const sample = await logSoftmaxSample(logp, temperature, k2, opts);
      logp.dispose();
      yield sample;
      last = sample;
    }
  } finally {
    model.state = savedState as State;
    steps.finish();
    start.dispose();
    disposeReplaced(x, inputs);
    resetCaches(model);
  }
}

/**
 * Samples up to maxLength tokens per row; stops early only when every row
 * has produced eosId (which is included), as Trax does. Returns (B, n) int32.
 */
export async function autoregressiveSample(model: Layer, inputs?: TensorLike | null,
  opts: SampleOptions & { eosId?: number; maxLength?: number } = {}): Promise<Tensor> {
  const maxLength = opts.maxLength ?? 100;
  const eosId = opts.eosId ?? 1;
  if (!Number.isInteger(maxLength) || maxLength < 0) throw new RangeError(`maxLength must be a non-negative integer, got ${maxLength}`);
  const rows: number[][] = [];
  let b = 0;
  const done: boolean[] = [];
  const minLen = opts.evalMode ? (opts.evalMinLength ?? 1) : 0;
  if (maxLength > 0) {
    const stream = autoregressiveSampleStream(model, inputs, opts);
    for await (const s of stream) {
      if (b === 0) { b = s.length; for (let r = 0; r < b; r++) { rows.push([]); done.push(false); } }
      for (let r = 0; r < b; r++) {
        rows[r].push(s[r]);
        if (s[r] === eosId && rows[r].length >= minLen) done[r] = true;
      }
      if (rows[0].length >= maxLength || done.every(Boolean)) break;
    }
  }
  const n = rows[0]?.length ?? 0;
  const flat = new Int32Array(Math.max(b, 1) * n);
  rows.forEach((row, r) => flat.set(row, r * n));
  return new Tensor(flat, [Math.max(b, 1), n], 'int32');
}

function cloneState(s: unknown): unknown {
  if (s instanceof Tensor) return clone(s);
  if (Array.isArray(s)) return s.map(cloneState);
  return s;
}

export interface BeamSearchOptions {
  nBeams?: number;
  maxLength?: number;
  startId?: number;
  /** Beams that emit eosId stop growing (Trax accepts but ignores eos). */
  eosId?: number;
  /** Finished beams of different lengths compare by score / length^lengthPenalty. */
  lengthPenalty?: number;
  batchSize?: number;
}

/**
 * Beam search for batch size 1 with a predict-mode model. Returns the
 * nBeams best [tokens (1, len), score] pairs, best first; score is the sum
 * of token log-probabilities.
 */
export async function beamSearch(model: Layer, inputs?: TensorLike | null,
  opts: BeamSearchOptions = {}): Promise<[Tensor, number][]> {
  const nBeams = opts.nBeams ?? 2, maxLength = opts.maxLength ?? 100, startId = opts.startId ?? 0;
  const lp = opts.lengthPenalty ?? 1.0;
  if ((opts.batchSize ?? 1) !== 1) throw new Error('beamSearch supports batch size 1 only');
  if (!Number.isInteger(nBeams) || nBeams < 1) throw new RangeError(`nBeams must be a positive integer, got ${nBeams}`);
  const x = asIntInputs(inputs, 1);
  const encDec = model.nIn > 1;
  const savedState = model.state;
  type Beam = { state: unknown; seq: number[]; score: number; done: boolean };
  let beams: Beam[] = [{ state: cloneState(savedState), seq: [], score: 0, done: false }];
  const start = F.full([1, 1], startId, 'int32');
  resetCaches(model);
  try {
    for (let step = 0; step < maxLength; step++) {
      const cand: Beam[] = [];
      for (const beam of beams) {
        if (beam.done) { cand.push(beam); continue; }
        model.state = beam.state as State;
        let cur: Tensor;
        if (beam.seq.length === 0) cur = x && !encDec ? F.concat([start, x], 1) : start;
        else cur = new Tensor(Int32Array.of(beam.seq[beam.seq.length - 1]), [1, 1], 'int32');
        const out = encDec ? model.apply([x!, cur]) : model.apply(cur);
        const logp = await lastLogProbs(modelOutput(out)).data();
        const newState = model.state;
        const order = Array.from(logp.keys()).sort((a, b) => logp[b] - logp[a]).slice(0, nBeams);
        order.forEach((tok, i) => {
          cand.push({
            state: i === order.length - 1 ? newState : cloneState(newState),
            seq: [...beam.seq, tok], score: beam.score + logp[tok],
            done: opts.eosId !== undefined && tok === opts.eosId,
          });
        });
      }
      const rank = (b: Beam) => (b.done ? b.score / Math.pow(b.seq.length, lp) : b.score);
      cand.sort((a, b) => rank(b) - rank(a));
      beams = cand.slice(0, nBeams);
      if (beams.every((b) => b.done)) break;
    }
  } finally {
    model.state = savedState as State;
    resetCaches(model);
  }
  return beams.map((b) => [new Tensor(Int32Array.from(b.seq), [1, b.seq.length], 'int32'), b.score]);
}
