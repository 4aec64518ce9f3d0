// The tensor ops (numpy/JAX-like), split by family under ops/; see
// docs/engine.md. Fused and neural-network ops are in ops/nn.ts (also
// re-exported by fused.ts).
import { _setTapeHelpers } from './tape.js';
import { cast } from './ops/elementwise.js';
import { onesLike, zerosLike } from './ops/creation.js';
import { add } from './ops/elementwise.js';
import { reshape } from './ops/shape.js';
import { tensorHooks } from './tensor.js';

export { opError } from './ops/util.js';
export * from './ops/creation.js';
export * from './ops/elementwise.js';
export * from './ops/shape.js';
export * from './ops/reduce.js';
export * from './ops/indexing.js';
export * from './ops/matmul.js';

_setTapeHelpers(add, onesLike, zerosLike);
tensorHooks.cast = cast;
tensorHooks.reshape = reshape;
