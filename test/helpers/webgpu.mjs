// Opens the webgpu backend for tests. Where Debian's chromium is installed its
// SwiftShader driver is used (exact, CPU, as on CI) unless TRAX_WEBGPU_TEST_DEVICE=real.
// Resolves to { backend } or { reason } (why the tests skip).
import { existsSync } from 'node:fs';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
let opened = null;

export function openWebGpu() {
  if (opened) return opened;
  if (process.env.TRAX_WEBGPU_TEST_DEVICE !== 'real' && !process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER;
  }
  opened = import('../../dist/src/backends/webgpu/index.js')
    .then((m) => m.webgpuBackend())
    .then((backend) => ({ backend }), (e) => ({ reason: `no WebGPU adapter: ${e.message}` }));
  return opened;
}

/** Top-level-await friendly: the backend or the skip reason. */
export const webgpu = await openWebGpu();
