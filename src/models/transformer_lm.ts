// TransformerLM with Trax's exact layer order and flat weight order
// (reference section 3): pre-LayerNorm decoder blocks over a shifted,
// embedded and position-encoded token stream.
import { Layer, type Mode, type State, type Weights } from '../layers/base.js';
import { Residual, Serial } from '../layers/combinators.js';
import { Dense, Dropout, DropoutLayer, Embedding, LayerNorm, LogSoftmax } from '../layers/core.js';
import { FusedBlockLayer } from '../layers/fused_block.js';
import * as F from '../engine/index.js';
import type { PRNGKey } from '../engine/random.js';
import { Tensor, readScalar } from '../engine/tensor.js';
import { CausalAttention, PositionalEncoding, ShiftRight } from '../layers/attention.js';
import { Relu } from '../layers/activations.js';
import { RandomNormalInitializer, ScaledInitializer, type Initializer } from '../layers/initializers.js';

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
  /**
   * The embedding's initializer. Default: Trax master's U(+-sqrt(3/dModel));
   * embeddingInitializerFor('1.3.4') gives Trax 1.3.4's N(0, 1).
   */
  embeddingInitializer?: Initializer;
}

/** Which Trax release's Embedding initializer: 'master' (U(+-sqrt(3/d))) or '1.3.4' (N(0, 1)). */
export type EmbeddingInitVersion = 'master' | '1.3.4';

export function embeddingInitializerFor(version: EmbeddingInitVersion): Initializer {
  if (version === 'master') return ScaledInitializer(-1, -2, 1.0, 'fan_out', 'uniform');
  if (version === '1.3.4') return RandomNormalInitializer(1.0);
  throw new RangeError(`embedding initializer: version must be 'master' or '1.3.4', got ${JSON.stringify(version)}`);
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

/**
 * The feed-forward block with ReLU as one layer with its own backward: the
 * tree, weights, printout and keys of Serial(FeedForwardBlock(...)), with
 * Dense-ReLU-Dropout-Dense run as one fused op whose GEMM epilogues apply the
 * bias, the ReLU and its backward. The hidden dropout mask comes from the key
 * the Dropout sublayer would get, so results match the layer-by-layer path.
 */
export class FeedForwardLayer extends FusedBlockLayer {
  private readonly hiddenDropout: DropoutLayer;
  constructor(dModel: number, dFF: number, dropout: number, mode: Mode) {
    const layers = FeedForwardBlock(dModel, dFF, dropout, null, mode, Relu);
    super(layers);
    this.hiddenDropout = layers[HIDDEN_DROPOUT] as DropoutLayer;
  }

  protected override compute(x: Tensor, w: Weights[], st: State[], rngs: PRNGKey[]): [Tensor, State[]] {
    const subs = this.sublayers;
    const [normed, sNorm] = subs[0].pureFn(x, w[0], st[0], rngs[0], true);
    // Like Dropout, the rate is read from state so it can change per step.
    const rate = readScalar(st[HIDDEN_DROPOUT] as Tensor, 'Dropout (its rate)');
    if (this.hiddenDropout.mode === 'train' && !(rate < 1)) throw new RangeError(`Dropout rate ${rate} must be below 1`);
    const drop = this.hiddenDropout.mode === 'train' && rate > 0 ? { key: rngs[HIDDEN_DROPOUT], keep: 1 - rate } : null;
    const [d1, d2] = [w[1] as Tensor[], w[4] as Tensor[]];
    const hidden = F.denseReluDense(normed as Tensor, d1[0], d1[1], d2[0], d2[1], drop);
    const [out, sOut] = subs[5].pureFn(hidden, w[5], st[5], rngs[5], true);
    return [out as Tensor, [sNorm, st[1], st[2], st[3], st[4], sOut]];
  }
}
const HIDDEN_DROPOUT = 3;

/**
 * FeedForwardBlock as one layer: fused (FeedForwardLayer) for ReLU without
 * shared dropout axes, else the plain Serial (the same tree either way).
 */
export function FeedForward(dModel: number, dFF: number, dropout: number, dropoutSharedAxes: number[] | null, mode: Mode,
  activation: ActivationFactory): Layer {
  if (activation === Relu && !dropoutSharedAxes) return new FeedForwardLayer(dModel, dFF, dropout, mode);
  return Serial(FeedForwardBlock(dModel, dFF, dropout, dropoutSharedAxes, mode, activation));
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
    Residual(FeedForward(dModel, dFF, dropout, dropoutSharedAxes, mode, activation)),
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
    dropoutSharedAxes = null, mode = 'train', ffActivation = Relu, outputLogSoftmax = true, embeddingInitializer,
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
    Embedding(vocabSize, dModel, { kernelInitializer: embeddingInitializer }),
    Dropout(dropout, { sharedAxes: dropoutSharedAxes, mode }),
    PositionalEncoding({ maxLen, mode }),
    blocks,
    LayerNorm(),
    Dense(vocabSize),
    outputLogSoftmax ? LogSoftmax() : null,
  );
}
