// trax-ts: Trax's layers, models, training and decoding in TypeScript (ES module entry).
export * from './api.js';

import { setBackend as selectBackend } from './backends/index.js';
// TRAX_BACKEND=webgpu selects the GPU backend when the package is imported (the device opens asynchronously).
if (typeof process !== 'undefined' && (process.env.TRAX_BACKEND ?? '').trim().toLowerCase() === 'webgpu') {
  await selectBackend('webgpu');
}
