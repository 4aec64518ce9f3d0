// The evaluation shared by Trainer and Loop: run the eval model on a batch's
// inputs and every metric layer on its outputs plus the batch's remaining
// fields, averaged over a number of batches.
import type { Layer, State, Value, Weights } from '../layers/base.js';
import { disposeReplaced, withBufferScope } from '../engine/pool.js';
import type { PRNGKey } from '../engine/random.js';
import type { Tensor } from '../engine/tensor.js';
import { yieldToEventLoop } from './yield.js';

export interface EvaluateOptions {
  model: Layer;
  weights: Weights;
  state: State;
  metrics: Layer[];
  nBatches: number;
  /** The b-th batch (0-based) of this evaluation. */
  nextBatch: (b: number) => Promise<Tensor[]>;
  /** The random key for the b-th batch. */
  rng: (b: number) => PRNGKey;
  /** Whether each batch sees the model state the previous batch left (Loop) or the same state (Trainer). */
  carryState: boolean;
  signal?: AbortSignal;
}

/** Mean of each metric over nBatches batches, and the model state after them. */
export async function evaluateMetrics(o: EvaluateOptions): Promise<{ means: number[]; state: State }> {
  const sums = new Array<number>(o.metrics.length).fill(0);
  const nIn = o.model.nIn;
  let state = o.state;
  for (let b = 0; b < o.nBatches; b++) {
    await yieldToEventLoop();
    o.signal?.throwIfAborted();
    const batch = await o.nextBatch(b);
    const rng = o.rng(b);
    const x: Value = nIn === 1 ? batch[0] : batch.slice(0, nIn);
    // Pooled buffers per batch: only the metric values and the model state
    // leave the scope; the values are read (from any backend) after it.
    const { values, state: newState } = withBufferScope(() => {
      const [y, s] = o.model.pureFn(x, o.weights, state, rng);
      const stack = [...(Array.isArray(y) ? y as Tensor[] : [y as Tensor]), ...batch.slice(nIn)];
      const values = o.metrics.map((m) => {
        const args = stack.slice(0, m.nIn);
        return m.pureFn(args.length === 1 ? args[0] : args, m.weights, m.state, rng)[0] as Tensor;
      });
      return { values, state: s };
    });
    for (let k = 0; k < values.length; k++) sums[k] += (await values[k].data())[0];
    // A metric may hand back a tensor it was given (or share one): free only what nothing else holds.
    disposeReplaced(values, newState, [batch, o.weights, state]);
    if (o.carryState) state = newState;
  }
  return { means: sums.map((s) => s / o.nBatches), state };
}
