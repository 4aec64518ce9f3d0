// The op library, one file per family; each op's gradient rule sits beside
// its forward.
export { opError } from './util.js';
export * from './creation.js';
export * from './elementwise.js';
export * from './shape.js';
export * from './reduce.js';
export * from './indexing.js';
export * from './matmul.js';
export * from './nn.js';
