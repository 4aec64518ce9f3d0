// trax.data for trax-ts.
//
// Examples and batches are JS arrays of fields (Trax's tuples), usually
// [inputs, targets] or [inputs, targets, weights]. A field is a Tensor, an
// Int32Array/Float32Array (one axis) or plain nested number arrays; functions
// that change a field return it as a Tensor, and Batch/BucketByLength always
// return Tensors (int32 when every value is an integer, else float32).
//
// Streams are iterables or async iterables; a pipeline function maps a stream
// to a stream and is composed with Serial. The rule: a sync input stream gives
// a sync output (a generator, so `next()` works as in Python), an async input
// gives an async generator. Pipelines stay lazy and work on endless streams.

export { type Field, type Example, fieldShape, fieldDtype, fieldToTensor, shapeDtype, padToMaxDims } from './fields.js';
export { type ShapeDtype, formatShapeDtype } from '../shapes.js';
export { type Stream, type PipelineFn, type Operator, type SerialItem, Serial, stage, mapStage, filterStage } from './stream.js';
export {
  Shuffle, type ShuffleOptions, Batch, BucketByLength, type BucketByLengthOptions, FilterByLength, type FilterByLengthOptions,
  type LengthOptions, TruncateToLength, type LenMap, PadToLength, AddLossWeights, Dup, CastTo, AppendValue,
  ConcatenateToLMInput, FilterEmptyExamples, UnBatch, Log, type LogOptions, CountAndSkip, dataCounters,
  getDataCounters, setDataCounters, resetDataCounters,
} from './pipeline.js';
export { Inputs, type InputsConstructor, type StreamFn, type BatchSource, type BatchStream, type BatchSignature, validateBatch } from './inputs.js';
export { reverseIntsTask, sortIntsTask, copyIntsTask, type IntsTaskOptions, type IntsBatch } from './tasks.js';
export {
  mobyDickFile, mobyDickPath, loadText, splitText, splitIds, CharVocab, lmWindows, lmFixedBatches, lmFixedStarts,
  lmSequentialWindows, lmWindowWeights, type LMBatch, type LMWindowOptions, type LMRandomWindowOptions, type LMSequentialOptions,
} from './text.js';
export { Rng } from './rng.js';
export { NumpyGenerator } from './numpy_rng.js';
export {
  Tokenize, tokenize, detokenize, vocabSize, getTokenizer, tokenizerFromBytes, loadTokenizer, type TokenizeOptions, type VocabOptions, type VocabType,
} from './tokenize.js';
