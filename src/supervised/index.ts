// trax.supervised: Trax's namespace for training, decoding and checkpoints. The code lives in
// training/, decoding/, io/ and apps/lm/; this module keeps the public names.
import '../io/model_io.js';
export * as decoding from '../decoding/decoding.js';
export { autoregressiveSample, autoregressiveSampleStream, beamSearch } from '../decoding/decoding.js';
export { initFromFile, initFromBytes, initFromUrl, saveToFile, saveToBytes, detectFormat, weightOwners } from '../io/model_io.js';
export * as lr from '../training/lr_schedules.js';
export { Trainer, defaultMetrics, stepLine, formatMetric, type TrainerOptions, type ModelFn } from '../training/trainer.js';
export * as training from '../training/training.js';
export { Loop, TrainTask, EvalTask, type LoopOptions, type TrainTaskOptions, type EvalTaskOptions } from '../training/training.js';
export { trainLM, generateText, loadLM, loadLMFromBytes, loadLMFromUrl, type LoadedLM, type LMTrainOptions, type LMTrainResult, type LMEvalRecord, type LMConfig, type GenerateOptions, type LMTokenizer } from '../apps/lm/lm.js';
