// A backend owns tensor storage and runs kernels on it. The CPU backends
// (js, native) keep storage in host typed arrays; a device backend keeps it
// in device buffers and moves values to the host only through `read`.
import type { Kernels } from './kernels.js';

export type DType = 'float32' | 'int32';
export type HostArray = Float32Array | Int32Array;

/** A backend-owned handle to a tensor's values (a typed array on CPU backends). */
export type Storage = object;

export interface Backend {
  /** 'js', 'native', 'webgpu', ... */
  readonly name: string;
  /** True when storage is host memory: sync reads (dataSync, item) are allowed. */
  readonly onHost: boolean;
  /**
   * Backends of one family share storage: a tensor made on one can be used
   * on another without a copy (the CPU backends are both 'host').
   */
  readonly family: string;
  /**
   * Storage for `size` elements of dtype, zero-filled unless zero is false
   * (then the kernel that fills it overwrites every element). `pooled`
   * allocations may reuse released storage.
   */
  alloc(dtype: DType, size: number, zero: boolean, pooled: boolean): Storage;
  /** Storage for a byte mask of `size` entries (dropout keep-masks), pooled like alloc. */
  allocBytes(size: number, pooled: boolean): Storage;
  /**
   * Storage holding these values (an upload). Host backends adopt the array
   * itself: the caller hands it over and must not write to it afterwards.
   */
  fromHost(values: HostArray): Storage;
  /** A copy of the values on the host (a download). */
  read(storage: Storage, dtype: DType, size: number): Promise<HostArray>;
  /** The same, synchronously; only where onHost (else undefined). */
  readSync?(storage: Storage, dtype: DType, size: number): HostArray;
  /**
   * A storage that aliases `size` elements of storage from element offset
   * (column blocks of one buffer that fused kernels read in place).
   */
  subview(storage: Storage, offset: number, size: number): Storage;
  /** Gives storage back (to a pool, or frees device memory). */
  release(storage: Storage): void;
  /** Drops pooled storage that is not in use. */
  trimPool(): void;
  /** Threads the backend's kernels may use (1 where it does not apply). */
  threads(): number;
  setThreads(n: number): void;
  /** The kernels, one implementation per declaration in src/engine/registry.ts. */
  readonly kernels: Kernels;
  /**
   * The dtype a device storage was made with (alloc, fromHost), so ops may
   * wrap storage without naming it, as typed arrays name themselves on the host.
   */
  dtypeOf?(storage: Storage): DType | undefined;
  /** Extra facts for backendInfo() (instruction set, adapter, ...). */
  info?(): Record<string, unknown>;
  /**
   * Runs a traced kernel plan (fastmath.jit's replays) in one call, where the
   * backend can: src/engine/plan.ts serialises the plan for it. Without it, a
   * plan is replayed by a loop over the kernels.
   */
  readonly planExecutor?: PlanExecutorApi;
}

/** A backend's executor for serialised plans (see src/engine/plan.ts for the format). */
export interface PlanExecutorApi {
  /** The kernels it runs itself; a plan's other kernels run between its calls. */
  readonly kernels: readonly string[];
  create(code: Int32Array, lits: Float64Array, meta: Int32Array, bufs: (Uint8Array | null)[], nInputs: number, nScalars: number): object;
  run(plan: object, inputs: ArrayBufferView[], scalars: Float64Array): void;
}
