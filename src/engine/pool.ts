// Buffer reuse for training steps. Inside `withBufferScope`, float buffers
// come from a pool and go back to it when the scope ends: a training step
// allocates hundreds of intermediates whose lifetime is exactly the step, and
// without reuse their allocation and garbage collection cost more than the
// arithmetic of a small model.
import { Tensor } from './tensor.js';

const pool = new Map<number, Float32Array[]>();
let active: Float32Array[] | null = null;
let pooledFloats = 0;
/** Called with every buffer handed out while set (jit tracing notes where buffers are made). */
export const allocWatch: { hook: ((b: Float32Array) => void) | null } = { hook: null };
// An upper bound on what the pool may hold (1 GiB of floats); in practice it
// holds one training step's intermediates, replaced after every step.
const MAX_POOLED_FLOATS = 256 * 1024 * 1024;

/** True while fastmath.jit traces a function. */
export function tracing(): boolean { return allocWatch.hook !== null; }

/** A zero-filled float32 buffer; pooled inside a buffer scope. */
export function allocF32(n: number): Float32Array {
  if (allocWatch.hook !== null) { const b = allocF32Inner(n); allocWatch.hook(b); return b; }
  return allocF32Inner(n);
}

function allocF32Inner(n: number): Float32Array {
  if (active === null) return new Float32Array(n);
  const list = pool.get(n);
  let b = list?.pop();
  if (b) { pooledFloats -= n; b.fill(0); } else b = new Float32Array(n);
  active.push(b);
  return b;
}

/** Like allocF32 but not zeroed: for outputs a kernel overwrites entirely. */
export function allocF32Raw(n: number): Float32Array {
  if (allocWatch.hook !== null) { const b = allocF32RawInner(n); allocWatch.hook(b); return b; }
  return allocF32RawInner(n);
}

function allocF32RawInner(n: number): Float32Array {
  if (active === null) return new Float32Array(n);
  const list = pool.get(n);
  let b = list?.pop();
  if (b) pooledFloats -= n; else b = new Float32Array(n);
  active.push(b);
  return b;
}

function collectBuffers(tree: unknown, into: Set<unknown>): void {
  if (tree instanceof Tensor) { into.add(tree.buf); return; }
  if (Array.isArray(tree)) { for (const t of tree) collectBuffers(t, into); return; }
  if (tree && typeof tree === 'object' && Object.getPrototypeOf(tree) === Object.prototype) {
    for (const v of Object.values(tree)) collectBuffers(v, into);
  }
}

/**
 * Runs fn with pooled buffers. Every float buffer allocated by ops inside is
 * recycled when fn returns, except those of the tensors in `keep(result)`:
 * nothing else made inside may be used afterwards.
 */
export function withBufferScope<T>(fn: () => T, keep: (result: T) => unknown = (r) => r): T {
  const outer = active;
  const mine: Float32Array[] = [];
  active = mine;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    active = outer;
    throw e;
  }
  active = outer;
  const kept = new Set<unknown>();
  collectBuffers(keep(result), kept);
  if (outer) {
    for (const b of mine) outer.push(b);
    return result;
  }
  // The pool keeps what this step freed (the next step of the same model
  // reuses exactly that) and drops what earlier steps left unused.
  pool.clear();
  pooledFloats = 0;
  for (const b of mine) {
    if (kept.has(b)) continue;
    if (pooledFloats + b.length > MAX_POOLED_FLOATS) continue;
    let list = pool.get(b.length);
    if (!list) pool.set(b.length, list = []);
    list.push(b);
    pooledFloats += b.length;
  }
  return result;
}

/** Drops every pooled buffer (they are then garbage collected). */
export function clearBufferPool(): void {
  pool.clear();
  pooledFloats = 0;
}
