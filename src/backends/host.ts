// Host storage shared by the CPU backends (js and native): typed arrays,
// with a pool of released float buffers. A training step allocates hundreds
// of intermediates whose lifetime is exactly the step; without reuse their
// allocation and garbage collection cost more than the arithmetic of a
// small model.
import type { Backend, DType, HostArray, Storage } from './backend.js';

const pool = new Map<number, Float32Array[]>();
let pooledFloats = 0;
// An upper bound on what the pool may hold (1 GiB of floats); in practice it
// holds one training step's intermediates, replaced after every step.
const MAX_POOLED_FLOATS = 256 * 1024 * 1024;

function allocF32(n: number, zero: boolean, pooled: boolean): Float32Array {
  if (!pooled) return new Float32Array(n);
  const b = pool.get(n)?.pop();
  if (b === undefined) return new Float32Array(n);
  pooledFloats -= n;
  if (zero) b.fill(0);
  return b;
}

/** The storage half of a CPU backend; the kernels are added by js.ts and native.ts. */
export const hostStorage: Omit<Backend, 'name' | 'kernels' | 'threads' | 'setThreads'> = {
  onHost: true,
  family: 'host',

  alloc(dtype: DType, size: number, zero: boolean, pooled: boolean): Storage {
    return dtype === 'float32' ? allocF32(size, zero, pooled) : new Int32Array(size);
  },

  allocBytes(size: number, pooled: boolean): Storage {
    // A float buffer viewed as bytes, so it pools with the step's other buffers.
    const f = allocF32(Math.ceil(size / 4), false, pooled);
    return new Uint8Array(f.buffer, f.byteOffset, size);
  },

  fromHost(values: HostArray): Storage { return values; },

  async read(storage: Storage, _dtype: DType, size: number): Promise<HostArray> {
    return (storage as HostArray).slice(0, size);
  },

  readSync(storage: Storage, _dtype: DType, size: number): HostArray {
    return (storage as HostArray).slice(0, size);
  },

  subview(storage: Storage, offset: number, size: number): Storage {
    return (storage as Float32Array).subarray(offset, offset + size);
  },

  release(storage: Storage): void {
    let b = storage as Float32Array | Int32Array | Uint8Array;
    if (b instanceof Uint8Array) {
      if (b.byteOffset !== 0 || b.buffer.byteLength % 4 !== 0) return;
      b = new Float32Array(b.buffer);
    }
    if (!(b instanceof Float32Array) || b.byteOffset !== 0 || b.length * 4 !== b.buffer.byteLength) return;
    if (pooledFloats + b.length > MAX_POOLED_FLOATS) return;
    let list = pool.get(b.length);
    if (!list) pool.set(b.length, list = []);
    list.push(b);
    pooledFloats += b.length;
  },

  trimPool(): void {
    pool.clear();
    pooledFloats = 0;
  },
};

/** Buffers held by the host pool (for memory()). */
export function hostPooledBuffers(): number {
  let n = 0;
  for (const l of pool.values()) n += l.length;
  return n;
}
