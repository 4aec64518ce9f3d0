// trax.models
export {
  TransformerLM, DecoderBlock, FeedForwardBlock, embeddingInitializerFor, type EmbeddingInitVersion, type TransformerLMOptions, type TransformerLMShape,
} from './transformer_lm.js';
export {
  Transformer, TransformerEncoder, TransformerDecoder, EncoderBlock, EncoderDecoderBlock, EncoderDecoderMask,
  type TransformerOptions, type TransformerEncoderOptions, type TransformerDecoderOptions,
} from './transformer.js';
