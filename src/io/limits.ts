/**
 * Bounds on what loading a file may cost, so a small hostile file cannot make
 * a process hang, abort or use gigabytes of memory.
 *
 * maxBytes bounds decompressed data and the array bytes a file may produce.
 * By default it is derived from the file: 32 MiB, or 32 times the file's size
 * when that is larger (real checkpoints compress by far less), or the size the
 * model needs when the caller knows it. `TRAX_TS_MAX_LOAD_BYTES` (bytes)
 * raises the default for every load, e.g. for a checkpoint of mostly zeros.
 */

import { env } from '../platform/host.js';

export interface LoadLimits {
  /** Largest decompressed size and total array bytes a file may produce. */
  maxBytes?: number;
  /** Most leaves (arrays and values) a weights/state/slots tree may expand to. */
  maxLeaves?: number;
  /** Deepest nesting of lists, tuples and dicts. */
  maxDepth?: number;
}

export const DEFAULT_MIN_BYTES = 32 * 2 ** 20;
export const DEFAULT_RATIO = 32;
export const DEFAULT_MAX_LEAVES = 1_000_000;
export const DEFAULT_MAX_DEPTH = 200;
/** No checkpoint needs a Python int wider than this (in bytes). */
export const MAX_INT_BYTES = 1024;

function envBytes(): number | undefined {
  const v = env('TRAX_TS_MAX_LOAD_BYTES');
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** The byte cap for a file of fileSize bytes, given what the caller expects. */
export function maxBytesFor(fileSize: number, limits: LoadLimits = {}, expectedBytes = 0): number {
  if (limits.maxBytes !== undefined) return limits.maxBytes;
  const derived = Math.max(DEFAULT_MIN_BYTES, DEFAULT_RATIO * fileSize, expectedBytes);
  return Math.max(derived, envBytes() ?? 0);
}

/** Error for a load that went over a limit, saying which and how to raise it. */
export function limitError(file: string, what: string, limit: number, unit = 'bytes'): Error {
  const how = unit === 'bytes' ? 'the maxBytes option or TRAX_TS_MAX_LOAD_BYTES' : 'the maxLeaves option';
  return new Error(`${file}: ${what} exceeds the load limit of ${limit} ${unit}; if the file is trusted, raise it with ${how}`);
}

export interface TreeCount {
  leaves: number;
  bytes: number;
}

/**
 * Counts the leaves a nested list/tuple tree expands to, and their array
 * bytes, without expanding it: a subtree shared many times (through the
 * pickle memo) is counted once and multiplied. Refuses cycles and deep
 * nesting with an error naming the path (e.g. flat_weights[3][0]).
 */
export function countTree(root: unknown, where: string, file: string, limits: LoadLimits & { maxBytes: number }): TreeCount {
  const maxLeaves = limits.maxLeaves ?? DEFAULT_MAX_LEAVES;
  const maxDepth = limits.maxDepth ?? DEFAULT_MAX_DEPTH;
  const memo = new Map<object, TreeCount>();
  const onPath = new Set<object>();
  const visit = (x: unknown, path: string, depth: number): TreeCount => {
    if (!Array.isArray(x)) {
      const d = (x as { data?: unknown } | null)?.data;
      return { leaves: 1, bytes: ArrayBuffer.isView(d) ? d.byteLength : 0 };
    }
    const seen = memo.get(x);
    if (seen) return seen;
    if (onPath.has(x)) throw new Error(`${file}: ${path} contains itself (a cycle), which no checkpoint holds`);
    if (depth > maxDepth) throw new Error(`${file}: ${path} is nested more than ${maxDepth} levels deep`);
    onPath.add(x);
    const c: TreeCount = { leaves: 0, bytes: 0 };
    for (let i = 0; i < x.length; i++) {
      const s = visit(x[i], `${path}[${i}]`, depth + 1);
      c.leaves += s.leaves;
      c.bytes += s.bytes;
      if (c.leaves > maxLeaves) throw limitError(file, `${where} (expanding shared references)`, maxLeaves, 'leaves');
      if (c.bytes > limits.maxBytes) throw limitError(file, `the arrays of ${where} (expanding shared references)`, limits.maxBytes);
    }
    onPath.delete(x);
    memo.set(x, c);
    return c;
  };
  return visit(root, where, 0);
}

/**
 * Refuses cycles and deep nesting anywhere in a loaded value (dicts, Maps,
 * Sets, arrays), visiting each object once.
 */
export function checkAcyclic(root: unknown, where: string, file: string, maxDepth = DEFAULT_MAX_DEPTH): void {
  const done = new Set<object>();
  const onPath = new Set<object>();
  const visit = (x: unknown, path: string, depth: number): void => {
    if (typeof x !== 'object' || x === null || ArrayBuffer.isView(x)) return;
    if (onPath.has(x)) throw new Error(`${file}: ${path} contains itself (a cycle), which no checkpoint holds`);
    if (done.has(x)) return;
    if (depth > maxDepth) throw new Error(`${file}: ${path} is nested more than ${maxDepth} levels deep`);
    onPath.add(x);
    if (Array.isArray(x)) x.forEach((v, i) => visit(v, `${path}[${i}]`, depth + 1));
    else if (x instanceof Map) for (const [k, v] of x) { visit(k, `${path} key`, depth + 1); visit(v, `${path}[${String(k)}]`, depth + 1); }
    else if (x instanceof Set) for (const v of x) visit(v, `${path} item`, depth + 1);
    else for (const k of Object.keys(x)) visit((x as Record<string, unknown>)[k], `${path}.${k}`, depth + 1);
    onPath.delete(x);
    done.add(x);
  };
  visit(root, where, 0);
}
