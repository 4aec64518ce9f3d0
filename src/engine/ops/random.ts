// Counter-based, splittable random numbers (Threefry-2x32, 20 rounds, the
// generator JAX uses). Keys are host values (two 32-bit words); the numbers
// are drawn by the active backend's random kernels, which all give the same
// numbers for the same key.
import { allocStorage, allocF32Raw } from '../pool.js';
import { Tensor, shapeSize, fromStorage } from '../tensor.js';
import { bitsFromWords, threefryPair } from '../threefry.js';
import { K } from './util.js';

/** A PRNG key: two 32-bit words. */
export type PRNGKey = Uint32Array;

/** Set while fastmath.jit traces: it follows keys derived from the traced function's key inputs. */
export const keyWatch: {
  hook: null | { split(parent: PRNGKey, n: number, out: PRNGKey[]): void; foldIn(parent: PRNGKey, data: number, out: PRNGKey): void };
} = { hook: null };

/** Threefry-2x32 of (x0, x1) under key (k0, k1); writes both words into out[o], out[o+1]. */
export function threefry2x32(k0: number, k1: number, x0: number, x1: number, out: Uint32Array, o: number): void {
  threefryPair(k0, k1, x0, x1, out, o);
}

function checkKey(key: PRNGKey, op: string): void {
  if (!(key instanceof Uint32Array) || key.length !== 2) {
    throw new TypeError(`${op}: expected a PRNG key (Uint32Array of 2 words from random.key(seed)), got ${key === null ? 'null' : typeof key}`);
  }
}

/** Makes a key from an integer seed (like jax.random.PRNGKey). */
export function key(seed: number): PRNGKey {
  if (typeof seed !== 'number' || !Number.isFinite(seed)) {
    throw new TypeError(`random.key: seed must be a finite integer, got ${typeof seed === 'number' ? seed : `${typeof seed} ${JSON.stringify(seed)}`}`);
  }
  if (!Number.isInteger(seed)) throw new TypeError(`random.key: seed must be an integer, got ${seed}`);
  const hi = Math.floor(seed / 4294967296) >>> 0;
  return new Uint32Array([hi, seed >>> 0]);
}

/** Splits a key into n independent keys. */
export function split(k: PRNGKey, n = 2): PRNGKey[] {
  checkKey(k, 'random.split');
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`random.split: n must be a non-negative integer, got ${n}`);
  // Same layout as jax.random.split: threefry over iota(2n), reshaped (n, 2).
  const flat = bits(k, 2 * n);
  const out: PRNGKey[] = [];
  for (let i = 0; i < n; i++) out.push(new Uint32Array([flat[2 * i], flat[2 * i + 1]]));
  if (keyWatch.hook) keyWatch.hook.split(k, n, out);
  return out;
}

/** Derives a key from k and an integer (like jax.random.fold_in). */
export function foldIn(k: PRNGKey, data: number): PRNGKey {
  checkKey(k, 'random.foldIn');
  if (typeof data !== 'number' || !Number.isInteger(data)) throw new TypeError(`random.foldIn: data must be an integer, got ${String(data)}`);
  const out = new Uint32Array(2);
  threefry2x32(k[0], k[1], 0, data >>> 0, out, 0);
  if (keyWatch.hook) keyWatch.hook.foldIn(k, data, out);
  return out;
}

/** n raw 32-bit words from key k (threefry over counters, JAX's layout), on the host. */
export function bits(k: PRNGKey, n: number): Uint32Array {
  checkKey(k, 'random.bits');
  return bitsFromWords(k[0], k[1], n);
}

function checkShape(shape: readonly number[], op: string): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new TypeError(`${op}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
}

function floats(k: PRNGKey, shape: readonly number[], op: string): Float32Array {
  checkKey(k, op);
  checkShape(shape, op);
  return allocStorage('float32', shapeSize(shape), false) as Float32Array;
}

export function uniform(k: PRNGKey, shape: readonly number[], minval = 0, maxval = 1): Tensor {
  const out = floats(k, shape, 'random.uniform');
  K().randomUniform(k[0], k[1], out, minval, maxval);
  return fromStorage(out, shape, 'float32');
}

/** Standard normal samples (Box-Muller on pairs of uniforms). */
export function normal(k: PRNGKey, shape: readonly number[], mean = 0, stddev = 1): Tensor {
  const out = floats(k, shape, 'random.normal');
  K().randomNormal(k[0], k[1], out, mean, stddev);
  return fromStorage(out, shape, 'float32');
}

/** Truncated standard normal in [lower, upper] by rejection. */
export function truncatedNormal(k: PRNGKey, shape: readonly number[], lower = -2, upper = 2): Tensor {
  const out = floats(k, shape, 'random.truncatedNormal');
  K().randomTruncatedNormal(k[0], k[1], out, lower, upper);
  return fromStorage(out, shape, 'float32');
}

/** 1.0 with probability p, else 0.0 (float32). */
export function bernoulli(k: PRNGKey, p: number, shape: readonly number[]): Tensor {
  if (typeof p !== 'number' || Number.isNaN(p) || p < 0 || p > 1) {
    throw new RangeError(`random.bernoulli: p must be in [0, 1], got ${p}`);
  }
  const out = floats(k, shape, 'random.bernoulli');
  K().randomBernoulli(k[0], k[1], out, p);
  return fromStorage(out, shape, 'float32');
}

/** Uniform integers in [minval, maxval). */
export function randint(k: PRNGKey, shape: readonly number[], minval: number, maxval: number): Tensor {
  checkKey(k, 'random.randint');
  checkShape(shape, 'random.randint');
  if (!(maxval > minval)) throw new RangeError(`random.randint: need maxval > minval, got [${minval}, ${maxval})`);
  const out = allocStorage('int32', shapeSize(shape), false) as Int32Array;
  K().randomInt(k[0], k[1], out, minval, maxval);
  return fromStorage(out, shape, 'int32');
}

/** Gumbel noise -log(-log(u)), u in [1e-6, 1-1e-6] as Trax's logsoftmax_sample draws it. */
export function gumbel(k: PRNGKey, shape: readonly number[]): Tensor {
  const out = floats(k, shape, 'random.uniform');
  K().randomGumbel(k[0], k[1], out);
  return fromStorage(out, shape, 'float32');
}

/**
 * Inverted-dropout mask: 1/keep with probability keep, else 0 (float32).
 * Same numbers as bernoulli(k, keep, shape) / keep, made by the active
 * backend's kernel (it is on every training step's hot path).
 */
export function dropoutMask(k: PRNGKey, keep: number, shape: readonly number[]): Tensor {
  checkKey(k, 'random.dropoutMask');
  if (typeof keep !== 'number' || !(keep > 0 && keep <= 1)) throw new RangeError(`random.dropoutMask: keep must be in (0, 1], got ${keep}`);
  checkShape(shape, 'random.dropoutMask');
  const out = allocF32Raw(shapeSize(shape));
  K().dropoutMask(k[0], k[1], keep, 1 / keep, out);
  return fromStorage(out, shape, 'float32');
}
