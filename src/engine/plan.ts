// A traced kernel sequence (the plan fastmath.jit replays) and its executors.
// The plan is backend-neutral: kernel names from the kernel interface,
// buffers by index (the function's inputs, storage kept from outside,
// constants, and temporaries the executor allocates once), scalar
// attributes either literal or taken per call from the inputs. The host
// executor loops over the backend's kernels; the native one hands the whole
// plan to the addon once and then runs it in one call per replay.
import type { Backend, PlanExecutorApi } from '../backends/backend.js';
import type { Kernels } from '../backends/kernels.js';
import type { HostArray, DType } from './tensor.js';
import type { TreeDef } from './tree.js';

/** A scalar attribute's source at replay: a numeric input, or one word of a derived key. */
export type Dyn = { k: 'num'; leaf: number } | { k: 'key'; node: number; word: 0 | 1 }
  /** f(numeric input): a host scalar derived from an input (derivedScalar). */
  | { k: 'fn'; leaf: number; f: (x: number) => number };

export type PlanBuffer =
  | { kind: 'input'; leaf: number; bytes: number }
  | { kind: 'external'; bytes: number; storage: ArrayBuffer }
  | { kind: 'temp'; bytes: number }
  /** Filled on the host before the trace's first kernel read it; reset before each run when kernels write it. */
  | { kind: 'const'; bytes: number; init: Uint8Array | null; reset: boolean }
  /** Every element set to a numeric input before each run (float32 when ty is 0, else int32). */
  | { kind: 'fill'; bytes: number; from: number; ty: 0 | 1 };

/** ty: 0 float32, 1 int32, 2 uint8; off in bytes, len in elements. */
export type PlanArg =
  | { k: 'lit'; v: number | boolean | null | undefined }
  | { k: 'meta'; v: Int32Array }
  | { k: 'buf'; buf: number; off: number; len: number; ty: 0 | 1 | 2 }
  | { k: 'dyn'; src: Dyn };

/** site: where the traced call was made (formatted on demand for messages). */
export interface PlanStep { kernel: string; args: PlanArg[]; site: { toString(): string } }

export interface PlanKey {
  kind: 'in' | 'split' | 'fold';
  leaf: number; parent: number; n: number; i: number; data: number;
  dataFrom: Dyn | null;
}

export type PlanOut =
  | { k: 'value'; v: unknown }
  | { k: 'tensor'; buf: number; off: number; len: number; ty: 0 | 1 | 2; shape: number[]; dtype: DType };

export interface Plan {
  bufs: PlanBuffer[];
  steps: PlanStep[];
  keys: PlanKey[];
  outs: PlanOut[];
  outDef: TreeDef;
}

export interface Executor {
  /** Runs the plan; scalar(d) gives each dynamic attribute's value for this call. */
  run(inputs: readonly (HostArray | null)[], scalar: (d: Dyn) => number): void;
  /** A view of plan buffer `buf` after a run. */
  view(buf: number, off: number, len: number, ty: 0 | 1 | 2, inputs: readonly (HostArray | null)[]): ArrayBufferView;
}

const CTORS = [Float32Array, Int32Array, Uint8Array] as const;
function makeView(ab: ArrayBuffer, off: number, len: number, ty: 0 | 1 | 2): ArrayBufferView {
  return new CTORS[ty](ab, off, len);
}

const executors = new WeakMap<Plan, Map<Backend, Executor>>();

/** The executor of plan on a backend (made once, then reused). */
export function planFor(plan: Plan, backend: Backend): Executor {
  let m = executors.get(plan);
  if (!m) { m = new Map(); executors.set(plan, m); }
  let e = m.get(backend);
  if (!e) {
    const api = backend.planExecutor;
    e = api && process.env.TRAX_JIT_NATIVE !== '0' ? segmentedExecutor(plan, backend.kernels, api) : hostExecutor(plan, backend.kernels);
    m.set(backend, e);
  }
  return e;
}

/** Storage for every non-input buffer, and the constants to restore before each run. */
function storageOf(plan: Plan): { store: (ArrayBuffer | null)[]; resets: [Uint8Array, Uint8Array | null][]; fills: Fill[] } {
  const resets: [Uint8Array, Uint8Array | null][] = [];
  const fills: Fill[] = [];
  const store = plan.bufs.map((b) => {
    switch (b.kind) {
      case 'input': return null;
      case 'external': return b.storage;
      case 'temp': return new ArrayBuffer(b.bytes);
      case 'fill': {
        const ab = new ArrayBuffer(b.bytes);
        fills.push({ view: b.ty === 0 ? new Float32Array(ab) : new Int32Array(ab), dyn: { k: 'num', leaf: b.from } });
        return ab;
      }
      case 'const': {
        const ab = new ArrayBuffer(b.bytes);
        if (b.init) new Uint8Array(ab).set(b.init);
        if (b.reset) resets.push([new Uint8Array(ab), b.init]);
        return ab;
      }
    }
  });
  return { store, resets, fills };
}

interface Fill { view: Float32Array | Int32Array; dyn: Dyn }

function applyResets(resets: [Uint8Array, Uint8Array | null][], fills: Fill[], scalar: (d: Dyn) => number): void {
  for (const [dst, init] of resets) {
    if (init) dst.set(init); else dst.fill(0);
  }
  for (const f of fills) f.view.fill(scalar(f.dyn));
}

function inputView(x: HostArray, off: number, len: number, ty: 0 | 1 | 2): ArrayBufferView {
  if (off === 0 && x.length === len && x instanceof CTORS[ty]) return x;
  return makeView(x.buffer as ArrayBuffer, x.byteOffset + off, len, ty);
}

type Scalar = (d: Dyn) => number;
type Store = (ArrayBuffer | null)[];
/** A run of steps: given this call's inputs and scalars, runs them. */
type Segment = (inputs: readonly (HostArray | null)[], scalar: Scalar) => void;

/** Steps [from, to) as calls of the backend's kernels. */
function hostSegment(plan: Plan, kern: Kernels, store: Store, from: number, to: number): Segment {
  type Patch = { pos: number; leaf: number; off: number; len: number; ty: 0 | 1 | 2 } | { pos: number; dyn: Dyn };
  const steps = plan.steps.slice(from, to).map((s) => {
    const fn = (kern as unknown as Record<string, (...a: unknown[]) => unknown>)[s.kernel];
    if (typeof fn !== 'function') throw new Error(`jit: the backend has no kernel ${s.kernel}`);
    const args: unknown[] = [];
    const patches: Patch[] = [];
    s.args.forEach((a, pos) => {
      switch (a.k) {
        case 'lit': args.push(a.v); break;
        case 'meta': args.push(a.v); break;
        case 'dyn': args.push(0); patches.push({ pos, dyn: a.src }); break;
        case 'buf': {
          const b = plan.bufs[a.buf];
          if (b.kind === 'input') { args.push(null); patches.push({ pos, leaf: b.leaf, off: a.off, len: a.len, ty: a.ty }); }
          else args.push(makeView(store[a.buf]!, a.off, a.len, a.ty));
          break;
        }
      }
    });
    return { fn, args, patches };
  });
  return (inputs, scalar) => {
    for (const s of steps) {
      for (const p of s.patches) {
        s.args[p.pos] = 'dyn' in p ? scalar(p.dyn) : inputView(inputs[p.leaf]!, p.off, p.len, p.ty);
      }
      s.fn.apply(kern, s.args);
    }
  };
}

// Serialised form for a backend's plan executor (native/plan.cc reads it):
//   code: per step [kernelId, nArgs, then per argument a tag and its payload]
//     0 null | 1 number (index into lits) | 2 boolean (0/1) | 3 dynamic scalar (slot)
//     4 buffer (buffer, byte offset, byte length) | 5 input (input slot, byte offset, byte length)
//     6 metadata (offset into meta, length)
//   kernel ids are positions in the executor's kernel list.
function executorSegment(plan: Plan, api: PlanExecutorApi, store: Store, from: number, to: number): Segment | null {
  const code: number[] = [], lits: number[] = [], meta: number[] = [];
  const slots: Dyn[] = [];
  const slotKey = new Map<unknown, number>();
  const inputLeaves: number[] = [];
  const inputSlot = new Map<number, number>();
  const big = (v: number): boolean => !(v >= 0 && v <= 0x7fffffff);
  for (const s of plan.steps.slice(from, to)) {
    code.push(api.kernels.indexOf(s.kernel), s.args.length);
    for (const a of s.args) {
      switch (a.k) {
        case 'lit':
          if (a.v === null || a.v === undefined) code.push(0);
          else if (typeof a.v === 'boolean') code.push(2, a.v ? 1 : 0);
          else { code.push(1, lits.length); lits.push(a.v); }
          break;
        case 'meta': code.push(6, meta.length, a.v.length); meta.push(...a.v); break;
        case 'dyn': {
          const key: unknown = a.src.k === 'fn' ? a.src : JSON.stringify(a.src);
          let slot = slotKey.get(key);
          if (slot === undefined) { slot = slots.length; slots.push(a.src); slotKey.set(key, slot); }
          code.push(3, slot);
          break;
        }
        case 'buf': {
          const bytes = a.len * [4, 4, 1][a.ty];
          if (big(a.off) || big(bytes)) return null;
          const b = plan.bufs[a.buf];
          if (b.kind === 'input') {
            let slot = inputSlot.get(b.leaf);
            if (slot === undefined) { slot = inputLeaves.length; inputLeaves.push(b.leaf); inputSlot.set(b.leaf, slot); }
            code.push(5, slot, a.off, bytes);
          } else code.push(4, a.buf, a.off, bytes);
          break;
        }
      }
    }
  }
  const handle = api.create(Int32Array.from(code), Float64Array.from(lits), Int32Array.from(meta),
    store.map((ab) => (ab ? new Uint8Array(ab) : null)), inputLeaves.length, slots.length);
  const ins: HostArray[] = new Array(inputLeaves.length);
  const scalars = new Float64Array(slots.length);
  return (inputs, scalar) => {
    for (let i = 0; i < inputLeaves.length; i++) ins[i] = inputs[inputLeaves[i]]!;
    for (let i = 0; i < slots.length; i++) scalars[i] = scalar(slots[i]);
    api.run(handle, ins, scalars);
  };
}

function executor(plan: Plan, store: Store, resets: [Uint8Array, Uint8Array | null][], fills: Fill[], segments: Segment[]): Executor {
  return {
    run(inputs, scalar) {
      applyResets(resets, fills, scalar);
      for (const seg of segments) seg(inputs, scalar);
    },
    view(buf, off, len, ty, inputs) {
      const b = plan.bufs[buf];
      if (b.kind === 'input') return inputView(inputs[b.leaf]!, off, len, ty);
      return makeView(store[buf]!, off, len, ty);
    },
  };
}

/** Loops over the steps, calling the backend's kernels (any backend). */
function hostExecutor(plan: Plan, kern: Kernels): Executor {
  const { store, resets, fills } = storageOf(plan);
  return executor(plan, store, resets, fills, [hostSegment(plan, kern, store, 0, plan.steps.length)]);
}

/**
 * Runs of steps the backend's plan executor implements go to it, one call
 * per run (the whole plan when it implements every kernel in it); the
 * steps between run as kernel calls.
 */
function segmentedExecutor(plan: Plan, kern: Kernels, api: PlanExecutorApi): Executor {
  const { store, resets, fills } = storageOf(plan);
  const segments: Segment[] = [];
  let i = 0;
  const n = plan.steps.length;
  while (i < n) {
    const native = api.kernels.includes(plan.steps[i].kernel);
    let j = i + 1;
    while (j < n && api.kernels.includes(plan.steps[j].kernel) === native) j++;
    const seg = native ? executorSegment(plan, api, store, i, j) : null;
    segments.push(seg ?? hostSegment(plan, kern, store, i, j));
    i = j;
  }
  return executor(plan, store, resets, fills, segments);
}
