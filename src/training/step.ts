// The training step shared by Trainer and Loop: value and gradient of
// model + loss with respect to the model's flat weights, then one optimizer
// update. Random key, learning rate and step number are inputs, so a traced
// (jit) version of this function can replay it for any step.
import type { Layer, State, Weights } from '../layers/base.js';
import type { Optimizer, Slot } from '../optimizers/base.js';
import { withBufferScope } from '../engine/pool.js';
import type { PRNGKey } from '../engine/random.js';
import { valueAndGrad } from '../engine/tape.js';
import type { Tensor } from '../engine/tensor.js';

/** What a step reads and replaces: the trainable weights, the optimizer's slots and the model's state. */
export interface TrainState {
  flatWeights: Tensor[];
  slots: Slot[];
  modelState: State;
}

/** The fixed parts of a step: Serial(model, loss), the loss layer's weights and state, the optimizer. */
export interface TrainStepModel {
  /** Serial(model, lossLayer); its pureFn takes [modelWeights, lossWeights]. */
  withLoss: Layer;
  /** Rebuilds the model's weight tree from the flat trainable list. */
  weightsTree: (flat: Tensor[]) => Weights;
  lossWeights: Weights;
  lossState: State;
  optimizer: Optimizer;
  /** Names the loss in the non-finite error, e.g. 'Trainer: loss'. */
  lossLabel: string;
}

export interface TrainStepResult {
  loss: number;
  state: TrainState;
}

/**
 * One gradient step on one batch. Intermediates come from the buffer pool and
 * go back to it when the step ends; the new weights, slots and state are kept.
 * Throws when the loss is not finite, before the weights are touched.
 */
export function trainStep(m: TrainStepModel, s: TrainState, batch: Tensor[], rng: PRNGKey, lr: number, step: number): TrainStepResult {
  return withBufferScope(() => {
    const modelState = s.modelState;
    const [[loss, newState], grads] = valueAndGrad((flat: Tensor[]) => {
      const [out, st] = m.withLoss.pureFn(batch, [m.weightsTree(flat), m.lossWeights], [modelState, m.lossState], rng);
      return [out as Tensor, st] as [Tensor, State];
    }, { hasAux: true })(s.flatWeights);
    const lossValue = loss.item();
    if (!Number.isFinite(lossValue)) {
      throw new Error(`${m.lossLabel} became ${lossValue} at step ${step}; lower the learning rate or check the data`);
    }
    const { weights, slots } = m.optimizer.treeUpdate(step, grads as Tensor[], s.flatWeights, s.slots, { learning_rate: lr });
    return { loss: lossValue, state: { flatWeights: weights, slots, modelState: (newState as State[])[0] } };
  }, (r) => r.state);
}
