// Pytrees: nested arrays and plain objects whose leaves are tensors (or
// anything else). Flattening is depth-first, left to right, object keys in
// sorted order, as JAX does; this order is what checkpoints depend on.
import { Tensor } from './tensor.js';

export type Tree<T = Tensor> = T | readonly Tree<T>[] | { readonly [k: string]: Tree<T> } | null | undefined;

export interface TreeDef { kind: 'leaf' | 'array' | 'object' | 'none'; keys?: string[]; children?: TreeDef[]; }

/** An object literal (or null-prototype object): a pytree node, not a leaf. */
export function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

export function treeFlatten<T = Tensor>(tree: unknown, isLeaf: (x: unknown) => boolean = (x) => x instanceof Tensor): { leaves: T[]; def: TreeDef } {
  const leaves: T[] = [];
  const walk = (node: unknown): TreeDef => {
    if (node === null || node === undefined) return { kind: 'none' };
    if (isLeaf(node)) { leaves.push(node as T); return { kind: 'leaf' }; }
    if (Array.isArray(node)) return { kind: 'array', children: node.map(walk) };
    if (isPlainObject(node)) {
      const keys = Object.keys(node).sort();
      return { kind: 'object', keys, children: keys.map((k) => walk(node[k])) };
    }
    leaves.push(node as T);
    return { kind: 'leaf' };
  };
  const def = walk(tree);
  return { leaves, def };
}

export function treeUnflatten<T = Tensor>(def: TreeDef, leaves: readonly T[]): unknown {
  let i = 0;
  const build = (d: TreeDef): unknown => {
    switch (d.kind) {
      case 'none': return null;
      case 'leaf':
        if (i >= leaves.length) throw new Error(`treeUnflatten: too few leaves (${leaves.length})`);
        return leaves[i++];
      case 'array': return d.children!.map(build);
      case 'object': {
        const o: Record<string, unknown> = {};
        d.keys!.forEach((k, j) => { o[k] = build(d.children![j]); });
        return o;
      }
    }
  };
  const out = build(def);
  if (i !== leaves.length) throw new Error(`treeUnflatten: ${leaves.length} leaves given, tree holds ${i}`);
  return out;
}

export function treeLeaves<T = Tensor>(tree: unknown): T[] {
  return treeFlatten<T>(tree).leaves;
}

export function treeMap<A = Tensor, B = Tensor>(tree: unknown, fn: (leaf: A, i: number) => B): unknown {
  const { leaves, def } = treeFlatten<A>(tree);
  return treeUnflatten(def, leaves.map(fn));
}
