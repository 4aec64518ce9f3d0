// Transformer encoder, decoder and encoder-decoder with Trax master's layer
// structure (trax/models/transformer.py). The flat weight order is what
// Trax checkpoints depend on, so layers appear in exactly Trax's order.
import { Layer, type Mode } from '../layers/base.js';
import { Branch, Cache, FnLayer, Residual, Select, Serial } from '../layers/combinators.js';
import { Dense, Dropout, Embedding, LayerNorm, Mean } from '../layers/core.js';
import { Attention, AttentionQKV, CausalAttention, PaddingMask, PositionalEncoding, ShiftRight } from '../layers/attention.js';
import { Relu } from '../layers/activations.js';
import * as F from '../engine/index.js';
import type { Tensor } from '../engine/tensor.js';
import { checkPositiveInt, DecoderBlock, FeedForward, type ActivationFactory } from './transformer_lm.js';

const MODES: readonly Mode[] = ['train', 'eval', 'predict', 'viz'];

interface CommonOptions {
  dModel?: number;
  dFF?: number;
  nHeads?: number;
  maxLen?: number;
  dropout?: number;
  dropoutSharedAxes?: number[] | null;
  mode?: Mode;
  ffActivation?: ActivationFactory;
}

export interface TransformerEncoderOptions extends CommonOptions {
  vocabSize: number;
  nClasses?: number;
  nLayers?: number;
}

export interface TransformerDecoderOptions extends CommonOptions {
  /** Token ids in when set (Embedding); otherwise (B, L, dModel) vectors in (Dense). */
  vocabSize?: number | null;
  nLayers?: number;
}

export interface TransformerOptions extends CommonOptions {
  inputVocabSize: number;
  /** null: targets share the input vocabulary and the embedding layer. */
  outputVocabSize?: number | null;
  nEncoderLayers?: number;
  nDecoderLayers?: number;
}

function checkCommon(model: string, dModel: number, dFF: number, nHeads: number, maxLen: number, dropout: number, mode: Mode): void {
  checkPositiveInt('dModel', dModel, model);
  checkPositiveInt('dFF', dFF, model);
  checkPositiveInt('nHeads', nHeads, model);
  checkPositiveInt('maxLen', maxLen, model);
  if (dModel % nHeads !== 0) throw new RangeError(`${model}: dModel ${dModel} must be divisible by nHeads ${nHeads}`);
  if (!(dropout >= 0 && dropout < 1)) throw new RangeError(`${model}: dropout must be in [0, 1), got ${dropout}`);
  if (!MODES.includes(mode)) throw new RangeError(`${model}: mode must be 'train', 'eval', 'predict' or 'viz', got '${mode}'`);
}

function checkLayers(model: string, name: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${model}: ${name} must be a non-negative integer, got ${n}`);
}

/**
 * EncoderDecoderMask(): (decoder activations (B, Ld, D), padding mask
 * (B, 1, 1, Le)) -> mask (B, 1, Ld, Le), the padding mask repeated for each
 * decoder position so cross-attention skips padded encoder positions.
 */
export function EncoderDecoderMask(): Layer {
  return new FnLayer('EncoderDecoderMask', (decoderInput: Tensor, mask: Tensor) => {
    if (decoderInput.rank !== 3) {
      throw new Error(`EncoderDecoderMask: decoder input must be (batch, length, dModel), got [${decoderInput.shape}]`);
    }
    const b = mask.shape[0], le = mask.shape[mask.rank - 1], ld = decoderInput.shape[1];
    const m = F.reshape(F.cast(mask, 'float32'), [b, 1, 1, le]);
    return F.add(m, F.zeros([1, 1, ld, 1]));
  }, 2);
}

/** Encoder block: (vectors, mask) -> (vectors, mask). */
export function EncoderBlock(dModel: number, dFF: number, nHeads: number, dropout: number,
  dropoutSharedAxes: number[] | null, mode: Mode, activation: ActivationFactory): Layer[] {
  return [
    Residual(
      LayerNorm(),
      Attention(dModel, { nHeads, dropout, mode }),
      Dropout(dropout, { sharedAxes: dropoutSharedAxes, mode }),
    ),
    Residual(FeedForward(dModel, dFF, dropout, dropoutSharedAxes, mode, activation)),
  ];
}

/**
 * Encoder-decoder block: (vec_d, mask, vec_e) -> (vec_d, mask, vec_e).
 * Causal self-attention (no attention dropout, as in Trax), then
 * cross-attention whose K/V projections are cached in predict mode.
 */
export function EncoderDecoderBlock(dModel: number, dFF: number, nHeads: number, dropout: number,
  dropoutSharedAxes: number[] | null, mode: Mode, activation: ActivationFactory): Layer[] {
  const drop = () => Dropout(dropout, { sharedAxes: dropoutSharedAxes, mode });
  return [
    Residual(
      LayerNorm(),
      CausalAttention(dModel, { nHeads, mode }),
      drop(),
    ),
    Residual(
      LayerNorm(),
      Select([0, 2, 2, 1, 2]), // vec_d vec_e vec_e mask vec_e
      AttentionQKV(dModel, { nHeads, dropout, mode, cacheKVInPredict: true }),
      drop(),
    ),
    Residual(FeedForward(dModel, dFF, dropout, dropoutSharedAxes, mode, activation)),
  ];
}

/**
 * TransformerEncoder({vocabSize, nClasses=10, dModel=512, dFF=2048, nLayers=6,
 * nHeads=8, maxLen=2048, dropout=0.1, mode='train'}): tokens (B, L) with 0 as
 * padding -> class logits (B, nClasses).
 */
export function TransformerEncoder(opts: TransformerEncoderOptions): Layer {
  const {
    vocabSize, nClasses = 10, dModel = 512, dFF = 2048, nLayers = 6, nHeads = 8, maxLen = 2048,
    dropout = 0.1, dropoutSharedAxes = null, mode = 'train', ffActivation = Relu,
  } = opts;
  const name = 'TransformerEncoder';
  checkPositiveInt('vocabSize', vocabSize, name);
  checkPositiveInt('nClasses', nClasses, name);
  checkLayers(name, 'nLayers', nLayers);
  checkCommon(name, dModel, dFF, nHeads, maxLen, dropout, mode);
  const blocks: Layer[] = [];
  for (let i = 0; i < nLayers; i++) blocks.push(...EncoderBlock(dModel, dFF, nHeads, dropout, dropoutSharedAxes, mode, ffActivation));
  return Serial(
    Branch([], PaddingMask()), // tokens mask
    Embedding(vocabSize, dModel),
    Dropout(dropout, { sharedAxes: dropoutSharedAxes, mode }),
    PositionalEncoding({ maxLen }),
    blocks,
    Select([0], 2), // drops the mask
    LayerNorm(),
    Mean(1),
    Dense(nClasses),
  );
}

/**
 * TransformerDecoder({vocabSize?, dModel=512, dFF=2048, nLayers=6, nHeads=8,
 * maxLen=2048, dropout=0.1, mode='train'}): causal decoder without a shift;
 * tokens (B, L) (or vectors (B, L, dModel) when vocabSize is not given) ->
 * (B, L, dModel).
 */
export function TransformerDecoder(opts: TransformerDecoderOptions = {}): Layer {
  const {
    vocabSize = null, dModel = 512, dFF = 2048, nLayers = 6, nHeads = 8, maxLen = 2048,
    dropout = 0.1, dropoutSharedAxes = null, mode = 'train', ffActivation = Relu,
  } = opts;
  const name = 'TransformerDecoder';
  if (vocabSize !== null) checkPositiveInt('vocabSize', vocabSize, name);
  checkLayers(name, 'nLayers', nLayers);
  checkCommon(name, dModel, dFF, nHeads, maxLen, dropout, mode);
  const blocks: Layer[] = [];
  for (let i = 0; i < nLayers; i++) blocks.push(...DecoderBlock(dModel, dFF, nHeads, dropout, dropoutSharedAxes, mode, ffActivation));
  return Serial(
    vocabSize !== null ? Embedding(vocabSize, dModel) : Dense(dModel),
    Dropout(dropout, { sharedAxes: dropoutSharedAxes, mode }),
    // Trax leaves this in its default mode; passing mode keeps positions
    // advancing in predict mode (weights are the same either way).
    PositionalEncoding({ maxLen, mode }),
    blocks,
    LayerNorm(),
  );
}

/**
 * Transformer({inputVocabSize, outputVocabSize=null, dModel=512, dFF=2048,
 * nEncoderLayers=6, nDecoderLayers=6, nHeads=8, maxLen=2048, dropout=0.1,
 * mode='train'}): (source tokens (B, Le), target tokens (B, Ld)) ->
 * (logits (B, Ld, vocab), target tokens). Token 0 is padding in the source.
 *
 * In predict mode the encoder runs in 'eval' mode inside Cache, so it is
 * computed once per source; the decoder then takes one token per call.
 */
export function Transformer(opts: TransformerOptions): Layer {
  const {
    inputVocabSize, dModel = 512, dFF = 2048, nEncoderLayers = 6, nDecoderLayers = 6, nHeads = 8,
    maxLen = 2048, dropout = 0.1, dropoutSharedAxes = null, mode = 'train', ffActivation = Relu,
  } = opts;
  let outputVocabSize = opts.outputVocabSize ?? null;
  const name = 'Transformer';
  checkPositiveInt('inputVocabSize', inputVocabSize, name);
  if (outputVocabSize !== null) checkPositiveInt('outputVocabSize', outputVocabSize, name);
  checkLayers(name, 'nEncoderLayers', nEncoderLayers);
  checkLayers(name, 'nDecoderLayers', nDecoderLayers);
  checkCommon(name, dModel, dFF, nHeads, maxLen, dropout, mode);

  // The encoder never runs step by step.
  const encoderMode: Mode = mode === 'predict' ? 'eval' : mode;
  // One layer instance used twice: its weights appear once in the flat list.
  const inEmbedder = Embedding(inputVocabSize, dModel);
  let outEmbedder = inEmbedder;
  if (outputVocabSize === null) outputVocabSize = inputVocabSize;
  else outEmbedder = Embedding(outputVocabSize, dModel);
  const drop = () => Dropout(dropout, { sharedAxes: dropoutSharedAxes, mode });

  const encBlocks: Layer[] = [];
  for (let i = 0; i < nEncoderLayers; i++) {
    // Trax builds the encoder blocks with `mode` too; only PE gets encoderMode.
    encBlocks.push(...EncoderBlock(dModel, dFF, nHeads, dropout, dropoutSharedAxes, mode, ffActivation));
  }
  let encoder: Layer = Serial(
    inEmbedder,
    drop(),
    PositionalEncoding({ maxLen, mode: encoderMode }),
    encBlocks,
    LayerNorm(),
  );
  if (mode === 'predict') encoder = Cache(encoder);

  const decBlocks: Layer[] = [];
  for (let i = 0; i < nDecoderLayers; i++) {
    decBlocks.push(...EncoderDecoderBlock(dModel, dFF, nHeads, dropout, dropoutSharedAxes, mode, ffActivation));
  }
  return Serial(
    Select([0, 1, 1]), // tok_e tok_d tok_d: keeps the targets for the loss
    Branch([], PaddingMask()), // tok_e mask tok_d tok_d
    encoder, // vec_e mask tok_d tok_d
    Select([2, 1, 0]), // tok_d mask vec_e tok_d
    ShiftRight(1, { mode }),
    outEmbedder,
    drop(),
    PositionalEncoding({ maxLen, mode }),
    Branch([], EncoderDecoderMask()), // vec_d mask vec_e tok_d
    decBlocks,
    LayerNorm(),
    Select([0], 3), // vec_d tok_d
    Dense(outputVocabSize),
  );
}
