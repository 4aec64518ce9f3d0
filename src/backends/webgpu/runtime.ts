/// <reference types="@webgpu/types" />
// The WebGPU runtime: pooled device buffers, cached pipelines and bind groups,
// and one command encoder that collects every kernel until something must be
// read back (or a batch fills up). Uploads and read-backs are the only host
// traffic, and both are counted (stats(); TRAX_WEBGPU_DEBUG=1 logs each).
import type { OpenedDevice } from './device.js';

let nextStoreId = 1;

/**
 * Device storage of a tensor: `length` 4-byte words (float32, int32, or four
 * mask bytes per word). The buffer may be larger (pooled size classes).
 */
export class GpuStore {
  readonly id = nextStoreId++;
  /** Batch number when released (pool reuse by uploads waits for a later batch). */
  releasedIn = -1;
  released = false;
  /** What the engine made it for (Backend.dtypeOf). */
  dtype: 'float32' | 'int32' | 'bytes' = 'float32';
  /**
   * offset: first word of a view into another storage's buffer (Backend.subview);
   * views are never pooled, their base is.
   */
  constructor(readonly buffer: GPUBuffer, readonly length: number, readonly capacity: number,
    readonly offset = 0, readonly isView = false) {}
  get bytes(): number { return this.length * 4; }
  view(offset: number, length: number): GpuStore {
    if (offset < 0 || offset + length > this.length) {
      throw new RangeError(`webgpu subview: [${offset}, ${offset + length}) is outside a storage of ${this.length} values`);
    }
    const v = new GpuStore(this.buffer, length, this.capacity, this.offset + offset, true);
    v.dtype = this.dtype;
    return v;
  }
}

export interface RuntimeStats {
  uploads: number; uploadBytes: number; reads: number; readBytes: number;
  dispatches: number; submits: number; pipelines: number; bindGroups: number;
  buffersCreated: number; liveBuffers: number; pooledBuffers: number; liveBytes: number;
}

/** Kernel parameters: up to 64 32-bit words in one uniform slot. */
export class Params {
  readonly u = new Uint32Array(64);
  private readonly f = new Float32Array(this.u.buffer);
  private readonly i = new Int32Array(this.u.buffer);
  n = 0;
  constructor() { this.u[62] = 0x7fc00000; this.u[63] = 0x7f800000; }
  u32(v: number): this { if (this.n >= 62) throw new RangeError('webgpu: too many kernel parameters'); this.u[this.n++] = v >>> 0; return this; }
  i32(v: number): this { this.i[this.n++] = v | 0; return this; }
  f32(v: number): this { this.f[this.n++] = v; return this; }
  reset(): this { this.n = 0; return this; }
}

/** WGSL prelude every kernel shares: the parameter block and its accessors. */
export const PRELUDE = /* wgsl */`
struct Params { v: array<vec4<u32>, 16> };
@group(0) @binding(0) var<uniform> P: Params;
fn pu(i: u32) -> u32 { return P.v[i >> 2u][i & 3u]; }
fn pi(i: u32) -> i32 { return bitcast<i32>(pu(i)); }
fn pf(i: u32) -> f32 { return bitcast<f32>(pu(i)); }
// Infinity and NaN come from the parameter block: WGSL rejects them as constants.
fn INF() -> f32 { return bitcast<f32>(P.v[15][3]); }
fn NAN() -> f32 { return bitcast<f32>(P.v[15][2]); }
// NaN tests on the bits: compilers may assume x == x for floats.
fn isNan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
`;

const SLOT = 256;            // uniform offset alignment on every adapter
const RING_SLOTS = 2048;     // kernels per submitted batch at most

/** Pool size classes: 256-byte steps up to 64 KiB, then eighths of a power of two. */
function sizeClass(bytes: number): number {
  const b = Math.max(bytes, 16);
  if (b <= 65536) return Math.ceil(b / 256) * 256;
  const step = 2 ** (Math.floor(Math.log2(b)) - 3);
  return Math.ceil(b / step) * step;
}

export class Runtime {
  readonly device: GPUDevice;
  readonly maxBinding: number;
  readonly maxBuffer: number;
  readonly subgroups: boolean;
  readonly debug: boolean;
  private readonly pool = new Map<number, GpuStore[]>();
  private readonly pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  private bindGroups = new Map<string, GPUBindGroup>();
  private readonly ring: GPUBuffer;
  private readonly ringHost = new Uint32Array(RING_SLOTS * SLOT / 4);
  private slot = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private batch = 0;
  private readonly readBuffers: GPUBuffer[] = [];
  private live = 0;
  private liveBytes = 0;
  private readonly counts = {
    uploads: 0, uploadBytes: 0, reads: 0, readBytes: 0, dispatches: 0, submits: 0,
    pipelines: 0, bindGroups: 0, buffersCreated: 0,
  };

  constructor(readonly opened: OpenedDevice) {
    this.device = opened.device;
    this.maxBinding = this.device.limits.maxStorageBufferBindingSize;
    this.maxBuffer = this.device.limits.maxBufferSize;
    this.subgroups = opened.report.subgroups;
    this.debug = typeof process !== 'undefined' && process.env?.TRAX_WEBGPU_DEBUG === '1';
    this.ring = this.device.createBuffer({ size: RING_SLOTS * SLOT, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  }

  stats(): RuntimeStats {
    let pooled = 0;
    for (const l of this.pool.values()) pooled += l.length;
    return { ...this.counts, liveBuffers: this.live, pooledBuffers: pooled, liveBytes: this.liveBytes };
  }

  /** Storage for `length` 4-byte words, contents undefined (kernels overwrite it). */
  alloc(length: number, what = 'tensor', fresh = false): GpuStore {
    const bytes = Math.max(length, 1) * 4;
    if (bytes > this.maxBinding) {
      throw new RangeError(`webgpu backend: a ${what} of ${length} values (${bytes} bytes) exceeds this adapter's ` +
        `maxStorageBufferBindingSize of ${this.maxBinding} bytes; use smaller batches or another backend`);
    }
    const cap = Math.min(sizeClass(bytes), Math.max(bytes, Math.floor(this.maxBinding / 4) * 4));
    const list = this.pool.get(cap);
    const reuse = fresh ? undefined : list?.pop();
    this.live++;
    this.liveBytes += cap;
    if (reuse) return new GpuStore(reuse.buffer, length, cap);
    this.counts.buffersCreated++;
    const buffer = this.device.createBuffer({
      size: cap, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    return new GpuStore(buffer, length, cap);
  }

  /** Returns storage to the pool; its buffer may serve the next allocation at once (queue order keeps it safe). */
  release(s: GpuStore): void {
    if (s.released || s.isView) return;
    s.released = true;
    s.releasedIn = this.batch;
    this.live--;
    this.liveBytes -= s.capacity;
    let list = this.pool.get(s.capacity);
    if (!list) this.pool.set(s.capacity, list = []);
    list.push(s);
  }

  /** Frees pooled buffers (not the live ones). */
  trim(): void {
    this.flush();
    for (const list of this.pool.values()) for (const s of list) s.buffer.destroy();
    this.pool.clear();
    this.bindGroups.clear();
  }

  /** Upload host words (an explicit, counted transfer). */
  upload(data: Float32Array | Int32Array | Uint32Array | Uint8Array, what = 'tensor'): GpuStore {
    const words = Math.ceil(data.byteLength / 4);
    // A pooled buffer released in the current batch may still be read by encoded kernels;
    // queue.writeBuffer would run before them, so take a fresh buffer then.
    const bytes = Math.max(words, 1) * 4;
    const cap = sizeClass(bytes);
    const list = this.pool.get(cap);
    let store: GpuStore;
    const idx = list ? list.findIndex((s) => s.releasedIn < this.batch) : -1;
    if (list && idx >= 0 && cap <= this.maxBinding) {
      const old = list.splice(idx, 1)[0];
      store = new GpuStore(old.buffer, words, cap);
      this.live++;
      this.liveBytes += cap;
    } else {
      store = this.alloc(words, what, true);
    }
    this.counts.uploads++;
    this.counts.uploadBytes += data.byteLength;
    if (this.debug) console.error(`[webgpu] upload ${what}: ${data.byteLength} bytes`);
    if (data.byteLength % 4 === 0) {
      this.device.queue.writeBuffer(store.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    } else {
      const padded = new Uint8Array(words * 4);
      padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      this.device.queue.writeBuffer(store.buffer, 0, padded);
    }
    return store;
  }

  /** Reads `bytes` bytes of storage back to the host (flushes pending work; counted). */
  async read(s: GpuStore, bytes = s.bytes, what = 'tensor'): Promise<ArrayBuffer> {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    let staging = this.readBuffers.findIndex((b) => b.size >= size);
    const buf = staging >= 0 ? this.readBuffers.splice(staging, 1)[0]
      : this.device.createBuffer({ size: sizeClass(size), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.endPass();
    const enc = this.encoder ?? this.device.createCommandEncoder();
    this.encoder = enc;
    enc.copyBufferToBuffer(s.buffer, 0, buf, 0, size);
    this.flush();
    this.counts.reads++;
    this.counts.readBytes += bytes;
    if (this.debug) console.error(`[webgpu] read ${what}: ${bytes} bytes`);
    await buf.mapAsync(GPUMapMode.READ, 0, size);
    const out = buf.getMappedRange(0, size).slice(0, bytes);
    buf.unmap();
    if (this.readBuffers.length < 8) this.readBuffers.push(buf); else buf.destroy();
    return out;
  }

  /** Waits until the GPU has finished everything submitted so far. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  /**
   * The pipeline of a kernel, built once. Its layout is explicit: the parameter
   * block is bound with a dynamic offset, so a bind group depends only on the
   * storages and is reused whenever a step runs on the same (pooled) buffers.
   */
  pipeline(key: string, code: () => string): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
    let p = this.pipelines.get(key);
    if (!p) {
      const src = code();
      const entries: GPUBindGroupLayoutEntry[] = [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: SLOT } },
      ];
      for (const m of src.matchAll(/@group\(0\) @binding\((\d+)\) var<storage, (read|read_write)>/g)) {
        entries.push({ binding: +m[1], visibility: GPUShaderStage.COMPUTE, buffer: { type: m[2] === 'read' ? 'read-only-storage' : 'storage' } });
      }
      const layout = this.device.createBindGroupLayout({ entries, label: key });
      const module = this.device.createShaderModule({ code: src, label: key });
      const pipeline = this.device.createComputePipeline({
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main' }, label: key,
      });
      p = { pipeline, layout };
      this.pipelines.set(key, p);
      this.counts.pipelines++;
    }
    return p;
  }

  /**
   * Encodes one kernel: binding 0 is the parameter block, bindings 1.. are
   * `stores` in order. groups is the workgroup grid (x may be split into x*y, see grid()).
   */
  dispatch(key: string, code: () => string, stores: readonly GpuStore[], params: Params | null,
    groups: readonly [number, number?, number?]): void {
    const [gx, gy = 1, gz = 1] = groups;
    if (gx === 0 || gy === 0 || gz === 0) return;
    if (this.slot >= RING_SLOTS) this.flush();
    const { pipeline, layout } = this.pipeline(key, code);
    const off = this.slot * SLOT;
    if (params) this.ringHost.set(params.u, off / 4);
    else this.ringHost.fill(0, off / 4, off / 4 + 64);
    this.slot++;
    let bgKey = key;
    for (const s of stores) bgKey += `|${bufferId(s.buffer)}`;
    let bg = this.bindGroups.get(bgKey);
    if (!bg) {
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.ring, offset: 0, size: SLOT } }];
      stores.forEach((s, i) => entries.push({ binding: i + 1, resource: { buffer: s.buffer, offset: 0, size: s.capacity } }));
      bg = this.device.createBindGroup({ layout, entries });
      if (this.bindGroups.size > 20000) this.bindGroups = new Map();
      this.bindGroups.set(bgKey, bg);
      this.counts.bindGroups++;
    }
    const pass = this.beginPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bg, [off]);
    pass.dispatchWorkgroups(gx, gy, gz);
    this.counts.dispatches++;
  }

  /** Buffer-to-buffer copy in queue order (ends the current compute pass). */
  copy(src: GpuStore, srcWord: number, dst: GpuStore, dstWord: number, words: number): void {
    if (words === 0) return;
    this.endPass();
    const enc = this.encoder ?? (this.encoder = this.device.createCommandEncoder());
    enc.copyBufferToBuffer(src.buffer, srcWord * 4, dst.buffer, dstWord * 4, words * 4);
  }

  private beginPass(): GPUComputePassEncoder {
    if (this.pass) return this.pass;
    const enc = this.encoder ?? (this.encoder = this.device.createCommandEncoder());
    this.pass = enc.beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    if (this.pass) { this.pass.end(); this.pass = null; }
  }

  /** Submits everything encoded so far. */
  flush(): void {
    this.endPass();
    if (!this.encoder) return;
    if (this.slot > 0) this.device.queue.writeBuffer(this.ring, 0, this.ringHost.buffer, 0, this.slot * SLOT);
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.slot = 0;
    this.batch++;
    this.counts.submits++;
  }
}

const ids = new WeakMap<GPUBuffer, number>();
let nextBufferId = 1;
function bufferId(b: GPUBuffer): number {
  let id = ids.get(b);
  if (id === undefined) ids.set(b, id = nextBufferId++);
  return id;
}

/** Splits n workgroups into a grid whose x stays within WebGPU's 65,535 limit. */
export function grid(n: number): [number, number] {
  if (n <= 65535) return [n, 1];
  const y = Math.ceil(n / 65535);
  return [Math.ceil(n / y), y];
}

/** WGSL for the flat index of a 1-D kernel dispatched with grid() (workgroup size wg). */
export function flatIndex(wg: number): string {
  return `(wid.y * nwg.x + wid.x) * ${wg}u + lid.x`;
}
