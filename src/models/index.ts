// trax.models
export { TransformerLM, DecoderBlock, FeedForwardBlock, type TransformerLMOptions } from './transformer_lm.js';
