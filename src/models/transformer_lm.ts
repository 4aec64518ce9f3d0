// TransformerLM with Trax's exact layer order and flat weight order
// (reference section 3): pre-LayerNorm decoder blocks over a shifted,
// embedded and position-encoded token stream.
import { Layer, type Mode } from '../layers/base.js';
import { Residual, Serial } from '../layers/combinators.js';
import { Dense, Dropout, Embedding, LayerNorm, LogSoftmax } from '../layers/core.js';
import { CausalAttention, PositionalEncoding, ShiftRight } from '../layers/attention.js';
import { Relu } from '../layers/activations.js';

export type ActivationFactory = () => Layer;

export interface TransformerLMOptions {
  vocabSize: number;
  dModel?: number;
  dFF?: number;
  nLayers?: number;
  nHeads?: number;
  maxLen?: number;
  dropout?: number;
  dropoutSharedAxes?: number[] | null;
  mode?: Mode;
  ffActivation?: ActivationFactory;
  /**
   * End with LogSoftmax as Trax 1.3.4 (the quick-start's version) did; master
   * ends with raw logits. Default true.
   */
  outputLogSoftmax?: boolean;
}

/** The sizes that fix a TransformerLM's weights (what configs and checkpoints record). */
export interface TransformerLMShape {
  vocabSize: number;
  dModel: number;
  dFF: number;
  nLayers: number;
  nHeads: number;
  maxLen: number;
  dropout: number;
}

export function checkPositiveInt(name: string, v: number, model: string): void {
  if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${model}: ${name} must be a positive integer, got ${v}`);
}

/** Residual(LayerNorm, Dense(dFF), activation, Dropout, Dense(dModel), Dropout). */
export function FeedForwardBlock(dModel: number, dFF: number, dropout: number, dropoutSharedAxes: number[] | null, mode: Mode,
  activation: ActivationFactory): Layer[] {
  return [
    LayerNorm(),
    Dense(dFF),
    activation(),
    Dropout(dropout, { sharedAxes: dropoutSharedAxes, mode }),
    Dense(dModel),
    Dropout(dropout, { sharedAxes: dropoutSharedAxes, mode }),
  ];
}

/** One pre-LayerNorm decoder block: causal self-attention, then feed-forward. */
export function DecoderBlock(dModel: number, dFF: number, nHeads: number, dropout: number,
  dropoutSharedAxes: number[] | null, mode: Mode, activation: ActivationFactory): Layer[] {
  return [
    Residual(
      LayerNorm(),
      CausalAttention(dModel, { nHeads, dropout, mode }),
      Dropout(dropout, { sharedAxes: dropoutSharedAxes, mode }),
    ),
    Residual(FeedForwardBlock(dModel, dFF, dropout, dropoutSharedAxes, mode, activation)),
  ];
}

/**
 * TransformerLM({vocabSize, dModel=512, dFF=2048, nLayers=6, nHeads=8,
 * maxLen=2048, dropout=0.1, mode='train', ffActivation=Relu, outputLogSoftmax=true}).
 * Input: int tokens (B, L); output: (B, L, vocabSize) log-probs (or logits).
 */
export function TransformerLM(opts: TransformerLMOptions): Layer {
  const {
    vocabSize, dModel = 512, dFF = 2048, nLayers = 6, nHeads = 8, maxLen = 2048, dropout = 0.1,
    dropoutSharedAxes = null, mode = 'train', ffActivation = Relu, outputLogSoftmax = true,
  } = opts;
  checkPositiveInt('vocabSize', vocabSize, 'TransformerLM');
  checkPositiveInt('dModel', dModel, 'TransformerLM');
  checkPositiveInt('dFF', dFF, 'TransformerLM');
  checkPositiveInt('nHeads', nHeads, 'TransformerLM');
  checkPositiveInt('maxLen', maxLen, 'TransformerLM');
  if (!Number.isInteger(nLayers) || nLayers < 0) throw new RangeError(`TransformerLM: nLayers must be a non-negative integer, got ${nLayers}`);
  if (dModel % nHeads !== 0) throw new RangeError(`TransformerLM: dModel ${dModel} must be divisible by nHeads ${nHeads}`);
  if (!['train', 'eval', 'predict', 'viz'].includes(mode)) throw new RangeError(`TransformerLM: mode must be 'train', 'eval', 'predict' or 'viz', got '${mode}'`);
  const blocks: Layer[] = [];
  for (let i = 0; i < nLayers; i++) blocks.push(...DecoderBlock(dModel, dFF, nHeads, dropout, dropoutSharedAxes, mode, ffActivation));
  return Serial(
    ShiftRight(1, { mode }),
    Embedding(vocabSize, dModel),
    Dropout(dropout, { sharedAxes: dropoutSharedAxes, mode }),
    PositionalEncoding({ maxLen, mode }),
    blocks,
    LayerNorm(),
    Dense(vocabSize),
    outputLogSoftmax ? LogSoftmax() : null,
  );
}
