// TransformerLM with Trax's exact layer order and flat weight order
// (reference section 3): pre-LayerNorm decoder blocks over a shifted,
// embedded and position-encoded token stream.
import { Layer, type Mode, type State, type Value, type Weights } from '../layers/base.js';
import { Residual, Serial, SerialLayer } from '../layers/combinators.js';
import { Dense, Dropout, DropoutLayer, Embedding, LayerNorm, LogSoftmax, isDenseWeights } from '../layers/core.js';
import * as F from '../engine/index.js';
import * as random from '../engine/random.js';
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
 * The feed-forward block as one Serial (the body Residual would build from
 * FeedForwardBlock's layers: same tree, weights and printout). With ReLU,
 * Dense-ReLU-Dropout-Dense runs as one fused op whose GEMM epilogues apply
 * the bias, the ReLU and its backward; the dropout mask comes from the key
 * the Dropout sublayer would get, so results match the layer-by-layer path.
 */
export class FeedForwardLayer extends SerialLayer {
  constructor(layers: Layer[], private readonly relu: boolean) {
    super(layers);
  }

  override forward(xs: Value): Value {
    const subs = this.sublayers;
    const x = xs as Tensor;
    const st = this.state as State[];
    const hiddenDrop = subs[3];
    if (!this.relu || subs.length !== 6 || !(x instanceof Tensor) || x.dtype !== 'float32'
      || !(hiddenDrop instanceof DropoutLayer) || hiddenDrop.sharedAxes) return super.forward(xs);
    const w = this.weights as Weights[];
    const d1 = w[1], d2 = w[4];
    if (!isDenseWeights(d1) || !isDenseWeights(d2)) return super.forward(xs);
    // The same keys Serial would hand its sublayers.
    const rngs = random.split(this.rng, subs.length);
    const [normed, s0] = subs[0].pureFn(x, w[0], st[0], rngs[0], true);
    const rate = readScalar(st[3] as Tensor, 'Dropout (its rate)');
    const drop = dropoutInactive(hiddenDrop, st[3]) ? null : { key: rngs[3], keep: 1 - rate };
    if (drop && !(rate > 0 && rate < 1)) return super.forward(xs);
    const hidden = F.denseReluDense(normed as Tensor, d1[0], d1[1], d2[0], d2[1], drop);
    const [out, s5] = subs[5].pureFn(hidden, w[5], st[5], rngs[5], true);
    this.setPureState([s0, st[1], st[2], st[3], st[4], s5]);
    return out;
  }
}

function dropoutInactive(layer: Layer, state: State): boolean {
  return layer instanceof DropoutLayer && (layer.mode !== 'train' || (state instanceof Tensor && readScalar(state, 'Dropout (its rate)') === 0));
}

/** FeedForwardBlock as a FeedForwardLayer (fused when the activation is Relu). */
export function FeedForward(dModel: number, dFF: number, dropout: number, dropoutSharedAxes: number[] | null, mode: Mode,
  activation: ActivationFactory): Layer {
  return new FeedForwardLayer(FeedForwardBlock(dModel, dFF, dropout, dropoutSharedAxes, mode, activation), activation === Relu);
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
