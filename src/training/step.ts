// The training step shared by Trainer and Loop: value and gradient of
// model + loss with respect to the model's flat weights, then one optimizer
// update. Random key, learning rate and step number are inputs, so a traced
// (jit) version of this function can replay it for any step.
import type { Layer, State, Weights } from '../layers/base.js';
import type { Optimizer, Slot } from '../optimizers/base.js';
import { withBufferScope } from '../engine/pool.js';
import type { PRNGKey } from '../engine/random.js';
import { valueAndGrad } from '../engine/tape.js';
import { jit } from '../engine/jit.js';
import { warn } from '../platform/host.js';
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

/** The step as a pure function of everything that changes between calls: what fastmath.jit traces. */
export type PureTrainStep = (flat: Tensor[], slots: Slot[], batch: Tensor[], modelState: State, lossState: State,
  rng: PRNGKey, lr: number, step: number) => [Tensor, Tensor[], Slot[], State];

/** Value and gradient of model + loss, then one optimizer update, with no reads of values. */
export function pureTrainStep(m: TrainStepModel): PureTrainStep {
  return (flat, slots, batch, modelState, lossState, rng, lr, step) => {
    const [[loss, newState], grads] = valueAndGrad((fw: Tensor[]) => {
      const [out, st] = m.withLoss.pureFn(batch, [m.weightsTree(fw), m.lossWeights], [modelState, lossState], rng);
      return [out as Tensor, st] as [Tensor, State];
    }, { hasAux: true })(flat);
    const upd = m.optimizer.treeUpdate(step, grads as Tensor[], flat, slots, { learning_rate: lr });
    return [loss, upd.weights, upd.slots, (newState as State[])[0]];
  };
}

/**
 * The step function Trainer and Loop call: pureTrainStep(model()) replayed
 * through fastmath.jit unless jit is false. model() is read at trace time, so
 * the caller's current layers and optimizer are the ones recorded.
 */
export function makeTrainStep(model: () => TrainStepModel, opts: { jit?: boolean; name: string; owner: string }): PureTrainStep {
  const pure: PureTrainStep = (...args) => pureTrainStep(model())(...args);
  return opts.jit === false ? pure : jit(pure, {
    name: opts.name,
    onUntraceable: (e) => warn(`${opts.owner}: training without jit: ${e.message}`, 'TRAX_JIT_FALLBACK'),
  });
}

/**
 * One gradient step on one batch. Intermediates come from the buffer pool and
 * go back to it when the step ends; the new weights, slots and state are kept.
 * Throws when the loss is not finite, before the weights are touched.
 */
export function trainStep(m: TrainStepModel, s: TrainState, batch: Tensor[], rng: PRNGKey, lr: number, step: number,
  fn: PureTrainStep = pureTrainStep(m)): TrainStepResult {
  return withBufferScope(() => {
    const [loss, weights, slots, modelState] = fn(s.flatWeights, s.slots, batch, s.modelState, m.lossState, rng, lr, step);
    const lossValue = loss.item();
    if (!Number.isFinite(lossValue)) {
      throw new Error(`${m.lossLabel} became ${lossValue} at step ${step}; lower the learning rate or check the data`);
    }
    return { loss: lossValue, state: { flatWeights: weights, slots, modelState } };
  }, (r) => r.state);
}
