// trax-ts: Trax's layers, models, training and decoding in TypeScript.
import './supervised/model_io.js';
export { backendName, setBackend, setNumThreads, numThreads, nativeUnavailableReason } from './backend/index.js';
export { Tensor, tensor, type DType, type TensorLike, type NestedArray } from './tensor/tensor.js';
export { grad, valueAndGrad, noGrad, stopGradient } from './tensor/tape.js';
export * as fastmath from './tensor/index.js';
export * as random from './tensor/random.js';
export * as shapes from './shapes.js';
export * as layers from './layers/index.js';
export * as models from './models/index.js';
export * as optimizers from './optimizers/index.js';
export * as lr from './supervised/lr_schedules.js';
export * as supervised from './supervised/index.js';
export * as data from './data/index.js';
export * as pretrained from './pretrained/index.js';
export * as viz from './viz/index.js';
