// trax-ts's public API: Trax's layers, models, training and decoding in TypeScript.
// src/index.ts (ES modules) adds TRAX_BACKEND=webgpu's asynchronous start-up to it;
// the CommonJS build exports this module as it is.
import './io/model_io.js';
export { platformName } from './platform/host.js';
export { backendName, setBackend, backendInfo, registerBackend, setNumThreads, numThreads, nativeUnavailableReason } from './backends/index.js';
export type { Backend, Storage } from './backends/backend.js';
export { Tensor, tensor, type DType, type TensorLike, type NestedArray } from './engine/tensor.js';
export { tidy, memory, type MemoryInfo } from './engine/pool.js';
export { grad, valueAndGrad, noGrad, stopGradient } from './engine/tape.js';
export * as fastmath from './engine/index.js';
export * as random from './engine/random.js';
export * as shapes from './shapes.js';
export * as layers from './layers/index.js';
export * as models from './models/index.js';
export * as optimizers from './optimizers/index.js';
export * as lr from './training/lr_schedules.js';
export * as supervised from './supervised/index.js';
export * as data from './data/index.js';
export * as pretrained from './pretrained/index.js';
export * as viz from './viz/index.js';
