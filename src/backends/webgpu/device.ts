/// <reference types="@webgpu/types" />
// Finds a WebGPU adapter and opens a device: navigator.gpu in browsers, the
// optional npm package `webgpu` (Dawn) in Node, imported only here so that a
// user who never selects this backend never loads it.

/** What backendInfo() reports about the adapter. */
export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** 'node-webgpu' (Dawn) or 'navigator.gpu'. */
  source: string;
  features: string[];
  limits: Record<string, number>;
  /** True when kernels may use subgroup operations. */
  subgroups: boolean;
}

export interface OpenedDevice {
  /** The GPU object: Dawn tears the device down when this is collected, so it is kept here. */
  gpu: GPU;
  device: GPUDevice;
  adapter: GPUAdapter;
  report: AdapterReport;
}

const INSTALL_HINT = 'install the optional package with `npm install webgpu` (Google\'s Dawn; about 130 MB) ' +
  'and make sure a GPU driver with Vulkan, Metal or Direct3D 12 is present; on a machine without a GPU, ' +
  'Debian\'s `chromium` package provides a CPU adapter (SwiftShader): ' +
  'export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json';

async function findGpu(): Promise<{ gpu: GPU; source: string }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, source: 'navigator.gpu' };
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) throw new Error('webgpu backend: this browser has no navigator.gpu (WebGPU is disabled or unsupported)');
  let mod: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  try {
    // A specifier computed at run time keeps bundlers (Rollup folds constants) and tsc from
    // resolving the optional Node package into browser builds.
    const name = ['web', 'gpu'].join('');
    mod = await import(/* @vite-ignore */ name) as typeof mod;
  } catch (e) {
    throw new Error(`webgpu backend: the package 'webgpu' could not be loaded (${(e as Error).message.split('\n')[0]}); ${INSTALL_HINT}`);
  }
  // Dawn's constants (GPUBufferUsage, GPUMapMode, ...) become globals, as in a browser.
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  const flags = (process.env.TRAX_WEBGPU_FLAGS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return { gpu: mod.create(flags), source: 'node-webgpu' };
}

/** Limits worth raising above WebGPU's defaults when the adapter allows it. */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY',
  'maxStorageBuffersPerShaderStage', 'maxComputeWorkgroupsPerDimension',
] as const;

export async function openDevice(opts: { powerPreference?: GPUPowerPreference } = {}): Promise<OpenedDevice> {
  const { gpu, source } = await findGpu();
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) throw new Error(`webgpu backend: no GPU adapter found (${source}); ${INSTALL_HINT}`);
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const wantSubgroups = adapter.features.has('subgroups') && (typeof process === 'undefined' || process.env?.TRAX_WEBGPU_SUBGROUPS !== '0');
  const requiredFeatures: GPUFeatureName[] = [];
  if (wantSubgroups) requiredFeatures.push('subgroups' as GPUFeatureName);
  if (adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  device.addEventListener?.('uncapturederror', (ev) => {
    // Validation errors are programming errors in a kernel: make them loud.
    console.error(`webgpu backend: ${(ev as GPUUncapturedErrorEvent).error.message}`);
  });
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  const limits: Record<string, number> = {};
  for (const k of Object.keys(Object.getPrototypeOf(device.limits) ?? {}).concat(Object.keys(device.limits))) {
    const v = (device.limits as unknown as Record<string, unknown>)[k];
    if (typeof v === 'number') limits[k] = v;
  }
  for (const name of WANTED_LIMITS) limits[name] = (device.limits as unknown as Record<string, number>)[name];
  return {
    gpu, device, adapter,
    report: {
      vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '',
      description: info.description ?? '', source,
      features: [...adapter.features].map(String).sort(), limits,
      subgroups: device.features.has('subgroups'),
    },
  };
}
