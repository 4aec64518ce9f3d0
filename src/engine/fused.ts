// Fused transformer hot paths and other neural-network ops (ops/nn.ts).
export * from './ops/nn.js';
export { linear } from './ops/matmul.js';
