// The webgpu backend as the engine sees it (src/backends/backend.ts): device
// storage, the registry's kernels over it, and backendInfo()'s adapter facts.
import type { Backend, DType, HostArray, Storage } from '../backend.js';
import type { Kernels } from '../kernels.js';
import { KERNEL_NAMES } from '../../engine/registry.js';
import { webgpuBackend, type WebGpuBackend } from './index.js';
import type { GpuStore } from './runtime.js';

/** The device backend behind setBackend('webgpu'), with the device-level API under `webgpu`. */
export interface EngineWebGpuBackend extends Backend {
  readonly webgpu: WebGpuBackend;
}

export async function createWebGpuBackend(): Promise<EngineWebGpuBackend> {
  const be = await webgpuBackend();
  const impl = be.kernels as unknown as Record<string, (...args: unknown[]) => void>;
  // The registry's kernels only (a plain table, checked against the declarations);
  // device-only extras (flash attention, argmaxRows, tile settings) stay on be.kernels.
  const table: Record<string, unknown> = {};
  for (const name of KERNEL_NAMES) table[name] = impl[name].bind(be.kernels);
  const rt = be.runtime;
  return {
    name: 'webgpu',
    onHost: false,
    family: 'webgpu',
    webgpu: be,
    kernels: table as unknown as Kernels,
    alloc(dtype: DType, size: number, zero: boolean): Storage {
      const s = rt.alloc(size);
      s.dtype = dtype;
      if (zero) be.kernels.fill(s, 0, true);
      return s;
    },
    allocBytes(size: number): Storage {
      const s = rt.alloc(Math.ceil(size / 4), 'byte mask');
      s.dtype = 'bytes';
      return s;
    },
    fromHost(values: HostArray): Storage {
      const s = rt.upload(values);
      s.dtype = values instanceof Int32Array ? 'int32' : 'float32';
      return s;
    },
    dtypeOf(storage: Storage): DType | undefined {
      const d = (storage as GpuStore).dtype;
      return d === 'bytes' ? undefined : d;
    },
    read(storage: Storage, dtype: DType, size: number): Promise<HostArray> {
      return be.read(storage as GpuStore, dtype, size);
    },
    subview(storage: Storage, offset: number, size: number): Storage {
      return (storage as GpuStore).view(offset, size);
    },
    release(storage: Storage): void { rt.release(storage as GpuStore); },
    trimPool(): void { rt.trim(); },
    threads: () => 1,
    setThreads: () => { /* the device schedules its own threads */ },
    info(): Record<string, unknown> {
      const a = be.adapter;
      return {
        adapter: { vendor: a.vendor, architecture: a.architecture, device: a.device, description: a.description, source: a.source },
        features: a.features, subgroups: a.subgroups,
        limits: { maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize, maxBufferSize: a.limits.maxBufferSize,
          maxComputeWorkgroupStorageSize: a.limits.maxComputeWorkgroupStorageSize,
          maxComputeInvocationsPerWorkgroup: a.limits.maxComputeInvocationsPerWorkgroup },
        maxTensorBytes: be.maxTensorBytes,
        transfers: rt.stats(),
      };
    },
  };
}
