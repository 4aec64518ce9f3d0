// trax.layers: the Layer base, combinators, and all layers.
export * from './base.js';
export * from './combinators.js';
export * from './core.js';
export * from './activations.js';
export * from './attention.js';
export * from './metrics.js';
export * as initializers from './initializers.js';
