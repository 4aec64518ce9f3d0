// Storage lifetime: scopes, dispose and the live-buffer count.
// Inside a scope (withBufferScope, or its public name tidy) every storage an
// op allocates is recorded, and handed back to its backend when the scope
// ends, except those of the tensors the scope returns. A training step
// allocates hundreds of intermediates whose lifetime is exactly the step:
// the CPU backends pool them for the next step, a device backend frees them.
import type { Backend, HostArray, Storage } from '../backends/backend.js';
import { backend as activeBackend } from '../backends/index.js';
import { hostPooledBuffers } from '../backends/host.js';
import { Tensor } from './tensor.js';

interface Scope { backend: Backend; storages: Storage[] }

let active: Scope | null = null;

/** Called with every storage handed out while set (jit tracing notes where buffers are made). */
export const allocWatch: { hook: ((s: Storage) => void) | null } = { hook: null };

/** True while fastmath.jit traces a function. */
export function tracing(): boolean { return allocWatch.hook !== null; }
// Storages allocated through the engine and not yet handed back: those that
// open scopes hold, plus, on a device backend, those outside any scope. On
// the CPU backends storage outside scopes belongs to the garbage collector,
// so it is neither counted nor tracked (that keeps eager ops cheap).
let live = 0;
// Device storage that no scope holds (made outside any scope, or returned
// by one): dispose() hands it back.
const owned = new WeakSet<Storage>();

function track(s: Storage, b: Backend): void {
  if (active !== null) { live++; active.storages.push(s); }
  else if (!b.onHost) { live++; owned.add(s); }
}

/** A zero-filled storage (pooled inside a scope). */
export function allocStorage(dtype: 'float32' | 'int32', n: number, zero = true): Storage {
  const b = activeBackend();
  const s = b.alloc(dtype, n, zero, active !== null);
  track(s, b);
  if (allocWatch.hook !== null) allocWatch.hook(s);
  return s;
}

/** A zero-filled float32 storage, typed for the kernel calls. */
export function allocF32(n: number): Float32Array {
  return allocStorage('float32', n, true) as Float32Array;
}

/** Like allocF32 but not zeroed: for outputs a kernel overwrites entirely. */
export function allocF32Raw(n: number): Float32Array {
  return allocStorage('float32', n, false) as Float32Array;
}

/** A zero-filled int32 storage. */
export function allocI32(n: number): Int32Array {
  return allocStorage('int32', n, true) as Int32Array;
}

/** A byte-mask storage (dropout keep-masks). */
export function allocBytes(n: number): Uint8Array {
  const b = activeBackend();
  const s = b.allocBytes(n, active !== null);
  track(s, b);
  if (allocWatch.hook !== null) allocWatch.hook(s);
  return s as Uint8Array;
}

/**
 * Storage holding host values. The CPU backends adopt the array (no copy,
 * nothing to release: the garbage collector owns it); a device backend
 * uploads it into storage counted and scoped like any other.
 */
export function upload(values: HostArray, b: Backend = activeBackend()): Storage {
  if (b.onHost) return values;
  const s = b.fromHost(values);
  track(s, b);
  return s;
}

/**
 * Hands a tensor's storage back (Tensor.dispose). Storage that a scope holds
 * is handed back when the scope ends instead.
 */
export function releaseStorage(s: Storage, b: Backend): void {
  if (!owned.delete(s)) return;
  live--;
  b.release(s);
}

function drop(s: Storage, b: Backend): void {
  live--;
  if (!b.onHost) b.release(s);
}

function collectStorages(tree: unknown, into: Set<unknown>): void {
  if (tree instanceof Tensor) { into.add(tree.storage); return; }
  if (Array.isArray(tree)) { for (const t of tree) collectStorages(t, into); return; }
  if (tree && typeof tree === 'object' && Object.getPrototypeOf(tree) === Object.prototype) {
    for (const v of Object.values(tree)) collectStorages(v, into);
  }
}

/**
 * Runs fn in a scope. Every storage allocated by ops inside is handed back
 * when fn returns, except those of the tensors in `keep(result)`: nothing
 * else made inside may be used afterwards.
 */
export function withBufferScope<T>(fn: () => T, keep: (result: T) => unknown = (r) => r): T {
  const outer = active;
  const mine: Scope = { backend: activeBackend(), storages: [] };
  active = mine;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    active = outer;
    if (outer) for (const s of mine.storages) outer.storages.push(s);
    else for (const s of mine.storages) drop(s, mine.backend);
    throw e;
  }
  active = outer;
  if (outer) {
    for (const s of mine.storages) outer.storages.push(s);
    return result;
  }
  const kept = new Set<unknown>();
  collectStorages(keep(result), kept);
  // The pool keeps what this scope freed (the next step of the same model
  // reuses exactly that) and drops what earlier steps left unused.
  const b = mine.backend;
  b.trimPool();
  for (const s of mine.storages) {
    live--;
    if (kept.has(s)) {
      // Kept storage leaves the count on the CPU backends (the garbage
      // collector owns it now); a device backend's stays until disposed.
      if (!b.onHost) { owned.add(s); live++; }
      continue;
    }
    b.release(s);
  }
  return result;
}

/**
 * Runs fn and hands back every storage its ops allocated, except those of
 * the tensors it returns (any nesting of arrays and plain objects): scoped
 * memory for training steps, decoding loops and device backends.
 */
export function tidy<T>(fn: () => T): T {
  return withBufferScope(fn);
}

/**
 * Disposes the tensors of `previous` whose storage neither `current` nor
 * `keep` holds: for state that a loop replaces step by step (a decoder's
 * caches), so storage of earlier steps does not pile up. Trees are any
 * nesting of arrays and plain objects.
 */
export function disposeReplaced(previous: unknown, current: unknown, keep: unknown = null): void {
  // On the CPU backends there is nothing to hand back (see releaseStorage).
  if (activeBackend().onHost) return;
  const held = new Set<unknown>();
  collectStorages(current, held);
  collectStorages(keep, held);
  const seen = new Set<unknown>();
  const walk = (t: unknown): void => {
    if (t instanceof Tensor) {
      if (!held.has(t.storage) && !seen.has(t.storage)) { seen.add(t.storage); t.dispose(); }
      return;
    }
    if (Array.isArray(t)) { for (const x of t) walk(x); return; }
    if (t && typeof t === 'object' && Object.getPrototypeOf(t) === Object.prototype) for (const v of Object.values(t)) walk(v);
  };
  walk(previous);
}

/** Drops every pooled buffer (they are then garbage collected). */
export function clearBufferPool(): void {
  activeBackend().trimPool();
}

/** Memory accounting for tests and leak hunting. */
export interface MemoryInfo {
  /**
   * Storages allocated by ops and not yet handed back by a scope or
   * dispose(). On the CPU backends only storage that open scopes hold is
   * counted: the garbage collector owns the rest.
   */
  liveBuffers: number;
  /** Released buffers the CPU backends keep for reuse. */
  pooledBuffers: number;
  /** Whether a scope is open. */
  inScope: boolean;
}

export function memory(): MemoryInfo {
  return { liveBuffers: live, pooledBuffers: activeBackend().onHost ? hostPooledBuffers() : 0, inScope: active !== null };
}
