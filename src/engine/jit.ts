// fastmath.jit: trace a pure function of tensors once per input signature,
// then replay the recorded kernel calls on preallocated buffers.
//
// Tracing hooks the kernel boundary: while the function runs eagerly, every
// kernel call goes through a recorder that notes the kernel, which buffers it
// reads and writes, and its scalar attributes. The function runs traced
// twice (its first two calls, both eager and exact); comparing the two
// recordings tells which attributes follow the inputs (numbers passed in,
// words of keys derived from key inputs) and proves that nothing else read
// on the host changes between calls. From the third call on, the recorded
// plan is replayed: on the native backend in one addon call, elsewhere by a
// loop over the backend's kernels. Replay runs the same kernels on the same
// arguments as eager execution, so its results are bit-identical.
import { backend as activeBackend, _setKernelOverride } from '../backends/index.js';
import type { Kernels } from '../backends/kernels.js';
import type { HostArray } from '../backends/backend.js';
import { KERNELS, KERNEL_NAMES } from './registry.js';
import { allocWatch } from './pool.js';
import { keyWatch, split as splitKey, foldIn as foldInKey, type PRNGKey } from './random.js';
import { Tensor, hostReadWatch, type DType } from './tensor.js';
import { treeFlatten, treeUnflatten, type TreeDef } from './tree.js';
import { planFor, type Dyn, type Plan, type PlanArg, type PlanBuffer, type PlanStep } from './plan.js';

/** Set while tracing: notes host scalars computed from a numeric input. */
const derivedWatch: { hook: ((value: number, input: number, f: (x: number) => number) => void) | null } = { hook: null };

/**
 * f(input), for a host scalar (a kernel attribute) computed from a number
 * that may be an input of a traced function, such as the step: a replay
 * recomputes f from that input instead of reusing the traced value.
 */
export function derivedScalar(input: number, f: (x: number) => number): number {
  const v = f(input);
  if (derivedWatch.hook) derivedWatch.hook(v, input, f);
  return v;
}

/** A function that cannot be traced, or a traced function called wrongly. */
export class JitError extends Error {
  constructor(message: string) { super(message); this.name = 'JitError'; }
}

// ------------------------------------------------------------ kernel roles
// How each kernel uses its arguments, from the registry's declarations:
// r read, w overwritten, a read and written (accumulated into or updated in
// place), m host metadata (shapes, strides, permutations), s scalar.
type Role = 'r' | 'w' | 'a' | 'm' | 's';
// Outputs that kernels add into or update in place rather than overwrite.
const ACCUMULATED: Record<string, string[]> = {
  layerNormBackward: ['dscale', 'dbias'],
  scatterAddRows: ['dtable'],
  scatterAdd: ['out'],
  scatterAlong: ['out'],
  adam: ['w', 'm', 'v'],
  adafactor: ['w', 'vr', 'vc', 'v', 'm'],
  sgd: ['w'],
  momentum: ['w', 'v'],
  rmsprop: ['w', 'avg'],
  sm3: ['w', 'm', 'v1', 'v2'],
  roundBfloat16: ['x'],
};
const ROLES: Record<string, Role[]> = Object.fromEntries(KERNEL_NAMES.map((n) => [n, KERNELS[n].args.map((a): Role => {
  if (a.kind === 'M') return 'm';
  if (a.kind === 'number' || a.kind === 'boolean') return 's';
  if (!a.output) return 'r';
  return ACCUMULATED[n]?.includes(a.name) ? 'a' : 'w';
})]));

function roleOf(name: string, args: readonly unknown[], i: number): Role {
  const r = ROLES[name][i] ?? 's';
  // matmul's output is accumulated into when `accumulate` (argument 11) is set.
  if (name === 'matmul' && i === 2 && args[11]) return 'a';
  return r;
}

// ------------------------------------------------------------ call sites

const INTERNAL = /[\\/]src[\\/](engine[\\/](jit|plan|pool|tensor)\.[jt]s|backends[\\/])/;
const ENGINE = /[\\/]src[\\/]engine[\\/]/;

/**
 * "`op` at engine file:line, called from file:line" for the current stack:
 * the outermost engine function (the op the caller used) and the caller's line.
 */
function describeStack(stack: string): string {
  const lines = stack.split('\n').slice(1).map((l) => l.trim()).filter((l) => l.startsWith('at '));
  const frames = lines.filter((l) => !INTERNAL.test(l));
  if (frames.length === 0) return 'an unknown place';
  const u = frames.findIndex((l) => !ENGINE.test(l));
  const nameOf = (l: string): string | null => {
    const n = /^at (?:new )?([\w$.<>]+) \(/.exec(l)?.[1];
    return n ? n.split('.').pop()! : null;
  };
  const engine = u < 0 ? frames : frames.slice(0, u);
  // The outermost named engine frame: the public op rather than its helpers.
  let op = engine.length ? engine[engine.length - 1] : frames[0];
  for (let i = engine.length - 1; i >= 0; i--) if (nameOf(engine[i])) { op = engine[i]; break; }
  const loc = (l: string): string => (/\((.*)\)$/.exec(l)?.[1] ?? l.slice(3)).replace(/^file:\/\//, '');
  const user = u >= 0 ? frames[u] : null;
  const name = nameOf(op) ?? 'anonymous';
  return user && user !== op ? `\`${name}\` at ${loc(op)}, called from ${loc(user)}` : `\`${name}\` at ${loc(op)}`;
}

/**
 * Where a kernel was called or a buffer made: the stack is captured now and
 * formatted only if an error message needs it (tracing stays cheap).
 */
class Site {
  private readonly err = new Error();
  private text: string | null = null;
  toString(): string { return this.text ??= describeStack(this.err.stack ?? ''); }
}

function site(): Site { return new Site(); }

// ------------------------------------------------------------ traces

type Elem = 0 | 1 | 2; // float32, int32, uint8
function elemOf(a: ArrayBufferView): Elem | -1 {
  if (a instanceof Float32Array) return 0;
  if (a instanceof Int32Array) return 1;
  if (a instanceof Uint8Array) return 2;
  return -1;
}

/** One argument of a recorded call. */
type TArg =
  | { k: 'lit'; v: number | boolean | null | undefined }
  | { k: 'meta'; v: Int32Array }
  | { k: 'buf'; id: number; off: number; len: number; ty: Elem };

interface TCall { name: string; args: TArg[]; site: Site }

interface TBuf {
  id: number;
  /** Storage: the input leaf it belongs to, or its own ArrayBuffer. */
  leaf: number;
  ab: ArrayBuffer | null;
  bytes: number;
  /** Where the buffer was allocated, if during the trace. */
  born: Site | null;
  /** First use by a kernel: a read means its contents were made on the host. */
  first: 'r' | 'w';
  firstSite: Site | string;
  /** Contents at the first read, for buffers filled on the host. */
  snap: Uint8Array | null;
  written: boolean;
}

interface KeyNode { kind: 'in' | 'split' | 'fold'; leaf: number; parent: number; n: number; i: number; data: number; w0: number; w1: number }

/** What a traced call returned, leaf by leaf. */
type TOut =
  | { k: 'tensor'; src: TArg; shape: number[]; dtype: DType }
  | { k: 'value'; v: unknown };

interface Trace {
  calls: TCall[];
  bufs: TBuf[];
  keys: KeyNode[];
  outs: TOut[];
  outDef: TreeDef;
  /** Numeric inputs by leaf index (others undefined). */
  nums: (number | undefined)[];
  derived: { value: number; input: number; f: (x: number) => number }[];
}

interface Leaf { kind: 'tensor' | 'num' | 'key' | 'static'; value: unknown }

function classify(x: unknown): Leaf {
  if (x instanceof Tensor) return { kind: 'tensor', value: x };
  if (typeof x === 'number') return { kind: 'num', value: x };
  if (x instanceof Uint32Array && x.length === 2) return { kind: 'key', value: x };
  if (x === null || x === undefined || typeof x === 'boolean' || typeof x === 'string') return { kind: 'static', value: x };
  throw new JitError(`jit: unsupported argument leaf of type ${(x as object)?.constructor?.name ?? typeof x}; ` +
    'pass tensors, numbers, PRNG keys, booleans or strings (close over anything else)');
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isZero(a: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) return false;
  return true;
}

/** Runs fn eagerly with every kernel call, allocation, key derivation and host read watched. */
function traceRun(name: string, fn: (...a: unknown[]) => unknown, args: unknown[], leaves: Leaf[]):
  { result: unknown; trace: Trace; problem: JitError | null } {
  const real = activeBackend().kernels;
  const calls: TCall[] = [];
  const bufs: TBuf[] = [];
  const byAb = new Map<ArrayBuffer, TBuf>();
  const leafBufs: (TBuf | null)[] = leaves.map(() => null);
  const born = new Map<ArrayBuffer, Site>();
  const keys: KeyNode[] = [];
  const keyIds = new Map<PRNGKey, number>();
  // Input tensors: where their storage lies, to map kernel arguments to them.
  const inputs: { leaf: number; ab: ArrayBuffer; start: number; end: number }[] = [];
  leaves.forEach((l, i) => {
    if (l.kind === 'tensor') {
      const b = (l.value as Tensor).storage as HostArray;
      inputs.push({ leaf: i, ab: b.buffer as ArrayBuffer, start: b.byteOffset, end: b.byteOffset + b.byteLength });
    } else if (l.kind === 'key') {
      const k = l.value as PRNGKey;
      keyIds.set(k, keys.length);
      keys.push({ kind: 'in', leaf: i, parent: -1, n: 0, i: 0, data: 0, w0: k[0], w1: k[1] });
    }
  });

  const bufArg = (v: ArrayBufferView, role: Role, where: Site | string): TArg => {
    const ty = elemOf(v);
    if (ty < 0) throw new JitError(`jit: ${name}: unsupported storage ${v.constructor.name} passed to a kernel by ${where}`);
    const ab = v.buffer as ArrayBuffer;
    let b: TBuf | undefined;
    let off = v.byteOffset;
    const inp = inputs.find((x) => x.ab === ab && v.byteOffset >= x.start && v.byteOffset + v.byteLength <= x.end);
    if (inp) {
      off -= inp.start;
      b = leafBufs[inp.leaf] ?? undefined;
      if (!b) {
        b = { id: bufs.length, leaf: inp.leaf, ab: null, bytes: inp.end - inp.start, born: null, first: 'r', firstSite: where, snap: null, written: false };
        bufs.push(b);
        leafBufs[inp.leaf] = b;
      }
    } else {
      b = byAb.get(ab);
      if (!b) {
        const first = role === 'w' ? 'w' : 'r';
        b = {
          id: bufs.length, leaf: -1, ab, bytes: ab.byteLength, born: born.get(ab) ?? null, first, firstSite: where,
          // A buffer read before any kernel wrote it was filled on the host: keep what it held.
          snap: first === 'r' ? new Uint8Array(ab.slice(0)) : null, written: false,
        };
        bufs.push(b);
        byAb.set(ab, b);
      }
    }
    if (role !== 'r') b.written = true;
    return { k: 'buf', id: b.id, off, len: (v as Float32Array).length, ty: ty as Elem };
  };

  const recorder = {} as Record<string, unknown>;
  for (const k of Object.keys(real) as (keyof Kernels)[]) {
    const f = real[k];
    if (typeof f === 'function') recorder[k] = f;
  }
  for (const kname of KERNEL_NAMES) {
    const f = (real as unknown as Record<string, (...a: unknown[]) => unknown>)[kname];
    recorder[kname] = (...a: unknown[]): unknown => {
      const where = site();
      const targs: TArg[] = a.map((v, i) => {
        const role = roleOf(kname, a, i);
        if (ArrayBuffer.isView(v)) {
          if (role === 'm') return { k: 'meta', v: Int32Array.from(v as Int32Array) };
          if (role === 's') throw new JitError(`jit: ${name}: kernel ${kname} got an array as argument ${i} (${where})`);
          return bufArg(v, role, where);
        }
        if (v !== null && v !== undefined && typeof v !== 'number' && typeof v !== 'boolean') {
          throw new JitError(`jit: ${name}: kernel ${kname} got a ${typeof v} as argument ${i} (${where})`);
        }
        return { k: 'lit', v: v as number | boolean | null | undefined };
      });
      calls.push({ name: kname, args: targs, site: where });
      return f.apply(real, a);
    };
  }
  // Problems are noted, not thrown, so the eager call completes (a caller may fall back to it).
  let problem: JitError | null = null;
  const note = (msg: string): void => { problem ??= new JitError(`jit: ${name} cannot be traced: ${msg}`); };


  const derived: Trace['derived'] = [];
  const savedAlloc = allocWatch.hook, savedRead = hostReadWatch.hook, savedKey = keyWatch.hook, savedDerived = derivedWatch.hook;
  derivedWatch.hook = (value, input, f) => { derived.push({ value, input, f }); };
  allocWatch.hook = (st) => {
    const ab = (st as ArrayBufferView).buffer as ArrayBuffer;
    if (!born.has(ab)) born.set(ab, site());
  };
  hostReadWatch.hook = (what) => {
    note(`it reads tensor values on the host (${what}) in ${site()}; return the tensor from the function instead, or call it without jit`);
  };
  keyWatch.hook = {
    split(parent, n, out) {
      const p = keyIds.get(parent);
      if (p === undefined) return;
      out.forEach((k, i) => { keyIds.set(k, keys.length); keys.push({ kind: 'split', leaf: -1, parent: p, n, i, data: 0, w0: k[0], w1: k[1] }); });
    },
    foldIn(parent, data, out) {
      const p = keyIds.get(parent);
      if (p === undefined) return;
      keyIds.set(out, keys.length);
      keys.push({ kind: 'fold', leaf: -1, parent: p, n: 0, i: 0, data, w0: out[0], w1: out[1] });
    },
  };
  _setKernelOverride(recorder as unknown as Kernels);
  let result: unknown;
  try {
    result = fn(...args);
  } finally {
    _setKernelOverride(null);
    allocWatch.hook = savedAlloc; hostReadWatch.hook = savedRead; keyWatch.hook = savedKey; derivedWatch.hook = savedDerived;
  }
  const { leaves: outLeaves, def: outDef } = treeFlatten<unknown>(result, (x) => x instanceof Tensor);
  const outs: TOut[] = outLeaves.map((x) => {
    if (!(x instanceof Tensor)) return { k: 'value', v: x };
    const src = bufArg(x.storage as HostArray, 'r', `the result of ${name}`);
    return { k: 'tensor', src, shape: x.shape.slice(), dtype: x.dtype };
  });
  const nums = leaves.map((l) => (l.kind === 'num' ? l.value as number : undefined));
  return { result, trace: { calls, bufs, keys, outs, outDef, nums, derived }, problem };
}

// ------------------------------------------------------------ comparing two traces


function sameLit(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b));
}

interface Verified { plan: Plan; staticNums: Map<number, number>; staticKeys: Map<number, [number, number]> }

/**
 * Compares traces A and B of the same signature and builds the plan, or
 * throws a JitError naming the kernel and call site where they disagree.
 */
function verify(name: string, A: Trace, B: Trace, leaves: Leaf[]): Verified {
  const fail = (msg: string): never => { throw new JitError(`jit: ${name} cannot be traced: ${msg}`); };
  const n = Math.min(A.calls.length, B.calls.length);
  for (let i = 0; i < n; i++) {
    if (A.calls[i].name !== B.calls[i].name || A.calls[i].args.length !== B.calls[i].args.length) {
      fail(`the kernels it runs differ between calls (kernel ${i}: ${A.calls[i].name} from ${A.calls[i].site}, ` +
        `then ${B.calls[i].name} from ${B.calls[i].site}); it branches on values read on the host`);
    }
  }
  if (A.calls.length !== B.calls.length) {
    const extra = A.calls.length > B.calls.length ? A.calls[n] : B.calls[n];
    fail(`it ran ${A.calls.length} kernels, then ${B.calls.length} (first difference: ${extra.name} from ${extra.site}); ` +
      'it branches on values read on the host');
  }
  if (A.bufs.length !== B.bufs.length) fail('its buffers differ between calls');
  // Key derivations must match in structure; their data may follow numeric inputs.
  if (A.keys.length !== B.keys.length) fail('it derives a different number of random keys on each call');
  const keyData: (Dyn | null)[] = [];
  for (let i = 0; i < A.keys.length; i++) {
    const a = A.keys[i], b = B.keys[i];
    if (a.kind !== b.kind || a.parent !== b.parent || a.n !== b.n || a.i !== b.i || a.leaf !== b.leaf) {
      fail('it derives random keys differently on each call');
    }
    keyData.push(null);
    if (a.kind === 'fold' && a.data !== b.data) {
      const leaf = A.nums.findIndex((v, j) => v === a.data && B.nums[j] === b.data);
      if (leaf < 0) fail(`random.foldIn gets data computed on the host that changes between calls (${a.data}, then ${b.data})`);
      keyData[i] = { k: 'num', leaf };
    }
  }
  const staticNums = new Map<number, number>();
  const staticKeys = new Map<number, [number, number]>();
  leaves.forEach((l, i) => {
    if (l.kind === 'num' && A.nums[i] === B.nums[i]) staticNums.set(i, A.nums[i]!);
  });
  for (const k of A.keys) {
    if (k.kind === 'in') {
      const kb = B.keys.find((x) => x.kind === 'in' && x.leaf === k.leaf)!;
      if (k.w0 === kb.w0 && k.w1 === kb.w1) staticKeys.set(k.leaf, [k.w0, k.w1]);
    }
  }
  const bindScalar = (va: unknown, vb: unknown, where: string): Dyn => {
    if (typeof va === 'number' && typeof vb === 'number') {
      const leaf = A.nums.findIndex((v, j) => v === va && B.nums[j] === vb);
      if (leaf >= 0) return { k: 'num', leaf };
      for (let j = 0; j < A.keys.length; j++) {
        const a = A.keys[j], b = B.keys[j];
        if (a.w0 === va && b.w0 === vb) return { k: 'key', node: j, word: 0 };
        if (a.w1 === va && b.w1 === vb) return { k: 'key', node: j, word: 1 };
      }
      for (let j = 0; j < Math.min(A.derived.length, B.derived.length); j++) {
        const a = A.derived[j], b = B.derived[j];
        if (!Object.is(a.value, va) || !Object.is(b.value, vb)) continue;
        const leaf = A.nums.findIndex((v, i) => v === a.input && B.nums[i] === b.input);
        if (leaf >= 0) return { k: 'fn', leaf, f: a.f };
      }
    }
    return fail(`${where} is computed on the host and changes between calls (${String(va)}, then ${String(vb)}); ` +
      'only tensors, PRNG keys and numbers passed to the function may vary');
  };

  // Buffers: inputs, buffers kept from outside (same storage both times),
  // buffers written by kernels (plan temporaries) and buffers filled on the
  // host, which must hold the same bytes both times (constants).
  const pbufs: PlanBuffer[] = [];
  for (let i = 0; i < A.bufs.length; i++) {
    const a = A.bufs[i], b = B.bufs[i];
    if (a.leaf !== b.leaf || a.bytes !== b.bytes) fail(`buffer ${i} differs between calls (first used by ${a.firstSite})`);
    if (a.leaf >= 0) { pbufs.push({ kind: 'input', leaf: a.leaf, bytes: a.bytes }); continue; }
    if (a.ab === b.ab && a.born === null && b.born === null) {
      pbufs.push({ kind: 'external', bytes: a.bytes, storage: a.ab! });
      continue;
    }
    if (a.first !== b.first) fail(`buffer ${i} is first read by ${a.firstSite} on one call and written on the other`);
    if (a.first === 'w') { pbufs.push({ kind: 'temp', bytes: a.bytes }); continue; }
    if (!sameBytes(a.snap!, b.snap!)) {
      // A tensor filled with a number passed in (x * lr makes one): refilled from that input at each run.
      const fill = fillSource(a.snap!, b.snap!, A.nums, B.nums);
      if (fill) { pbufs.push({ kind: 'fill', bytes: a.bytes, from: fill.leaf, ty: fill.ty }); continue; }
      const made = a.born ? ` (made by ${a.born})` : '';
      fail(`the values read by ${a.firstSite} were computed on the host${made} and change between calls; ` +
        'only kernel-backed ops can be traced');
    }
    pbufs.push({ kind: 'const', bytes: a.bytes, init: isZero(a.snap!) ? null : a.snap!, reset: a.written });
  }

  const steps: PlanStep[] = A.calls.map((ca, ci) => {
    const cb = B.calls[ci];
    const args: PlanArg[] = ca.args.map((x, ai) => {
      const y = cb.args[ai];
      const where = `argument ${ai} of kernel ${ca.name} (called by ${ca.site})`;
      if (x.k !== y.k) return fail(`${where} changes kind between calls`);
      if (x.k === 'buf' && y.k === 'buf') {
        if (x.id !== y.id || x.off !== y.off || x.len !== y.len || x.ty !== y.ty) fail(`${where} uses different storage on each call`);
        return { k: 'buf', buf: x.id, off: x.off, len: x.len, ty: x.ty };
      }
      if (x.k === 'meta' && y.k === 'meta') {
        if (!sameBytes(bytesOf(x.v), bytesOf(y.v))) fail(`${where} (shape metadata) changes between calls`);
        return { k: 'meta', v: x.v };
      }
      const va = (x as { v: unknown }).v, vb = (y as { v: unknown }).v;
      if (sameLit(va, vb)) return { k: 'lit', v: va as number | boolean | null | undefined };
      return { k: 'dyn', src: bindScalar(va, vb, where) };
    });
    return { kernel: ca.name, args, site: ca.site };
  });

  // Outputs.
  if (A.outs.length !== B.outs.length || JSON.stringify(A.outDef) !== JSON.stringify(B.outDef)) fail('its result has a different structure on each call');
  const outs = A.outs.map((o, i) => {
    const p = B.outs[i];
    if (o.k === 'value' || p.k === 'value') {
      if (o.k !== p.k || !sameLit((o as { v: unknown }).v, (p as { v: unknown }).v)) {
        fail(`result leaf ${i} is a host value that changes between calls; return tensors`);
      }
      return { k: 'value' as const, v: (o as { v: unknown }).v };
    }
    const s = o.src as Extract<TArg, { k: 'buf' }>, t = p.src as Extract<TArg, { k: 'buf' }>;
    if (s.id !== t.id || s.off !== t.off || s.len !== t.len || o.dtype !== p.dtype || o.shape.join() !== p.shape.join()) {
      fail(`result leaf ${i} comes from different storage on each call`);
    }
    return { k: 'tensor' as const, buf: s.id, off: s.off, len: s.len, ty: s.ty, shape: o.shape, dtype: o.dtype };
  });
  const plan: Plan = { bufs: pbufs, steps, keys: A.keys.map((k, i) => ({ kind: k.kind, leaf: k.leaf, parent: k.parent, n: k.n, i: k.i, data: k.data, dataFrom: keyData[i] })), outs, outDef: A.outDef };
  return { plan, staticNums, staticKeys };
}

/** If both snapshots hold one repeated value equal to a numeric input in both traces, that input. */
function fillSource(a: Uint8Array, b: Uint8Array, numsA: (number | undefined)[], numsB: (number | undefined)[]):
  { leaf: number; ty: 0 | 1 } | null {
  if (a.length % 4 !== 0 || a.length === 0) return null;
  for (const ty of [0, 1] as const) {
    const va = uniform(a, ty), vb = uniform(b, ty);
    if (va === null || vb === null) continue;
    const conv = ty === 0 ? Math.fround : (x: number) => (Number.isInteger(x) ? x | 0 : NaN);
    const leaf = numsA.findIndex((x, j) => x !== undefined && Object.is(conv(x), va) && numsB[j] !== undefined && Object.is(conv(numsB[j]!), vb));
    if (leaf >= 0) return { leaf, ty };
  }
  return null;
}

function uniform(bytes: Uint8Array, ty: 0 | 1): number | null {
  const v = ty === 0 ? new Float32Array(bytes.slice().buffer) : new Int32Array(bytes.slice().buffer);
  for (let i = 1; i < v.length; i++) if (!Object.is(v[i], v[0])) return null;
  return v[0];
}

// ------------------------------------------------------------ replay

/** Per-call values of the dynamic scalars: numeric inputs and derived key words. */
function keyWords(plan: Plan, leaves: Leaf[]): Uint32Array[] {
  const words: Uint32Array[] = new Array(plan.keys.length);
  // Each parent is split once, however many of its children are used.
  const splits = new Map<number, PRNGKey[]>();
  for (let i = 0; i < plan.keys.length; i++) {
    const k = plan.keys[i];
    if (k.kind === 'in') { words[i] = leaves[k.leaf].value as Uint32Array; continue; }
    const parent = words[k.parent];
    if (k.kind === 'split') {
      let sp = splits.get(k.parent);
      if (!sp || sp.length !== k.n) { sp = splitKey(parent, k.n); splits.set(k.parent, sp); }
      words[i] = sp[k.i];
    } else words[i] = foldInKey(parent, k.dataFrom ? leaves[(k.dataFrom as { leaf: number }).leaf].value as number : k.data);
  }
  return words;
}

// ------------------------------------------------------------ the public wrapper

export interface JitOptions {
  /** Name used in error messages (default: the function's name). */
  name?: string;
  /**
   * Called instead of throwing when the function cannot be traced; that call's
   * eager result is returned and later calls with the same signature run eagerly.
   */
  onUntraceable?: (err: JitError) => void;
  /**
   * Memory the plans of new signatures may take (temporaries and constants,
   * in bytes; default 1 GiB). Once spent, calls with new signatures run
   * eagerly, untraced; known signatures still replay.
   */
  maxPlanBytes?: number;
  /**
   * Calls per signature that run eagerly, untraced, before tracing starts
   * (default 0): a signature used once then never pays for tracing.
   */
  traceAfter?: number;
}

interface Entry {
  /** The first trace, kept to verify later ones against. */
  first: Trace | null;
  ready: Verified | null;
  failed: JitError | null;
  /** Runs eagerly (the function proved untraceable and the caller asked to fall back). */
  eager: boolean;
  /** Untraced calls so far (see traceAfter). */
  seen: number;
}

export interface JitFunction<A extends unknown[], R> {
  (...args: A): R;
  /** Number of replays done (for tests and benchmarks). */
  readonly replays: number;
  /** Number of input signatures seen. */
  readonly signatures: number;
}

/**
 * fastmath.jit(fn): fn must be a pure function of tensors (and numbers, PRNG
 * keys, booleans, strings) returning a tree of tensors. The first two calls
 * per signature run fn eagerly while recording its kernels; later calls
 * replay the recording. Numbers and keys passed in may change from call to
 * call; everything fn computes from them must go through tensor ops.
 */
export function jit<A extends unknown[], R>(fn: (...args: A) => R, opts: JitOptions = {}): JitFunction<A, R> {
  if (typeof fn !== 'function') throw new TypeError('jit: expected a function');
  const name = opts.name ?? (fn.name || 'the function');
  const cache = new Map<string, Entry>();
  let replays = 0;
  let lastSig = '';
  let planBytes = 0;
  const budget = opts.maxPlanBytes ?? 1024 * 1024 * 1024;
  const traceAfter = opts.traceAfter ?? 0;
  let lastShape: LeafShape[] | null = null;
  let lastStruct: number[] = [];
  const wrapped = (...args: A): R => {
    const leaves: Leaf[] = [];
    // Most calls repeat the last signature: check the leaves against it
    // without building the signature string.
    let sig: string;
    const struct: number[] = [];
    if (lastShape !== null && collectLeaves(args, leaves, struct) && sameShapes(leaves, lastShape) && sameNumbers(struct, lastStruct)) sig = lastSig;
    else {
      leaves.length = 0;
      try {
        sig = flattenArgs(args, leaves);
      } catch (err) {
        if (!(err instanceof JitError) || !opts.onUntraceable) throw err;
        opts.onUntraceable(err);
        return fn(...args);
      }
      lastSig = sig;
      lastShape = shapesOf(leaves);
      const st: number[] = [];
      lastStruct = collectLeaves(args, [], st) ? st : [NaN];
    }
    let e = cache.get(sig);
    if (!e) {
      if (planBytes >= budget) return fn(...args);
      e = { first: null, ready: null, failed: null, eager: false, seen: 0 };
      cache.set(sig, e);
    }
    if (e.seen < traceAfter) { e.seen++; return fn(...args); }
    if (e.eager) return fn(...args);
    // Tracing identifies host storage; other backends run the function eagerly.
    if (!activeBackend().onHost) return fn(...args);
    if (e.failed) throw e.failed;
    if (e.ready && staticsHold(e.ready, leaves)) {
      replays++;
      return replay(e.ready.plan, leaves) as R;
    }
    const { result, trace, problem } = traceRun(name, fn as (...a: unknown[]) => unknown, args, leaves);
    let err = problem;
    if (!err && e.first === null) { e.first = trace; return result as R; }
    if (!err) {
      try {
        e.ready = verify(name, e.first!, trace, leaves);
        planBytes += e.ready.plan.bufs.reduce((n, b) => n + (b.kind === 'input' || b.kind === 'external' ? 0 : b.bytes), 0);
        // Keep of the first trace only what a later verification compares.
        for (const b of e.first!.bufs) if (b.born !== null) b.ab = null;
      } catch (x) {
        if (!(x instanceof JitError)) throw x;
        err = x;
      }
    }
    if (err) {
      e.first = null; e.ready = null;
      if (opts.onUntraceable) { e.eager = true; opts.onUntraceable(err); return result as R; }
      e.failed = err;
      throw err;
    }
    return result as R;
  };
  Object.defineProperty(wrapped, 'replays', { get: () => replays });
  Object.defineProperty(wrapped, 'signatures', { get: () => cache.size });
  return wrapped as unknown as JitFunction<A, R>;
}

/**
 * Flattens the arguments (depth first, object keys sorted, as treeFlatten
 * does) into leaves and returns the signature: the tree's structure with
 * each tensor's dtype and shape, and each static leaf's value.
 */
function flattenArgs(node: unknown, leaves: Leaf[]): string {
  if (node instanceof Tensor) {
    leaves.push({ kind: 'tensor', value: node });
    return `${node.dtype === 'float32' ? 'f' : 'i'}${node.shape.join(',')};`;
  }
  if (typeof node === 'number') { leaves.push({ kind: 'num', value: node }); return 'n;'; }
  if (node instanceof Uint32Array && node.length === 2) { leaves.push({ kind: 'key', value: node }); return 'k;'; }
  if (Array.isArray(node)) {
    let s = '[';
    for (const x of node) s += flattenArgs(x, leaves);
    return s + ']';
  }
  if (node === null || node === undefined) return '_;';
  if (typeof node === 'object' && Object.getPrototypeOf(node) === Object.prototype) {
    let s = '{';
    for (const k of Object.keys(node).sort()) s += `${JSON.stringify(k)}:${flattenArgs((node as Record<string, unknown>)[k], leaves)}`;
    return s + '}';
  }
  const l = classify(node);
  leaves.push(l);
  return `=${typeof l.value}:${String(l.value)};`;
}

/** What the signature says about one leaf: its kind, and a tensor's dtype and shape or a static value. */
type LeafShape = { kind: Leaf['kind']; dtype?: DType; shape?: readonly number[]; value?: unknown };

function shapesOf(leaves: Leaf[]): LeafShape[] {
  return leaves.map((l) => l.kind === 'tensor'
    ? { kind: 'tensor', dtype: (l.value as Tensor).dtype, shape: (l.value as Tensor).shape.slice() }
    : l.kind === 'static' ? { kind: 'static', value: l.value } : { kind: l.kind });
}

function sameNumbers(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameShapes(leaves: Leaf[], want: LeafShape[]): boolean {
  if (leaves.length !== want.length) return false;
  for (let i = 0; i < leaves.length; i++) {
    const l = leaves[i], w = want[i];
    if (l.kind !== w.kind) return false;
    if (l.kind === 'tensor') {
      const t = l.value as Tensor;
      if (t.dtype !== w.dtype || t.shape.length !== w.shape!.length) return false;
      for (let j = 0; j < t.shape.length; j++) if (t.shape[j] !== w.shape![j]) return false;
    } else if (l.kind === 'static' && l.value !== w.value) return false;
  }
  return true;
}

/**
 * The leaves of the arguments in flattenArgs' order, or false for a tree
 * it cannot walk quickly (objects with several keys, whose order it sorts):
 * then the full signature is built.
 */
function collectLeaves(node: unknown, leaves: Leaf[], struct: number[]): boolean {
  if (node instanceof Tensor) { leaves.push({ kind: 'tensor', value: node }); return true; }
  if (typeof node === 'number') { leaves.push({ kind: 'num', value: node }); return true; }
  if (node instanceof Uint32Array && node.length === 2) { leaves.push({ kind: 'key', value: node }); return true; }
  if (Array.isArray(node)) {
    // The array's length and where it ends, so nesting is part of the comparison.
    struct.push(node.length);
    for (const x of node) if (!collectLeaves(x, leaves, struct)) return false;
    struct.push(-1);
    return true;
  }
  if (node === null || node === undefined) { struct.push(-2); return true; }
  if (typeof node === 'boolean' || typeof node === 'string') { leaves.push({ kind: 'static', value: node }); return true; }
  return false;
}

/** Numbers and keys that were equal in both traces are baked in: a new value needs a new trace. */
function staticsHold(v: Verified, leaves: Leaf[]): boolean {
  for (const [leaf, value] of v.staticNums) if (leaves[leaf].value !== value) return false;
  for (const [leaf, [w0, w1]] of v.staticKeys) {
    const k = leaves[leaf].value as Uint32Array;
    if (k[0] !== w0 || k[1] !== w1) return false;
  }
  return true;
}

function replay(plan: Plan, leaves: Leaf[]): unknown {
  const exec = planFor(plan, activeBackend());
  const keyVals = plan.keys.length ? keyWords(plan, leaves) : [];
  const inputs = leaves.map((l) => (l.kind === 'tensor' ? (l.value as Tensor).storage as HostArray : null));
  exec.run(inputs, (d) => (d.k === 'num' ? leaves[d.leaf].value as number
    : d.k === 'key' ? keyVals[d.node][d.word] : d.f(leaves[d.leaf].value as number)));
  const outs = plan.outs.map((o) => {
    if (o.k === 'value') return o.v;
    const view = exec.view(o.buf, o.off, o.len, o.ty, inputs);
    const pb = plan.bufs[o.buf];
    if (pb.kind === 'input' || pb.kind === 'external') return new Tensor(view as Float32Array | Int32Array, o.shape, o.dtype);
    // Plan buffers are reused by the next replay: hand out a copy (not pooled,
    // as the caller may keep it beyond any buffer scope).
    const copy = o.dtype === 'float32' ? new Float32Array(o.len) : new Int32Array(o.len);
    copy.set(view as Float32Array | Int32Array);
    return new Tensor(copy, o.shape, o.dtype);
  });
  return treeUnflatten(plan.outDef, outs);
}

export type { Plan };
