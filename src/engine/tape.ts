// Reverse-mode autodiff with a tape, JAX-style on the outside:
// grad(f) / valueAndGrad(f) take a function of a tree of tensors and return
// gradients with the same tree structure. Ops record a backward closure only
// while a tape is active and one of their inputs is tracked, so inference
// pays nothing.
import { Tensor } from './tensor.js';
import { treeFlatten, treeUnflatten } from './tree.js';

/** Backward closure: output cotangent -> one cotangent (or null) per input. */
export type Backward = (dy: Tensor) => (Tensor | null)[];

interface Node { inputs: Tensor[]; out: Tensor; backward: Backward }

let tape: Node[] | null = null;
// Set by ops.ts to break an import cycle: adds two float tensors.
let addFn: ((a: Tensor, b: Tensor) => Tensor) | null = null;
let onesLike: ((t: Tensor) => Tensor) | null = null;
let zerosLike: ((t: Tensor) => Tensor) | null = null;
export function _setTapeHelpers(add: typeof addFn, ones: typeof onesLike, zeros: typeof zerosLike): void {
  addFn = add; onesLike = ones; zerosLike = zeros;
}

/** True when the op about to run must record itself. */
export function recording(inputs: readonly Tensor[]): boolean {
  if (tape === null) return false;
  for (const t of inputs) if (t._tracked) return true;
  return false;
}

/** Records an op's backward if any input is tracked; returns out. */
export function record(out: Tensor, inputs: Tensor[], backward: Backward): Tensor {
  if (tape !== null && recording(inputs)) {
    out._tracked = true;
    tape.push({ inputs, out, backward });
  }
  return out;
}

/** Runs fn with no tape: nothing inside is differentiated (stop_gradient). */
export function noGrad<T>(fn: () => T): T {
  const saved = tape;
  tape = null;
  try { return fn(); } finally { tape = saved; }
}

/** A tensor that shares x's storage but is cut off from the tape. */
export function stopGradient(x: Tensor): Tensor {
  return x._tracked ? new Tensor(x.storage, x.shape, x.dtype, x.backend) : x;
}

export interface ValueAndGradOptions {
  /** f returns [loss, aux]; aux is passed through untouched. */
  hasAux?: boolean;
}

function backprop(nodes: Node[], loss: Tensor, seeds: Tensor[]): Map<Tensor, Tensor> {
  const grads = new Map<Tensor, Tensor>();
  grads.set(loss, onesLike!(loss));
  for (let n = nodes.length - 1; n >= 0; n--) {
    const node = nodes[n];
    const g = grads.get(node.out);
    if (g === undefined) continue;
    grads.delete(node.out);
    const ins = node.backward(g);
    for (let i = 0; i < node.inputs.length; i++) {
      const x = node.inputs[i], gx = ins[i];
      if (!x._tracked || gx === null || gx === undefined) continue;
      if (gx.shape.length !== x.shape.length || gx.shape.some((d, j) => d !== x.shape[j])) {
        throw new Error(`internal autodiff error: gradient shape [${gx.shape}] for input of shape [${x.shape}]`);
      }
      const prev = grads.get(x);
      grads.set(x, prev === undefined ? gx : addFn!(prev, gx));
    }
  }
  for (const s of seeds) if (!grads.has(s)) grads.set(s, zerosLike!(s));
  return grads;
}

/**
 * valueAndGrad(f)(params, ...rest) -> [value, grads] (or [[value, aux], grads]
 * with hasAux). Gradients are taken with respect to the first argument only.
 */
export function valueAndGrad<P, R extends unknown[], Out>(
  f: (params: P, ...rest: R) => Out, opts: ValueAndGradOptions = {},
): (params: P, ...rest: R) => [Out, P] {
  return (params: P, ...rest: R): [Out, P] => {
    const { leaves, def } = treeFlatten<Tensor>(params, (x) => x instanceof Tensor);
    const seeds = leaves.map((t) => {
      if (!(t instanceof Tensor)) throw new TypeError(`valueAndGrad: parameter leaves must be tensors, got ${typeof t}`);
      const s = new Tensor(t.storage, t.shape, t.dtype, t.backend);
      s._tracked = t.dtype === 'float32';
      return s;
    });
    const saved = tape;
    const local: Node[] = [];
    tape = local;
    let out: Out;
    try {
      out = f(treeUnflatten(def, seeds) as P, ...rest);
    } finally {
      tape = saved;
    }
    const loss = opts.hasAux ? (out as unknown as unknown[])[0] : out;
    if (!(loss instanceof Tensor)) throw new TypeError('valueAndGrad: f must return a scalar tensor' + (opts.hasAux ? ' as the first element of [loss, aux]' : ''));
    if (loss.size !== 1 || loss.dtype !== 'float32') {
      throw new TypeError(`valueAndGrad: f must return a float32 scalar, got shape [${loss.shape}] ${loss.dtype}`);
    }
    const grads = loss._tracked ? backprop(local, loss, seeds) : new Map(seeds.map((s) => [s, zerosLike!(s)] as const));
    const g = seeds.map((s) => grads.get(s) ?? zerosLike!(s));
    // Results handed back to the user are plain (untracked) tensors.
    loss._tracked = false;
    return [out, treeUnflatten(def, g) as P];
  };
}

/** grad(f)(params, ...rest) -> gradient tree (with hasAux: [grads, aux]). */
export function grad<P, R extends unknown[], Out>(f: (params: P, ...rest: R) => Out, opts: ValueAndGradOptions = {}) {
  const vg = valueAndGrad(f, opts);
  return (params: P, ...rest: R): P | [P, unknown] => {
    const [out, g] = vg(params, ...rest);
    return opts.hasAux ? [g, (out as unknown as unknown[])[1]] : g;
  };
}
