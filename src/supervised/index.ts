// trax.supervised: decoding, checkpoints (training lives here too).
import './model_io.js';
export * as decoding from './decoding.js';
export { autoregressiveSample, autoregressiveSampleStream, beamSearch } from './decoding.js';
export { initFromFile, saveToFile, weightOwners } from './model_io.js';
export * as lr from './lr_schedules.js';
export { Trainer, defaultMetrics, stepLine, formatMetric, type TrainerOptions, type ModelFn } from './trainer.js';
