// trax.models
export { TransformerLM, DecoderBlock, FeedForwardBlock, type TransformerLMOptions } from './transformer_lm.js';
export {
  Transformer, TransformerEncoder, TransformerDecoder, EncoderBlock, EncoderDecoderBlock, EncoderDecoderMask,
  type TransformerOptions, type TransformerEncoderOptions, type TransformerDecoderOptions,
} from './transformer.js';
