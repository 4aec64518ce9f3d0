/**
 * A safe reader for the subset of Python pickle used by Trax checkpoints.
 *
 * Nothing in the input is ever executed: GLOBAL / STACK_GLOBAL may only name
 * entries of a fixed allow-list (numpy array reconstruction, numpy dtypes and
 * scalars, trax ShapeDtype and History, defaultdict/OrderedDict and a few
 * builtins containers), and each of those is implemented here in TypeScript.
 * Every other global, and every opcode not implemented below, is refused with
 * an error that names it and its byte offset.
 *
 * How Python values come out:
 *   None -> null; bool -> boolean; int -> number (bigint beyond 2**53);
 *   float -> number; str -> string; bytes / bytearray -> Uint8Array;
 *   list -> Array; tuple -> Array marked as a tuple (see isPyTuple / PY_TUPLE;
 *   the marker is a non-enumerable symbol, so it is still a plain Array);
 *   dict, defaultdict, OrderedDict -> a plain object when every key is a str,
 *   otherwise a Map (keys converted like values, tuples as marked arrays);
 *   set / frozenset -> Set;
 *   numpy.ndarray and numpy scalars -> NdArray (numpy scalars as 0-d arrays);
 *   numpy.dtype -> PickledDType; trax.shapes.ShapeDtype -> PickledShapeDtype;
 *   trax.supervised.history.History -> its state dict (e.g. {_values: {...}}).
 */

import {
  type DType, type NdArray, byteswapInPlace, fortranToC, fromBytes, itemSize, shapeSize,
} from './ndarray.js';
import { MAX_INT_BYTES, maxBytesFor } from './limits.js';

export class PickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PickleError';
  }
}

/** Marker on arrays that stand for Python tuples. */
export const PY_TUPLE: unique symbol = Symbol.for('trax-ts.pickle.tuple') as never;

/** Marks `items` (in place) as a Python tuple and returns it. */
export function pyTuple<T>(items: T[]): T[] {
  if (!Object.prototype.hasOwnProperty.call(items, PY_TUPLE)) {
    Object.defineProperty(items, PY_TUPLE, { value: true, enumerable: false });
  }
  return items;
}

export function isPyTuple(x: unknown): x is unknown[] {
  return Array.isArray(x) && (x as unknown as Record<symbol, unknown>)[PY_TUPLE] === true;
}

/** A numpy dtype object, e.g. numpy.dtype('f4') with byte order '<'. */
export class PickledDType {
  constructor(
    /** Our dtype name, e.g. 'float32'. */
    public name: DType,
    /** numpy's byte order character: '<', '>', '|' or '='. */
    public byteOrder: string,
  ) {}

  /** numpy's dtype.str, e.g. '<f4' or '|u1'. */
  get str(): string {
    return (itemSize(this.name) === 1 ? '|' : this.byteOrder === '>' ? '>' : '<') + NUMPY_CODE[this.name];
  }
}

/** trax.shapes.ShapeDtype: a shape and a dtype name such as 'int64'. */
export class PickledShapeDtype {
  constructor(public shape: number[], public dtype: string) {}
}

/** numpy kind+size codes for our dtypes (bfloat16 has none in numpy itself). */
export const NUMPY_CODE: Record<DType, string> = {
  float16: 'f2', float32: 'f4', float64: 'f8', int8: 'i1', int16: 'i2', int32: 'i4', int64: 'i8',
  uint8: 'u1', uint16: 'u2', uint32: 'u4', uint64: 'u8', bool: 'b1', bfloat16: 'V2',
};

const CODE_TO_DTYPE: Record<string, DType> = {
  f2: 'float16', f4: 'float32', f8: 'float64', i1: 'int8', i2: 'int16', i4: 'int32', i8: 'int64',
  u1: 'uint8', u2: 'uint16', u4: 'uint32', u8: 'uint64', b1: 'bool',
  // numpy also accepts these spellings when constructing a dtype
  float16: 'float16', float32: 'float32', float64: 'float64', int8: 'int8', int16: 'int16',
  int32: 'int32', int64: 'int64', uint8: 'uint8', uint16: 'uint16', uint32: 'uint32',
  uint64: 'uint64', bool: 'bool', '?': 'bool', b: 'int8', B: 'uint8', h: 'int16', H: 'uint16',
  i: 'int32', I: 'uint32', q: 'int64', Q: 'uint64', e: 'float16', f: 'float32', d: 'float64',
};

/**
 * Parses a numpy dtype string ('<f4', 'i8', '|b1', 'float32') into our dtype
 * and byte order. Throws for object, string, complex and structured dtypes.
 */
export function parseNumpyDtype(spec: string): { dtype: DType; byteOrder: string } {
  let order = '=';
  let code = spec;
  if (code.length > 1 && '<>|='.includes(code[0]!)) {
    order = code[0]!;
    code = code.slice(1);
  }
  const dtype = CODE_TO_DTYPE[code];
  if (dtype === undefined) {
    if (code.startsWith('O')) {
      throw new Error(`numpy object dtype '${spec}' is refused: object arrays can hold arbitrary Python objects`);
    }
    throw new Error(`unsupported numpy dtype '${spec}'`);
  }
  if (itemSize(dtype) === 1) order = '|';
  return { dtype, byteOrder: order };
}

// ---------------------------------------------------------------------------

const ALLOWED_GLOBALS = new Set([
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray._reconstruct',
  'numpy.ndarray',
  'numpy.dtype',
  'numpy.core.multiarray.scalar',
  'numpy._core.multiarray.scalar',
  'numpy.core.numeric._frombuffer',
  'numpy._core.numeric._frombuffer',
  'trax.shapes.ShapeDtype',
  'trax.supervised.history.History',
  'collections.defaultdict',
  'collections.OrderedDict',
  'builtins.list',
  'builtins.dict',
  'builtins.tuple',
  'builtins.set',
  'builtins.frozenset',
  // Python 3 writes these Python 2 names under protocols 0-2.
  '__builtin__.list',
  '__builtin__.dict',
  '__builtin__.tuple',
  '__builtin__.set',
  '__builtin__.frozenset',
  '_codecs.encode',
]);

/** A resolved allow-listed global (a callable or class token, never Python code). */
class PyGlobal {
  constructor(public readonly qualname: string) {}
  /** Name with __builtin__/numpy._core spellings folded onto one key. */
  get key(): string {
    return this.qualname.replace(/^__builtin__\./, 'builtins.').replace(/^numpy\._core\./, 'numpy.core.');
  }
}

/** Internal dict during loading; converted to an object or Map at the end. */
class PyDict extends Map<unknown, unknown> {}

/** An instance of an allow-listed class whose JS form is its state (History). */
class PyInstance {
  state: unknown = undefined;
  constructor(public readonly qualname: string) {}
}

/** An ndarray created by _reconstruct and not yet filled in by BUILD. */
interface PendingArray extends NdArray {
  [PENDING]?: true;
}
const PENDING: unique symbol = Symbol('pending ndarray') as never;

const OPNAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1',
  0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4',
  0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8',
  0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX',
  0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

function describe(x: unknown): string {
  if (x === null) return 'None';
  if (x instanceof PyGlobal) return x.qualname;
  if (x instanceof PyDict) return 'dict';
  if (x instanceof PyInstance) return x.qualname + ' instance';
  if (x instanceof PickledDType) return 'numpy.dtype';
  if (x instanceof PickledShapeDtype) return 'trax.shapes.ShapeDtype';
  if (isPyTuple(x)) return 'tuple';
  if (Array.isArray(x)) return 'list';
  if (x instanceof Uint8Array) return 'bytes';
  if (x instanceof Set) return 'set';
  if (typeof x === 'object' && 'dtype' in (x as object)) return 'numpy.ndarray';
  return typeof x;
}

/** Rough heap bytes charged per opcode and per container, to bound what a stream may build. */
const OP_COST = 16;
const CONTAINER_COST = 64;

class Unpickler {
  private pos = 0;
  /** Estimated bytes built so far (objects, copies, array data); bounded by maxBytes. */
  private spent = 0;
  private stack: unknown[] = [];
  private metastack: unknown[][] = [];
  private memo = new Map<number, unknown>();
  private opStart = 0;
  private opName = '';

  constructor(private readonly src: Uint8Array, private readonly maxBytes: number) {}

  /** Charges n estimated bytes; fails once the stream has built more than maxBytes. */
  private charge(n: number): void {
    this.spent += n;
    if (this.spent > this.maxBytes) {
      this.fail(`the pickle builds more than the load limit of ${this.maxBytes} bytes ` +
        '(raise it with the maxBytes option or TRAX_TS_MAX_LOAD_BYTES if the file is trusted)');
    }
  }

  private fail(msg: string): never {
    throw new PickleError(`${msg} (opcode ${this.opName} at byte ${this.opStart})`);
  }

  private need(n: number, what: string): void {
    if (n > this.src.length - this.pos) {
      throw new PickleError(
        `truncated pickle: ${this.opName} at byte ${this.opStart} needs ${n} bytes of ${what} ` +
        `but only ${this.src.length - this.pos} remain`);
    }
  }

  private u8(): number {
    this.need(1, 'argument');
    return this.src[this.pos++]!;
  }

  private u16(): number {
    this.need(2, 'argument');
    const v = this.src[this.pos]! | (this.src[this.pos + 1]! << 8);
    this.pos += 2;
    return v;
  }

  private u32(): number {
    this.need(4, 'argument');
    const b = this.src;
    const p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
  }

  private i32(): number {
    const v = this.u32();
    return v >= 0x80000000 ? v - 0x100000000 : v;
  }

  private u64(): number {
    const lo = this.u32();
    const hi = this.u32();
    const v = hi * 0x100000000 + lo;
    if (hi >= 0x200000) this.fail(`length ${hi}*2**32+${lo} is too large`);
    return v;
  }

  private take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.src.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  private line(): string {
    const end = this.src.indexOf(0x0a, this.pos);
    if (end < 0) {
      throw new PickleError(`truncated pickle: ${this.opName} at byte ${this.opStart} has no terminating newline`);
    }
    const s = this.decodeUtf8(this.src.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }

  private decodeUtf8(b: Uint8Array): string {
    try {
      return utf8.decode(b);
    } catch {
      return this.fail('invalid UTF-8 in string');
    }
  }

  private pop(): unknown {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack.pop();
  }

  private top(): unknown {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack[this.stack.length - 1];
  }

  private popMark(): unknown[] {
    if (this.metastack.length === 0) this.fail('no MARK on the stack');
    const items = this.stack;
    this.stack = this.metastack.pop()!;
    return items;
  }

  private memoGet(i: number): unknown {
    if (!this.memo.has(i)) this.fail(`memo entry ${i} is missing`);
    return this.memo.get(i);
  }

  private resolveGlobal(module: string, name: string): PyGlobal {
    const q = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.has(q)) {
      throw new PickleError(
        `refusing to load pickle global ${q} at byte ${this.opStart}: ` +
        'only numpy arrays and Trax checkpoint classes are allowed');
    }
    return new PyGlobal(q);
  }

  run(): unknown {
    const buf = this.src;
    for (;;) {
      if (this.pos >= buf.length) {
        throw new PickleError(`truncated pickle: reached the end of the data at byte ${this.pos} without a STOP opcode`);
      }
      this.opStart = this.pos;
      const op = buf[this.pos++]!;
      this.charge(OP_COST);
      this.opName = OPNAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`;
      switch (op) {
        case 0x80: { // PROTO
          const v = this.u8();
          if (v > 5) this.fail(`unsupported pickle protocol ${v}`);
          break;
        }
        case 0x95: { // FRAME: framing is only a buffering hint
          const n = this.u64();
          this.need(n, 'frame');
          break;
        }
        case 0x2e: { // STOP
          const v = this.pop();
          if (this.stack.length !== 0 || this.metastack.length !== 0) {
            // Python ignores leftovers, but they signal a malformed stream.
            this.fail('stack not empty at STOP');
          }
          return v;
        }
        case 0x28: // MARK
          this.metastack.push(this.stack);
          this.stack = [];
          break;
        case 0x30: this.pop(); break; // POP
        case 0x31: this.popMark(); break; // POP_MARK
        case 0x32: this.stack.push(this.top()); break; // DUP
        case 0x4e: this.stack.push(null); break; // NONE
        case 0x88: this.stack.push(true); break; // NEWTRUE
        case 0x89: this.stack.push(false); break; // NEWFALSE
        case 0x4a: this.stack.push(this.i32()); break; // BININT
        case 0x4b: this.stack.push(this.u8()); break; // BININT1
        case 0x4d: this.stack.push(this.u16()); break; // BININT2
        case 0x8a: this.stack.push(this.decodeLong(this.u8())); break; // LONG1
        case 0x8b: { // LONG4
          const n = this.i32();
          if (n < 0) this.fail('negative LONG4 length');
          this.stack.push(this.decodeLong(n));
          break;
        }
        case 0x47: { // BINFLOAT, big-endian IEEE double
          const b = this.take(8, 'float');
          this.stack.push(new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, false));
          break;
        }
        case 0x58: this.stack.push(this.decodeUtf8(this.take(this.u32(), 'string'))); break; // BINUNICODE
        case 0x8c: this.stack.push(this.decodeUtf8(this.take(this.u8(), 'string'))); break; // SHORT_BINUNICODE
        case 0x8d: this.stack.push(this.decodeUtf8(this.take(this.u64(), 'string'))); break; // BINUNICODE8
        // Python 2 str: loaded as text (latin-1), like pickle's encoding='latin1'.
        case 0x54: this.stack.push(latin1(this.take(this.u32(), 'string'))); break; // BINSTRING
        case 0x55: this.stack.push(latin1(this.take(this.u8(), 'string'))); break; // SHORT_BINSTRING
        case 0x43: this.stack.push(this.take(this.u8(), 'bytes').slice()); break; // SHORT_BINBYTES
        case 0x42: this.stack.push(this.take(this.u32(), 'bytes').slice()); break; // BINBYTES
        case 0x8e: this.stack.push(this.take(this.u64(), 'bytes').slice()); break; // BINBYTES8
        case 0x96: this.stack.push(this.take(this.u64(), 'bytes').slice()); break; // BYTEARRAY8
        case 0x5d: this.charge(CONTAINER_COST); this.stack.push([]); break; // EMPTY_LIST
        case 0x29: this.charge(CONTAINER_COST); this.stack.push(pyTuple([])); break; // EMPTY_TUPLE
        case 0x7d: this.charge(CONTAINER_COST); this.stack.push(new PyDict()); break; // EMPTY_DICT
        case 0x8f: this.charge(CONTAINER_COST); this.stack.push(new Set()); break; // EMPTY_SET
        // popMark() swaps this.stack, so take the items before pushing.
        case 0x6c: { // LIST
          const items = this.popMark();
          this.stack.push(items);
          break;
        }
        case 0x74: { // TUPLE
          const items = this.popMark();
          this.stack.push(pyTuple(items));
          break;
        }
        case 0x85: { // TUPLE1
          const a = this.pop();
          this.stack.push(pyTuple([a]));
          break;
        }
        case 0x86: { // TUPLE2
          const b = this.pop();
          const a = this.pop();
          this.stack.push(pyTuple([a, b]));
          break;
        }
        case 0x87: { // TUPLE3
          const c = this.pop();
          const b = this.pop();
          const a = this.pop();
          this.stack.push(pyTuple([a, b, c]));
          break;
        }
        case 0x91: { // FROZENSET
          const items = this.popMark();
          this.stack.push(new Set(items));
          break;
        }
        case 0x64: { // DICT
          const items = this.popMark();
          const d = new PyDict();
          this.setItems(d, items);
          this.stack.push(d);
          break;
        }
        case 0x61: { // APPEND
          const v = this.pop();
          this.listTarget().push(v);
          break;
        }
        case 0x65: { // APPENDS
          const items = this.popMark();
          const list = this.listTarget();
          for (const v of items) list.push(v);
          break;
        }
        case 0x73: { // SETITEM
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.dictTarget(), [k, v]);
          break;
        }
        case 0x75: { // SETITEMS
          const items = this.popMark();
          this.setItems(this.dictTarget(), items);
          break;
        }
        case 0x90: { // ADDITEMS
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof Set)) this.fail(`ADDITEMS target is a ${describe(s)}, not a set`);
          for (const v of items) s.add(v);
          break;
        }
        case 0x68: this.stack.push(this.memoGet(this.u8())); break; // BINGET
        case 0x6a: this.stack.push(this.memoGet(this.u32())); break; // LONG_BINGET
        case 0x71: this.memo.set(this.u8(), this.top()); break; // BINPUT
        case 0x72: this.memo.set(this.u32(), this.top()); break; // LONG_BINPUT
        case 0x94: this.memo.set(this.memo.size, this.top()); break; // MEMOIZE
        case 0x63: { // GLOBAL
          const module = this.line();
          const name = this.line();
          this.stack.push(this.resolveGlobal(module, name));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof name !== 'string' || typeof module !== 'string') this.fail('STACK_GLOBAL needs two strings');
          this.stack.push(this.resolveGlobal(module, name));
          break;
        }
        case 0x52: { // REDUCE
          const args = this.pop();
          const fn = this.pop();
          this.stack.push(this.call(fn, args));
          break;
        }
        case 0x81: { // NEWOBJ
          const args = this.pop();
          const cls = this.pop();
          this.stack.push(this.newObj(cls, args));
          break;
        }
        case 0x92: { // NEWOBJ_EX
          const kwargs = this.pop();
          const args = this.pop();
          const cls = this.pop();
          if (!(kwargs instanceof PyDict) || kwargs.size !== 0) this.fail('keyword arguments are not supported');
          this.stack.push(this.newObj(cls, args));
          break;
        }
        case 0x62: { // BUILD
          const state = this.pop();
          this.build(this.top(), state);
          break;
        }
        case 0x50: case 0x51:
          this.fail('refusing persistent IDs: they would need an external loader');
          break;
        case 0x69: case 0x6f:
          this.fail('refusing INST/OBJ object construction: only allow-listed classes may be built');
          break;
        case 0x82: case 0x83: case 0x84:
          this.fail('refusing extension-registry globals');
          break;
        case 0x97: case 0x98:
          this.fail('out-of-band buffers are not supported');
          break;
        default:
          throw new PickleError(
            `unsupported pickle opcode ${this.opName}` +
            `${OPNAMES[op] ? ` (0x${op.toString(16)})` : ''} at byte ${this.opStart}: ` +
            'this reader only implements the opcodes used by numpy/Trax checkpoints');
      }
    }
  }

  private decodeLong(n: number): number | bigint {
    if (n > MAX_INT_BYTES) this.fail(`integer of ${n} bytes is larger than any checkpoint needs (at most ${MAX_INT_BYTES})`);
    const b = this.take(n, 'integer');
    if (n === 0) return 0;
    // One hex string and one BigInt parse: linear in n, unlike shifting byte by byte.
    let hex = '';
    for (let i = n - 1; i >= 0; i--) hex += b[i]!.toString(16).padStart(2, '0');
    let v = BigInt('0x' + hex);
    if (b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private listTarget(): unknown[] {
    const l = this.top();
    if (!Array.isArray(l) || isPyTuple(l)) this.fail(`cannot append to a ${describe(l)}`);
    return l;
  }

  private dictTarget(): PyDict {
    const d = this.top();
    if (!(d instanceof PyDict)) this.fail(`cannot set items on a ${describe(d)}`);
    return d;
  }

  private setItems(d: PyDict, items: unknown[]): void {
    if (items.length % 2 !== 0) this.fail('odd number of items for a dict');
    for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
  }

  private tupleArgs(args: unknown, n: number | [number, number], what: string): unknown[] {
    if (!isPyTuple(args)) this.fail(`${what} expects an argument tuple, got ${describe(args)}`);
    const [lo, hi] = typeof n === 'number' ? [n, n] : n;
    if (args.length < lo || args.length > hi) {
      this.fail(`${what} expects ${lo === hi ? lo : `${lo}-${hi}`} arguments, got ${args.length}`);
    }
    return args;
  }

  private call(fn: unknown, rawArgs: unknown): unknown {
    if (!(fn instanceof PyGlobal)) this.fail(`cannot call a ${describe(fn)}`);
    const what = fn.qualname;
    switch (fn.key) {
      case 'numpy.core.multiarray._reconstruct': {
        const [cls] = this.tupleArgs(rawArgs, 3, what);
        if (!(cls instanceof PyGlobal) || cls.key !== 'numpy.ndarray') {
          this.fail(`_reconstruct can only build numpy.ndarray, not ${describe(cls)}`);
        }
        const a: PendingArray = { dtype: 'uint8', shape: [0], data: new Uint8Array(0) };
        Object.defineProperty(a, PENDING, { value: true, configurable: true, enumerable: false });
        return a;
      }
      case 'numpy.dtype': {
        const [spec] = this.tupleArgs(rawArgs, [1, 3], what);
        if (typeof spec !== 'string') this.fail(`numpy.dtype expects a string, got ${describe(spec)}`);
        try {
          const p = parseNumpyDtype(spec);
          return new PickledDType(p.dtype, p.byteOrder);
        } catch (e) {
          return this.fail((e as Error).message);
        }
      }
      case 'numpy.core.multiarray.scalar': {
        const [dt, raw] = this.tupleArgs(rawArgs, [1, 2], what);
        if (!(dt instanceof PickledDType)) this.fail(`numpy scalar needs a dtype, got ${describe(dt)}`);
        return this.makeArray(dt, [], this.rawBytes(raw), false);
      }
      case 'numpy.core.numeric._frombuffer': {
        const [raw, dt, shape, order] = this.tupleArgs(rawArgs, 4, what);
        if (!(dt instanceof PickledDType)) this.fail(`_frombuffer needs a dtype, got ${describe(dt)}`);
        if (order !== 'C' && order !== 'F') this.fail(`_frombuffer order must be 'C' or 'F', got ${String(order)}`);
        return this.makeArray(dt, this.shapeOf(shape), this.rawBytes(raw), order === 'F');
      }
      case '_codecs.encode': {
        const [text, enc] = this.tupleArgs(rawArgs, [1, 2], what);
        if (typeof text !== 'string') this.fail('_codecs.encode expects a string');
        const e = typeof enc === 'string' ? enc.toLowerCase().replace('_', '-') : 'utf-8';
        if (e !== 'latin1' && e !== 'latin-1' && e !== 'iso-8859-1') {
          this.fail(`_codecs.encode is only allowed with latin1, not ${String(enc)}`);
        }
        const out = new Uint8Array(text.length);
        for (let i = 0; i < text.length; i++) {
          const c = text.charCodeAt(i);
          if (c > 0xff) this.fail('character outside latin1 in _codecs.encode');
          out[i] = c;
        }
        return out;
      }
      case 'collections.defaultdict': {
        const args = this.tupleArgs(rawArgs, [0, 2], what);
        const f = args[0];
        if (f !== undefined && f !== null && !(f instanceof PyGlobal)) this.fail('defaultdict factory must be a class');
        const d = new PyDict();
        if (args.length === 2) this.fillDict(d, args[1]);
        return d;
      }
      case 'collections.OrderedDict':
      case 'builtins.dict': {
        const args = this.tupleArgs(rawArgs, [0, 1], what);
        const d = new PyDict();
        if (args.length === 1) this.fillDict(d, args[0]);
        return d;
      }
      case 'builtins.list': {
        const args = this.tupleArgs(rawArgs, [0, 1], what);
        return args.length ? [...this.iterable(args[0])] : [];
      }
      case 'builtins.tuple': {
        const args = this.tupleArgs(rawArgs, [0, 1], what);
        return pyTuple(args.length ? [...this.iterable(args[0])] : []);
      }
      case 'builtins.set':
      case 'builtins.frozenset': {
        const args = this.tupleArgs(rawArgs, [0, 1], what);
        return new Set(args.length ? this.iterable(args[0]) : []);
      }
      case 'trax.shapes.ShapeDtype': {
        const [shape, dtype] = this.tupleArgs(rawArgs, [1, 2], what);
        return new PickledShapeDtype(this.shapeOf(shape), this.dtypeName(dtype ?? 'float32'));
      }
      default:
        return this.fail(`${what} cannot be called`);
    }
  }

  private newObj(cls: unknown, args: unknown): unknown {
    if (!(cls instanceof PyGlobal)) this.fail(`NEWOBJ needs a class, got ${describe(cls)}`);
    this.tupleArgs(args, [0, 8], cls.qualname);
    switch (cls.key) {
      case 'trax.shapes.ShapeDtype': return new PickledShapeDtype([], 'float32');
      case 'trax.supervised.history.History': return new PyInstance(cls.qualname);
      case 'collections.OrderedDict':
      case 'collections.defaultdict':
      case 'builtins.dict': return new PyDict();
      case 'builtins.list': return [];
      case 'builtins.set': return new Set();
      default: return this.fail(`${cls.qualname} cannot be instantiated with NEWOBJ`);
    }
  }

  private build(obj: unknown, state: unknown): void {
    if (obj instanceof PickledDType) {
      // (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
      if (!isPyTuple(state) || state.length < 8) this.fail('unexpected numpy dtype state');
      const [, order, sub, names, fields] = state;
      if (sub !== null || names !== null || fields !== null) {
        this.fail('structured or sub-array numpy dtypes are not supported');
      }
      if (typeof order !== 'string' || !'<>|='.includes(order)) this.fail(`bad dtype byte order ${String(order)}`);
      if (itemSize(obj.name) > 1) obj.byteOrder = order;
      return;
    }
    if (typeof obj === 'object' && obj !== null && (obj as PendingArray)[PENDING]) {
      const a = obj as PendingArray;
      if (!isPyTuple(state) || (state.length !== 5 && state.length !== 4)) this.fail('unexpected numpy array state');
      const s = state.length === 5 ? state.slice(1) : state;
      const [shape, dt, fortran, raw] = s;
      if (!(dt instanceof PickledDType)) this.fail(`numpy array state has no dtype (got ${describe(dt)})`);
      if (Array.isArray(raw) && !isPyTuple(raw)) this.fail('numpy object arrays are refused');
      const built = this.makeArray(dt, this.shapeOf(shape), this.rawBytes(raw), fortran === true || fortran === 1);
      a.dtype = built.dtype;
      a.shape = built.shape;
      a.data = built.data;
      delete a[PENDING];
      return;
    }
    if (obj instanceof PickledShapeDtype) {
      // Slotted classes pickle as (dict_state, slot_state).
      let fields: unknown = state;
      if (isPyTuple(state) && state.length === 2) {
        const [d, slots] = state;
        fields = slots ?? d;
        if (d instanceof PyDict && slots instanceof PyDict) fields = new PyDict([...d, ...slots]);
      }
      if (!(fields instanceof PyDict)) this.fail('unexpected ShapeDtype state');
      if (fields.has('shape')) obj.shape = this.shapeOf(fields.get('shape'));
      if (fields.has('dtype')) obj.dtype = this.dtypeName(fields.get('dtype'));
      return;
    }
    if (obj instanceof PyInstance) {
      obj.state = state;
      return;
    }
    if (obj instanceof PyDict && (state === null || (state instanceof PyDict && state.size === 0))) return;
    this.fail(`BUILD is not supported on a ${describe(obj)}`);
  }

  private fillDict(d: PyDict, src: unknown): void {
    if (src instanceof PyDict) {
      this.charge(16 * src.size);
      for (const [k, v] of src) d.set(k, v);
      return;
    }
    for (const pair of this.iterable(src)) {
      if (!Array.isArray(pair) || pair.length !== 2) this.fail('dict items must be pairs');
      d.set(pair[0], pair[1]);
    }
  }

  private iterable(x: unknown): unknown[] {
    const size = Array.isArray(x) ? x.length : x instanceof Set || x instanceof PyDict ? x.size : 0;
    this.charge(CONTAINER_COST + 8 * size);
    if (Array.isArray(x)) return x;
    if (x instanceof Set) return [...x];
    if (x instanceof PyDict) return [...x.keys()];
    return this.fail(`expected an iterable, got ${describe(x)}`);
  }

  private rawBytes(raw: unknown): Uint8Array {
    if (raw instanceof Uint8Array) return raw;
    if (typeof raw === 'string') {
      // Python 2 str data loaded as latin-1 text.
      const out = new Uint8Array(raw.length);
      for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i) & 0xff;
      return out;
    }
    return this.fail(`expected raw array bytes, got ${describe(raw)}`);
  }

  private shapeOf(x: unknown): number[] {
    if (typeof x === 'number') x = [x];
    if (!Array.isArray(x)) this.fail(`expected a shape tuple, got ${describe(x)}`);
    return x.map((d) => {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) this.fail(`invalid dimension ${String(d)}`);
      return d;
    });
  }

  private dtypeName(x: unknown): string {
    if (x instanceof PickledDType) return x.name;
    if (typeof x === 'string') {
      try {
        return parseNumpyDtype(x).dtype;
      } catch {
        return x;
      }
    }
    if (x instanceof PyGlobal) return x.qualname;
    return this.fail(`expected a dtype, got ${describe(x)}`);
  }

  private makeArray(dt: PickledDType, shape: number[], raw: Uint8Array, fortran: boolean): NdArray {
    let n: number;
    try {
      n = shapeSize(shape);
    } catch (e) {
      return this.fail((e as Error).message);
    }
    const need = n * itemSize(dt.name);
    this.charge(need);
    if (raw.length !== need) {
      this.fail(`numpy array ${dt.name}[${shape.join(', ')}] needs ${need} bytes of data, got ${raw.length}`);
    }
    let bytes = raw;
    if (dt.byteOrder === '>' && itemSize(dt.name) > 1) {
      bytes = raw.slice();
      byteswapInPlace(bytes, itemSize(dt.name));
    }
    const a = fromBytes(dt.name, shape, bytes);
    if (fortran && shape.length > 1) a.data = fortranToC(a.data, shape);
    return a;
  }
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

/** Converts internal containers into their documented JS forms. */
function finalize(root: unknown): unknown {
  const done = new Map<object, unknown>();
  const visit = (x: unknown): unknown => {
    if (typeof x !== 'object' || x === null) return x;
    if (done.has(x)) return done.get(x);
    if (x instanceof PyDict) {
      const allStr = [...x.keys()].every((k) => typeof k === 'string');
      if (allStr) {
        const o: Record<string, unknown> = {};
        done.set(x, o);
        for (const [k, v] of x) {
          // defineProperty so a '__proto__' key stays an ordinary key
          Object.defineProperty(o, k as string, { value: visit(v), writable: true, enumerable: true, configurable: true });
        }
        return o;
      }
      const m = new Map<unknown, unknown>();
      done.set(x, m);
      for (const [k, v] of x) m.set(visit(k), visit(v));
      return m;
    }
    if (x instanceof PyInstance) {
      const placeholder: Record<string, unknown> = {};
      done.set(x, placeholder);
      const s = x.state === undefined ? {} : visit(x.state);
      done.set(x, s);
      return s;
    }
    if (x instanceof PyGlobal) {
      // A bare class reference (e.g. a defaultdict factory) becomes its dotted name.
      return x.qualname;
    }
    if (Array.isArray(x)) {
      done.set(x, x);
      for (let i = 0; i < x.length; i++) x[i] = visit(x[i]);
      return x;
    }
    if (x instanceof Set) {
      const s = new Set<unknown>();
      done.set(x, s);
      for (const v of x) s.add(visit(v));
      return s;
    }
    if ((x as PendingArray)[PENDING]) {
      // _reconstruct without BUILD: numpy would give an empty int8 array.
      const a = x as PendingArray;
      a.dtype = 'int8';
      a.data = new Int8Array(0);
      delete a[PENDING];
    }
    return x;
  };
  try {
    return visit(root);
  } catch (e) {
    if (e instanceof RangeError) throw new PickleError('pickle data is nested too deeply');
    throw e;
  }
}

/**
 * Loads a pickle without executing anything from it. Throws PickleError for
 * disallowed globals, unknown opcodes, malformed or truncated data, and for
 * streams that would build more than maxBytes (see limits.ts). Shared
 * references (the pickle memo) stay shared.
 */
export function unpickle(bytes: Uint8Array, opts: { maxBytes?: number } = {}): unknown {
  if (!(bytes instanceof Uint8Array)) throw new PickleError('unpickle expects a Uint8Array');
  if (bytes.length === 0) throw new PickleError('truncated pickle: no data');
  return finalize(new Unpickler(bytes, opts.maxBytes ?? maxBytesFor(bytes.length)).run());
}
