// Optimizer updates on tensors, in place: each writes the new values into
// the storage of the weight and slot tensors it is given, through the
// backend's optimizer kernels. The optimizers (src/optimizers) decide which
// tensors they may overwrite (fresh copies unless inPlace).
import { allocF32 } from '../pool.js';
import { Tensor, fromStorage } from '../tensor.js';
import { K, f32 } from './util.js';
import { cast } from './elementwise.js';
import { clone } from './shape.js';

function checkF32(op: string, ...ts: (Tensor | null)[]): void {
  for (const t of ts) if (t && t.dtype !== 'float32') throw new TypeError(`${op}: expected float32 tensors, got ${t.dtype}`);
}

export { clone };
const ONE = Int32Array.of(1);

/** sum(t^2) as a 1-element float32 tensor (float64 accumulation). */
export function sumSquares(t: Tensor): Tensor {
  const out = allocF32(1);
  K().sumSquares(f32(t.dtype === 'float32' ? t : cast(t, 'float32')), out);
  return fromStorage(out, [], 'float32');
}

export function sgdUpdate(w: Tensor, g: Tensor, lr: number): void {
  checkF32('sgd', w, g);
  K().sgd(f32(w), f32(g), lr);
}

export function momentumUpdate(w: Tensor, g: Tensor, v: Tensor, mass: number, lr: number, wd: number, nesterov: boolean): void {
  checkF32('momentum', w, g, v);
  K().momentum(f32(w), f32(g), f32(v), mass, lr, wd, nesterov);
}

export function rmspropUpdate(w: Tensor, g: Tensor, avg: Tensor, gamma: number, eps: number, lr: number): void {
  checkF32('rmsprop', w, g, avg);
  K().rmsprop(f32(w), f32(g), f32(avg), gamma, eps, lr);
}

export function adamUpdate(w: Tensor, g: Tensor, m: Tensor, v: Tensor, lr: number, b1: number, b2: number, eps: number,
  wd: number, step: number): void {
  checkF32('adam', w, g, m, v);
  K().adam(f32(w), f32(g), f32(m), f32(v), lr, b1, b2, eps, wd, step);
}

export function adafactorUpdate(w: Tensor, g: Tensor, vr: Tensor | null, vc: Tensor | null, v: Tensor | null, m: Tensor | null,
  batch: number, rows: number, cols: number, lr: number, decay: number, eps1: number, eps2: number, clipThreshold: number,
  multiplyByParameterScale: boolean, doClipping: boolean, beta1: number, wd: number): void {
  checkF32('adafactor', w, g, vr, vc, v, m);
  const s = (t: Tensor | null) => (t ? f32(t) : null);
  K().adafactor(f32(w), f32(g), s(vr), s(vc), s(v), s(m), batch, rows, cols, lr, decay, eps1, eps2, clipThreshold,
    multiplyByParameterScale, doClipping, beta1, wd);
}

/** Rounds t's values to bfloat16 precision in place. */
export function roundBfloat16InPlace(t: Tensor): void {
  checkF32('roundBfloat16', t);
  K().roundBfloat16(f32(t));
}

const SM3_MOMENTUM = { ema: 0, heavy_ball: 1, nesterov: 2 } as const;

/**
 * SM3 update: v1s (and v2s when grafting) are the per-dimension
 * accumulators, one tensor per axis of w (one 0-d tensor for a scalar).
 */
export function sm3Update(w: Tensor, g: Tensor, m: Tensor | null, v1s: Tensor[], v2s: Tensor[] | null, lr: number, wd: number,
  beta1: number, beta2: number, momentumType: keyof typeof SM3_MOMENTUM): void {
  checkF32('sm3', w, g, m, ...v1s, ...(v2s ?? []));
  const dims = w.shape.length === 0 ? [1] : w.shape;
  const total = dims.reduce((a, d) => a + d, 0);
  // The kernel takes each set of accumulators as one buffer.
  const pack = (vs: Tensor[]): Float32Array => {
    const cat = allocF32(total);
    let off = 0;
    for (const v of vs) { if (v.size) K().copyStrided(f32(v), cat, Int32Array.of(v.size), ONE, 0, ONE, off); off += v.size; }
    return cat;
  };
  const unpack = (cat: Float32Array, vs: Tensor[]): void => {
    let off = 0;
    for (const v of vs) { if (v.size) K().copyStrided(cat, f32(v), Int32Array.of(v.size), ONE, off, ONE, 0); off += v.size; }
  };
  const c1 = pack(v1s), c2 = v2s ? pack(v2s) : null;
  K().sm3(f32(w), f32(g), m ? f32(m) : null, c1, c2, Int32Array.from(dims), lr, wd, beta1, beta2, SM3_MOMENTUM[momentumType]);
  unpack(c1, v1s);
  if (c2 && v2s) unpack(c2, v2s);
}
