// trax.supervised: decoding, checkpoints (training lives here too).
import './model_io.js';
export * as decoding from './decoding.js';
export { autoregressiveSample, autoregressiveSampleStream, beamSearch } from './decoding.js';
export { initFromFile, saveToFile, weightOwners } from './model_io.js';
export * as lr from './lr_schedules.js';
export { Trainer, defaultMetrics, stepLine, formatMetric, type TrainerOptions, type ModelFn } from './trainer.js';
export * as training from './training.js';
export { Loop, TrainTask, EvalTask, type LoopOptions, type TrainTaskOptions, type EvalTaskOptions } from './training.js';
export { trainLM, generateText, loadLM, type LMTrainOptions, type LMTrainResult, type LMEvalRecord, type LMConfig, type GenerateOptions, type LMTokenizer } from './lm.js';
