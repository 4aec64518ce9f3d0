// A read-only view of a model's layer tree, shared by the summary table and
// the diagram: Trax's printed tree (Branch shows its branches, not its
// internal Select + Parallel), with shapes from shape inference and each
// layer's own weights.
import { Layer, flattenWeightsAndState, isMarker, normalizeSignature } from '../layers/base.js';
import { ParallelLayer, inputsFromStack, outputsOntoStack } from '../layers/combinators.js';
import { ShapeDtype, type Signature } from '../shapes.js';
import type { Tensor } from '../engine/tensor.js';

export type NodeKind = 'leaf' | 'serial' | 'branch' | 'parallel' | 'other';

export interface LayerNode {
  layer: Layer;
  /** Trax's printed name; 'None' for an identity branch (as Trax prints it). */
  name: string;
  /** Child indices from the root in this view, e.g. '4/0/1'; '' for the root. */
  path: string;
  depth: number;
  kind: NodeKind;
  children: LayerNode[];
  /** From shape inference; null when no input signature was given or inference failed. */
  input: Signature | null;
  output: Signature | null;
  /** This layer's own weight arrays (combinators hold none of their own). */
  weights: Tensor[];
  /** Second occurrence of a shared layer: its weights are counted where it first appears. */
  shared: boolean;
  /** An empty Serial: passes its input through. */
  identity: boolean;
  params: number;
  /** Parameters of this layer and everything below it. */
  subtreeParams: number;
}

type Sig = Signature | null;

function isBranch(l: Layer): boolean {
  return l.name === 'Branch' && l.sublayers.length === 2 && l.sublayers[0].name.startsWith('Select[') &&
    l.sublayers[1] instanceof ParallelLayer;
}

function kindOf(l: Layer): NodeKind {
  if (isBranch(l)) return 'branch';
  if (l.sublayers.length === 0) return 'leaf';
  if (l.name === 'Serial' || l.constructor.name === 'SerialLayer') return 'serial';
  if (l instanceof ParallelLayer) return 'parallel';
  return 'other';
}

function toStack(x: Signature, n: number): Signature[] {
  if (n === 0) return [];
  if (n === 1) return [x];
  return [...(x as Signature[])];
}

function fromStack(stack: unknown[]): Signature {
  return (stack.length === 1 ? stack[0] : stack) as Signature;
}

function safeOutput(l: Layer, sig: Sig): Sig {
  if (sig === null) return null;
  try { return l.outputSignature(sig) as Signature; } catch { return null; }
}

/** The child weights of a combinator's weights tree (markers propagate down). */
function childWeights(w: unknown, i: number): unknown {
  if (isMarker(w)) return w;
  return Array.isArray(w) ? w[i] : undefined;
}

function hasWeightArrays(model: Layer): boolean {
  return flattenWeightsAndState(model.weights, [])[0].length > 0;
}

/**
 * Builds the tree view. With an input signature, every node gets its input
 * and output shapes; a model without weights yet is initialized first.
 */
export function layerTree(model: Layer, inputSignature?: Signature | Signature[] | null): LayerNode {
  const sig = inputSignature ? normalizeSignature(inputSignature) : null;
  if (sig && !hasWeightArrays(model)) model.init(sig);
  const root = visit(model, model.weights, sig, 0, '', null);
  return root.node;
}

function visit(layer: Layer, w: unknown, sig: Sig, depth: number, path: string, parentKind: NodeKind | null): { node: LayerNode; out: Sig } {
  const kind = kindOf(layer);
  const shared = isMarker(w);
  const identity = layer.sublayers.length === 0 && layer.name === 'Serial';
  const node: LayerNode = {
    layer, name: identity && parentKind === 'branch' ? 'None' : layer.printName(), path, depth, kind,
    children: [], input: sig, output: null, weights: [], shared, identity, params: 0, subtreeParams: 0,
  };
  const childPath = (i: number) => (path === '' ? String(i) : `${path}/${i}`);
  let out: Sig = null;
  if (kind === 'leaf') {
    node.weights = shared ? [] : flattenWeightsAndState(w, [])[0];
    node.params = node.weights.reduce((s, t) => s + t.size, 0);
    out = identity ? sig : safeOutput(layer, sig);
  } else if (kind === 'serial') {
    let stack: Sig[] | null = sig !== null ? toStack(sig, layer.nIn) : null;
    layer.sublayers.forEach((sub, i) => {
      const inputs = stack ? inputsFromStack(stack, sub.nIn) as Signature : null;
      const r = visit(sub, childWeights(w, i), inputs, depth + 1, childPath(i), kind);
      node.children.push(r.node);
      stack = stack && r.out !== null ? outputsOntoStack(r.out as never, stack, sub.nIn, sub.nOut) as Sig[] : null;
    });
    out = stack ? fromStack(stack) : null;
  } else if (kind === 'branch') {
    // Branch is Serial(Select, Parallel): show the Parallel's layers as its children.
    const [sel, par] = layer.sublayers;
    let stack: Sig[] | null = sig !== null ? toStack(sig, layer.nIn) : null;
    if (stack) {
      const selOut = safeOutput(sel, inputsFromStack(stack, sel.nIn) as Signature);
      stack = selOut !== null ? outputsOntoStack(selOut as never, stack, sel.nIn, sel.nOut) as Sig[] : null;
    }
    const parIn = stack ? toStack(inputsFromStack(stack, par.nIn) as Signature, par.nIn) : null;
    const outs = visitLanes(node, par, childWeights(w, 1), parIn, depth, childPath);
    out = stack && outs ? fromStack(outputsOntoStack(fromStack(outs) as never, stack, par.nIn, par.nOut)) : null;
  } else if (kind === 'parallel') {
    const outs = visitLanes(node, layer, w, sig !== null ? toStack(sig, layer.nIn) : null, depth, childPath);
    out = outs ? fromStack(outs) : null;
  } else {
    // Scan, Cond and user combinators: shapes for the layer as a whole only;
    // Cache passes its input straight to its one layer.
    const passThrough = layer.name === 'Cache' && layer.sublayers.length === 1;
    layer.sublayers.forEach((sub, i) => {
      node.children.push(visit(sub, childWeights(w, i), passThrough ? sig : null, depth + 1, childPath(i), kind).node);
    });
    out = safeOutput(layer, sig);
  }
  node.output = out;
  node.subtreeParams = node.params + node.children.reduce((s, c) => s + c.subtreeParams, 0);
  return { node, out };
}

/** Side-by-side children of a Parallel, each on its slice of the stack. */
function visitLanes(node: LayerNode, par: Layer, w: unknown, stack: Sig[] | null, depth: number,
  childPath: (i: number) => string): Sig[] | null {
  let pos = 0;
  let outs: Sig[] | null = stack ? [] : null;
  par.sublayers.forEach((sub, i) => {
    const inputs = stack ? inputsFromStack(stack.slice(pos, pos + sub.nIn), sub.nIn) as Signature : null;
    pos += sub.nIn;
    const r = visit(sub, childWeights(w, i), inputs, depth + 1, childPath(i), node.kind);
    node.children.push(r.node);
    if (outs && r.out !== null) outs.push(...(sub.nOut === 1 ? [r.out] : toStack(r.out, sub.nOut)));
    else outs = null;
  });
  return outs;
}

/** Depth-first, parents before children: the order rows and diagram elements use. */
export function flattenTree(root: LayerNode): LayerNode[] {
  const out: LayerNode[] = [];
  const walk = (nd: LayerNode) => { out.push(nd); nd.children.forEach(walk); };
  walk(root);
  return out;
}

/** Serial[Branch[None, body], Add]: what Trax's Residual builds. */
export function isResidual(nd: LayerNode): boolean {
  if (nd.kind !== 'serial' || nd.children.length !== 2) return false;
  const [b, add] = nd.children;
  return b.kind === 'branch' && b.children.length === 2 && b.children[0].identity &&
    add.kind === 'leaf' && add.layer.name === 'Add';
}

/** '(1, 10) int32'; several values as '[(1, 10) int32, (1, 10) int32]'. */
export function formatSignature(sig: Sig, withDtype = true): string {
  if (sig === null) return '?';
  if (sig instanceof ShapeDtype) {
    const s = sig.shape.length === 1 ? `(${sig.shape[0]},)` : `(${sig.shape.join(', ')})`;
    return withDtype && sig.dtype !== 'float32' ? `${s} ${sig.dtype}` : s;
  }
  return `[${(sig as Signature[]).map((x) => formatSignature(x, withDtype)).join(', ')}]`;
}

/** A structural key: equal keys mean the same architecture (for collapsing repeats). */
export function structureKey(nd: LayerNode): string {
  const shapes = nd.weights.map((t) => t.shape.join('x')).join(',');
  return `${nd.name}{${shapes}}(${nd.children.map(structureKey).join(';')})`;
}
