// A block that keeps a Serial's tree (printout, weights, state and the keys
// each sublayer gets) but computes its output with fused ops and supplies
// its own backward (Trax's hasBackward hook): the autodiff sees the block as
// one node instead of differentiating every op inside it.
import { Tensor } from '../engine/tensor.js';
import * as random from '../engine/random.js';
import type { PRNGKey } from '../engine/random.js';
import { vjp } from '../engine/tape.js';
import { tensorLeaves, type State, type Value, type Weights } from './base.js';
import { SerialLayer, type LayerArg } from './combinators.js';

type Pullback = (dy: Tensor) => (Tensor | null)[];

export abstract class FusedBlockLayer extends SerialLayer {
  // Each output's pullback, kept from the forward call that made it.
  private readonly pullbacks = new WeakMap<Tensor, Pullback>();

  constructor(layers: LayerArg[]) {
    super(layers);
  }

  override get hasBackward(): boolean { return true; }

  /**
   * The block's one forward path. `weights` is the block's weights tree (its
   * tensors may be tracked copies), `rngs` the keys Serial would hand the
   * sublayers. Returns the output and the new state tree.
   */
  protected abstract compute(x: Tensor, weights: Weights[], state: State[], rngs: PRNGKey[]): [Tensor, State[]];

  override forward(xs: Value): Value {
    if (!(xs instanceof Tensor)) throw new TypeError(`${this.name}: expected one tensor input`);
    const [y, newState, pullback] = this.run(xs, this.weights, this.state, this.rng, trackedAny(xs, this.weights));
    if (pullback) this.pullbacks.set(y, pullback);
    this.setPureState(newState);
    return y;
  }

  override backward(inputs: Value, output: Value, grad: Value, weights: Weights, state: State, _newState: State,
    rng: PRNGKey | null): [Value | null, Weights | null] {
    let pullback = output instanceof Tensor ? this.pullbacks.get(output) : undefined;
    if (!pullback) pullback = this.run(inputs as Tensor, weights, state, rng ?? this.rng, true)[2]!;
    const [dx, ...dw] = pullback(grad as Tensor);
    return [dx, fillLeaves(weights, dw, { i: 0 }) as Weights];
  }

  private run(x: Tensor, weights: Weights, state: State, rng: PRNGKey, withPullback: boolean): [Tensor, State[], Pullback | null] {
    const rngs = random.split(rng, this.sublayers.length);
    const w = weights as Weights[];
    let newState: State[] = [];
    if (!withPullback) {
      const [y, s] = this.compute(x, w, state as State[], rngs);
      return [y, s, null];
    }
    const [y, pullback] = vjp((xt, ...leaves) => {
      const [out, s] = this.compute(xt, fillLeaves(w, leaves, { i: 0 }) as Weights[], state as State[], rngs);
      newState = s;
      return out;
    }, [x, ...tensorLeaves(w)]);
    return [y, newState, pullback];
  }
}

function trackedAny(x: Tensor, weights: Weights): boolean {
  return x._tracked || tensorLeaves(weights).some((t) => t._tracked);
}

// `tree` with its tensor leaves replaced, in order, by `leaves`.
function fillLeaves(tree: unknown, leaves: readonly unknown[], at: { i: number }): unknown {
  if (tree instanceof Tensor) return leaves[at.i++];
  if (Array.isArray(tree)) return tree.map((t) => fillLeaves(t, leaves, at));
  return tree;
}
