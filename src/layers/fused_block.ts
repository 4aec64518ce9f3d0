// A block that keeps a Serial's tree (printout, weights, state and the keys
// each sublayer gets) but computes its output with fused ops and supplies
// its own backward (Trax's hasBackward hook): the autodiff sees the block as
// one node instead of differentiating every op inside it.
import { Tensor } from '../engine/tensor.js';
import * as random from '../engine/random.js';
import type { PRNGKey } from '../engine/random.js';
import { pullbackOf, vjp, type Pullback } from '../engine/tape.js';
import { tensorLeaves, type State, type Value, type Weights } from './base.js';
import { SerialLayer, type LayerArg } from './combinators.js';

export abstract class FusedBlockLayer extends SerialLayer {
  constructor(layers: LayerArg[]) {
    super(layers);
  }

  override get hasBackward(): boolean { return true; }

  /**
   * The block's one forward path. `weights` is the block's weights tree, `rngs`
   * the keys Serial would hand the sublayers. Returns the output and the new
   * state tree.
   */
  protected abstract compute(x: Tensor, weights: Weights[], state: State[], rngs: PRNGKey[]): [Tensor, State[]];

  override forward(xs: Value): Value {
    const [y, s] = this.compute(input(this.name, xs), this.weights as Weights[], this.state as State[], random.split(this.rng, this.sublayers.length));
    this.setPureState(s);
    return y;
  }

  // The pullback of the ops that compute ran, taken while they run.
  protected override forwardWithPullback(xs: Value, leaves: readonly Tensor[]): [Tensor, Pullback] {
    let newState: State[] = [];
    const [y, pullback] = pullbackOf(() => {
      const [out, s] = this.compute(input(this.name, xs), this.weights as Weights[], this.state as State[],
        random.split(this.rng, this.sublayers.length));
      newState = s;
      return out;
    }, leaves);
    this.setPureState(newState);
    return [y, pullback];
  }

  /** Trax's backward: recomputes the forward pass for its pullback. */
  override backward(inputs: Value, _output: Value, grad: Value, weights: Weights, state: State, _newState: State,
    rng: PRNGKey | null): [Value | null, Weights | null] {
    const rngs = random.split(rng ?? this.rng, this.sublayers.length);
    const [, pullback] = vjp((x, ...w) => this.compute(x, fillLeaves(weights, w, { i: 0 }) as Weights[], state as State[], rngs)[0],
      [input(this.name, inputs), ...tensorLeaves(weights)]);
    const [dx, ...dw] = pullback(grad as Tensor);
    return [dx, fillLeaves(weights, dw, { i: 0 }) as Weights];
  }
}

function input(name: string, xs: Value): Tensor {
  if (!(xs instanceof Tensor)) throw new TypeError(`${name}: expected one tensor input`);
  return xs;
}

// `tree` with its tensor leaves replaced, in order, by `leaves`.
function fillLeaves(tree: unknown, leaves: readonly unknown[], at: { i: number }): unknown {
  if (tree instanceof Tensor) return leaves[at.i++];
  if (Array.isArray(tree)) return tree.map((t) => fillLeaves(t, leaves, at));
  return tree;
}
