// trax.random: keys and random tensors (implemented in ops/random.ts).
export * from './ops/random.js';
