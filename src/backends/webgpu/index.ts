// The WebGPU backend: opens a device (see device.ts), then serves the kernels
// over device storage. Storage moves between host and device only through
// upload() and read(), both counted (stats()).
import { openDevice, type AdapterReport } from './device.js';
import { GpuStore, Runtime, type RuntimeStats } from './runtime.js';
import { WebGpuKernels, DEFAULT_TILES, parseTiles, type GemmTiles } from './kernels.js';

export interface WebGpuBackend {
  readonly name: 'webgpu';
  readonly onHost: false;
  readonly runtime: Runtime;
  readonly kernels: WebGpuKernels;
  readonly adapter: AdapterReport;
  /** Zero-filled storage of `size` 4-byte values. */
  alloc(size: number): GpuStore;
  /** Storage for a keep-mask of n bytes (packed four to a word). */
  allocMask(n: number): GpuStore;
  fromHost(data: Float32Array | Int32Array | Uint8Array): GpuStore;
  read(s: GpuStore, dtype: 'float32' | 'int32', size?: number): Promise<Float32Array | Int32Array>;
  readBytes(s: GpuStore, n: number): Promise<Uint8Array>;
  release(s: GpuStore): void;
  stats(): RuntimeStats;
  /** Waits for the queue to drain (benchmarks). */
  sync(): Promise<void>;
  /** Largest tensor, in bytes, one storage binding may hold. */
  readonly maxTensorBytes: number;
}

let opening: Promise<WebGpuBackend> | null = null;

/** Opens (once) the WebGPU backend; rejects with what to install when there is no adapter. */
export function webgpuBackend(): Promise<WebGpuBackend> {
  return opening ?? (opening = create().catch((e) => { opening = null; throw e; }));
}

async function create(): Promise<WebGpuBackend> {
  const opened = await openDevice();
  const rt = new Runtime(opened);
  const kernels = new WebGpuKernels(rt);
  return {
    name: 'webgpu', onHost: false, runtime: rt, kernels, adapter: opened.report,
    maxTensorBytes: rt.maxBinding,
    alloc(size) { const s = rt.alloc(size); kernels.fill(s, 0, false); return s; },
    allocMask(n) { const s = rt.alloc(Math.ceil(n / 4), 'mask'); kernels.fill(s, 0, true); return s; },
    fromHost(data) { return rt.upload(data); },
    async read(s, dtype, size = s.length) {
      const buf = await rt.read(s, size * 4);
      return dtype === 'int32' ? new Int32Array(buf) : new Float32Array(buf);
    },
    async readBytes(s, n) { return new Uint8Array(await rt.read(s, n)); },
    release(s) { rt.release(s); },
    stats() { return rt.stats(); },
    sync() { return rt.sync(); },
  };
}

export { GpuStore, Runtime, WebGpuKernels, DEFAULT_TILES, parseTiles };
export type { AdapterReport, GemmTiles, RuntimeStats };
