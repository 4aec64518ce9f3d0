/**
 * A pickle writer (protocol 3, GLOBAL opcodes, memoized like CPython) that
 * produces files real Python + numpy + Trax can load.
 *
 * JS -> Python mapping:
 *   null -> None; boolean -> bool; integer number / bigint -> int;
 *   other number or PyFloat -> float; string -> str; Uint8Array -> bytes;
 *   Array -> list, or tuple when marked with pyTuple(); plain object / Map
 *   -> dict; Set -> set; NdArray -> numpy.ndarray (exactly as numpy pickles
 *   it: _reconstruct(ndarray, (0,), b'b') + BUILD state); NumpyScalar ->
 *   numpy scalar; PickledDType -> numpy.dtype; PickledShapeDtype ->
 *   trax.shapes.ShapeDtype; PyDefaultDict -> collections.defaultdict;
 *   PyObject -> any class instance built with NEWOBJ/REDUCE (+ BUILD);
 *   PyGlobalRef -> a bare class/function reference.
 */

import { type NdArray, isNdArray, itemSize, toBytes } from './ndarray.js';
import { NUMPY_CODE, PickledDType, PickledShapeDtype, isPyTuple, pyTuple } from './pickle.js';
import { isPlainObject } from '../engine/tree.js';

/** Forces a JS number to be written as a Python float (e.g. 1.0 rather than 1). */
export class PyFloat {
  constructor(public readonly value: number) {}
}

/** A reference to a Python global such as builtins.list. */
export class PyGlobalRef {
  constructor(public readonly module: string, public readonly name: string) {}
}

/**
 * An instance of a Python class: GLOBAL module.name, then either
 * NEWOBJ(cls, args) or REDUCE(cls, args), then BUILD(state) if state is given.
 */
export class PyObject {
  constructor(
    public readonly module: string,
    public readonly name: string,
    public readonly args: unknown[] = [],
    public readonly state?: unknown,
    public readonly via: 'newobj' | 'reduce' = 'newobj',
  ) {}
}

/** collections.defaultdict(factory) holding `items` (a plain object or Map). */
export class PyDefaultDict {
  constructor(
    public readonly items: Record<string, unknown> | Map<unknown, unknown>,
    public readonly factory: PyGlobalRef | null = new PyGlobalRef('builtins', 'list'),
  ) {}
}

/** A numpy scalar (np.float32(x) etc.) rather than a 0-d array. */
export class NumpyScalar {
  constructor(public readonly array: NdArray) {}
}

export function pyFloat(v: number): PyFloat {
  return new PyFloat(v);
}

const OP = {
  MARK: 0x28, STOP: 0x2e, BININT: 0x4a, BININT1: 0x4b, BININT2: 0x4d, NONE: 0x4e, REDUCE: 0x52,
  BINUNICODE: 0x58, APPEND: 0x61, BUILD: 0x62, GLOBAL: 0x63, EMPTY_DICT: 0x7d, APPENDS: 0x65,
  BINGET: 0x68, LONG_BINGET: 0x6a, EMPTY_LIST: 0x5d, BINPUT: 0x71, LONG_BINPUT: 0x72, SETITEM: 0x73,
  TUPLE: 0x74, EMPTY_TUPLE: 0x29, SETITEMS: 0x75, BINFLOAT: 0x47, PROTO: 0x80, NEWOBJ: 0x81,
  TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87, NEWTRUE: 0x88, NEWFALSE: 0x89, LONG1: 0x8a, LONG4: 0x8b,
  BINBYTES: 0x42, SHORT_BINBYTES: 0x43,
} as const;

const BATCH = 1000; // CPython's batch size for APPENDS / SETITEMS

const utf8 = new TextEncoder();

class ByteWriter {
  private out = new Uint8Array(1 << 16);
  length = 0;

  private ensure(n: number): void {
    if (this.length + n <= this.out.length) return;
    let cap = this.out.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.out.subarray(0, this.length));
    this.out = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.out[this.length++] = b;
  }

  u16(v: number): void {
    this.ensure(2);
    this.out[this.length++] = v & 0xff;
    this.out[this.length++] = (v >>> 8) & 0xff;
  }

  u32(v: number): void {
    this.ensure(4);
    for (let i = 0; i < 4; i++) this.out[this.length++] = (v >>> (8 * i)) & 0xff;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.out.set(b, this.length);
    this.length += b.length;
  }

  f64be(v: number): void {
    this.ensure(8);
    new DataView(this.out.buffer).setFloat64(this.length, v, false);
    this.length += 8;
  }

  result(): Uint8Array {
    return this.out.slice(0, this.length);
  }
}

class Pickler {
  private w = new ByteWriter();
  private memo = new Map<unknown, number>(); // JS object identity -> memo index
  private globals = new Map<string, number>(); // 'module\nname' -> memo index
  private dtypes = new Map<string, number>(); // dtype str -> memo index
  private inProgress = new Set<object>();

  dump(value: unknown): Uint8Array {
    this.w.byte(OP.PROTO);
    this.w.byte(3);
    this.save(value);
    this.w.byte(OP.STOP);
    return this.w.result();
  }

  private get(idx: number): void {
    if (idx < 256) {
      this.w.byte(OP.BINGET);
      this.w.byte(idx);
    } else {
      this.w.byte(OP.LONG_BINGET);
      this.w.u32(idx);
    }
  }

  private saveGlobal(module: string, name: string): void {
    const key = `${module}\n${name}`;
    const m = this.globals.get(key);
    if (m !== undefined) {
      this.get(m);
      return;
    }
    if (module.includes('\n') || name.includes('\n')) throw new Error('global names cannot contain newlines');
    this.w.byte(OP.GLOBAL);
    this.w.bytes(utf8.encode(`${module}\n${name}\n`));
    const idx = this.memo.size + this.globals.size + this.dtypes.size;
    this.globals.set(key, idx);
    this.emitPut(idx);
  }

  private emitPut(idx: number): void {
    if (idx < 256) {
      this.w.byte(OP.BINPUT);
      this.w.byte(idx);
    } else {
      this.w.byte(OP.LONG_BINPUT);
      this.w.u32(idx);
    }
  }

  private save(x: unknown): void {
    if (x === null) return this.w.byte(OP.NONE);
    if (x === undefined) throw new Error('cannot pickle undefined (use null for None)');
    if (typeof x === 'boolean') return this.w.byte(x ? OP.NEWTRUE : OP.NEWFALSE);
    if (typeof x === 'number') {
      if (Number.isInteger(x) && !Object.is(x, -0)) return this.saveInt(x);
      return this.saveFloat(x);
    }
    if (typeof x === 'bigint') return this.saveBigInt(x);
    if (typeof x === 'string') return this.saveStr(x);
    if (typeof x !== 'object') throw new Error(`cannot pickle a ${typeof x}`);
    if (x instanceof PyFloat) return this.saveFloat(x.value);
    if (x instanceof PyGlobalRef) return this.saveGlobal(x.module, x.name);
    if (x instanceof PickledDType) return this.saveDType(x.str);

    if (this.inProgress.has(x)) throw new Error('cannot pickle a tuple that contains itself');
    const seen = this.memo.get(x);
    if (seen !== undefined) return this.get(seen);
    if (isNdArray(x)) return this.saveNdArray(x);
    if (x instanceof Uint8Array) return this.saveBytes(x);
    if (x instanceof NumpyScalar) return this.saveNumpyScalar(x.array);
    if (x instanceof PickledShapeDtype) return this.saveShapeDtype(x);
    if (x instanceof PyDefaultDict) return this.saveDefaultDict(x);
    if (x instanceof PyObject) return this.saveObject(x);
    if (Array.isArray(x)) return isPyTuple(x) ? this.saveTuple(x) : this.saveList(x);
    if (x instanceof Map) return this.saveDict(x, [...x.entries()]);
    if (x instanceof Set) return this.saveSet(x);
    if (ArrayBuffer.isView(x)) throw new Error(`cannot pickle a bare ${x.constructor.name}; wrap it in an NdArray`);
    if (isPlainObject(x)) {
      // Catch malformed arrays instead of silently pickling them as dicts.
      if ('dtype' in x && 'shape' in x && ArrayBuffer.isView(x['data'])) {
        throw new Error(`invalid NdArray: dtype ${String(x['dtype'])} cannot be stored in a ${(x['data'] as object).constructor.name}`);
      }
      return this.saveDict(x, Object.entries(x));
    }
    throw new Error(`cannot pickle an instance of ${(x as object).constructor?.name ?? 'unknown class'}`);
  }

  private saveInt(v: number): void {
    if (v >= 0 && v < 0x100) {
      this.w.byte(OP.BININT1);
      this.w.byte(v);
    } else if (v >= 0 && v < 0x10000) {
      this.w.byte(OP.BININT2);
      this.w.u16(v);
    } else if (v >= -0x80000000 && v <= 0x7fffffff) {
      this.w.byte(OP.BININT);
      this.w.u32(v >>> 0);
    } else {
      this.saveBigInt(BigInt(v));
    }
  }

  private saveBigInt(v: bigint): void {
    if (v >= -0x80000000n && v <= 0x7fffffffn) return this.saveInt(Number(v));
    // Minimal little-endian two's complement, as CPython's encode_long does.
    const bytes: number[] = [];
    let x = v;
    for (;;) {
      const b = Number(x & 0xffn);
      bytes.push(b);
      x >>= 8n;
      if ((x === 0n && (b & 0x80) === 0) || (x === -1n && (b & 0x80) !== 0)) break;
    }
    if (bytes.length < 256) {
      this.w.byte(OP.LONG1);
      this.w.byte(bytes.length);
    } else {
      this.w.byte(OP.LONG4);
      this.w.u32(bytes.length);
    }
    this.w.bytes(Uint8Array.from(bytes));
  }

  private saveFloat(v: number): void {
    this.w.byte(OP.BINFLOAT);
    this.w.f64be(v);
  }

  private saveStr(s: string): void {
    const b = utf8.encode(s);
    this.w.byte(OP.BINUNICODE);
    this.w.u32(b.length);
    this.w.bytes(b);
    // CPython memoizes strings too; we skip it (strings are not shared objects in JS).
  }

  private saveBytes(b: Uint8Array): void {
    if (b.length < 256) {
      this.w.byte(OP.SHORT_BINBYTES);
      this.w.byte(b.length);
    } else {
      if (b.length > 0xffffffff) throw new Error('bytes longer than 4 GiB need protocol 4');
      this.w.byte(OP.BINBYTES);
      this.w.u32(b.length);
    }
    this.w.bytes(b);
  }

  private saveTupleItems(n: number): void {
    if (n === 1) this.w.byte(OP.TUPLE1);
    else if (n === 2) this.w.byte(OP.TUPLE2);
    else if (n === 3) this.w.byte(OP.TUPLE3);
    else this.w.byte(OP.TUPLE);
  }

  private saveTuple(t: unknown[]): void {
    if (t.length === 0) return this.w.byte(OP.EMPTY_TUPLE);
    this.inProgress.add(t);
    if (t.length > 3) this.w.byte(OP.MARK);
    for (const v of t) this.save(v);
    this.inProgress.delete(t);
    this.saveTupleItems(t.length);
    this.memoize(t);
  }

  private memoize(obj: object): void {
    const idx = this.memo.size + this.globals.size + this.dtypes.size;
    this.memo.set(obj, idx);
    this.emitPut(idx);
  }

  private saveList(l: unknown[]): void {
    this.w.byte(OP.EMPTY_LIST);
    this.memoize(l);
    this.batched(l.length, (i) => this.save(l[i]), OP.APPEND, OP.APPENDS);
  }

  private batched(n: number, one: (i: number) => void, single: number, multi: number): void {
    for (let start = 0; start < n; start += BATCH) {
      const end = Math.min(n, start + BATCH);
      if (end - start === 1) {
        one(start);
        this.w.byte(single);
      } else {
        this.w.byte(OP.MARK);
        for (let i = start; i < end; i++) one(i);
        this.w.byte(multi);
      }
    }
  }

  private saveDictItems(items: [unknown, unknown][]): void {
    this.batched(items.length, (i) => {
      this.save(items[i]![0]);
      this.save(items[i]![1]);
    }, OP.SETITEM, OP.SETITEMS);
  }

  private saveDict(obj: object, items: [unknown, unknown][]): void {
    this.w.byte(OP.EMPTY_DICT);
    this.memoize(obj);
    this.saveDictItems(items);
  }

  private saveSet(s: Set<unknown>): void {
    // Protocol 3 has no set opcodes: builtins.set([items]) like CPython.
    this.saveGlobal('builtins', 'set');
    this.w.byte(OP.EMPTY_LIST);
    this.batched(s.size, (() => {
      const items = [...s];
      return (i: number) => this.save(items[i]);
    })(), OP.APPEND, OP.APPENDS);
    this.w.byte(OP.TUPLE1);
    this.w.byte(OP.REDUCE);
    this.memoize(s);
  }

  private saveDefaultDict(d: PyDefaultDict): void {
    this.saveGlobal('collections', 'defaultdict');
    if (d.factory === null) this.w.byte(OP.NONE);
    else this.saveGlobal(d.factory.module, d.factory.name);
    this.w.byte(OP.TUPLE1);
    this.w.byte(OP.REDUCE);
    this.memoize(d);
    const items = d.items instanceof Map ? [...d.items.entries()] : Object.entries(d.items);
    this.saveDictItems(items);
  }

  private saveObject(o: PyObject): void {
    this.saveGlobal(o.module, o.name);
    this.saveTuple(pyTuple([...o.args]));
    this.w.byte(o.via === 'newobj' ? OP.NEWOBJ : OP.REDUCE);
    this.memoize(o);
    if (o.state !== undefined) {
      this.save(o.state);
      this.w.byte(OP.BUILD);
    }
  }

  private saveDType(str: string): void {
    const m = this.dtypes.get(str);
    if (m !== undefined) return this.get(m);
    const order = str[0]!;
    const code = str.slice(1);
    if (code === 'V2') throw new Error('numpy has no bfloat16 dtype; convert the array to float32 before pickling');
    this.saveGlobal('numpy', 'dtype');
    this.saveStr(code);
    this.w.byte(OP.NEWFALSE);
    this.w.byte(OP.NEWTRUE);
    this.w.byte(OP.TUPLE3);
    this.w.byte(OP.REDUCE);
    const idx = this.memo.size + this.globals.size + this.dtypes.size;
    this.dtypes.set(str, idx);
    this.emitPut(idx);
    // numpy dtype state: (version, byteorder, subarray, names, fields, elsize, alignment, flags)
    this.w.byte(OP.MARK);
    this.saveInt(3);
    this.saveStr(order);
    this.w.byte(OP.NONE);
    this.w.byte(OP.NONE);
    this.w.byte(OP.NONE);
    this.saveInt(-1);
    this.saveInt(-1);
    this.saveInt(0);
    this.w.byte(OP.TUPLE);
    this.w.byte(OP.BUILD);
  }

  private dtypeStr(a: NdArray): string {
    if (a.dtype === 'bfloat16') {
      throw new Error('numpy has no bfloat16 dtype; convert the array to float32 (or bit-cast to uint16) before pickling');
    }
    return (itemSize(a.dtype) === 1 ? '|' : '<') + NUMPY_CODE[a.dtype];
  }

  private saveNdArray(a: NdArray): void {
    const dstr = this.dtypeStr(a);
    this.saveGlobal('numpy.core.multiarray', '_reconstruct');
    this.saveGlobal('numpy', 'ndarray');
    this.saveInt(0);
    this.w.byte(OP.TUPLE1);
    this.saveBytes(Uint8Array.of(0x62)); // b'b'
    this.w.byte(OP.TUPLE3);
    this.w.byte(OP.REDUCE);
    this.memoize(a);
    // state: (1, shape, dtype, is_fortran=False, raw bytes)
    this.w.byte(OP.MARK);
    this.saveInt(1);
    this.saveShape(a.shape);
    this.saveDType(dstr);
    this.w.byte(OP.NEWFALSE);
    const raw = toBytes(a);
    if (raw.length !== a.shape.reduce((p, d) => p * d, 1) * itemSize(a.dtype)) {
      throw new Error(`NdArray data length does not match shape [${a.shape.join(', ')}]`);
    }
    this.saveBytes(raw);
    this.w.byte(OP.TUPLE);
    this.w.byte(OP.BUILD);
  }

  private saveShape(shape: readonly number[]): void {
    if (shape.length === 0) return this.w.byte(OP.EMPTY_TUPLE);
    if (shape.length > 3) this.w.byte(OP.MARK);
    for (const d of shape) this.saveInt(d);
    this.saveTupleItems(shape.length);
    // Shapes are fresh tuples in numpy too; memoize to keep numbering like CPython.
    this.memoize({});
  }

  private saveNumpyScalar(a: NdArray): void {
    if (a.data.length !== 1) throw new Error('a numpy scalar needs exactly one element');
    const dstr = this.dtypeStr(a);
    this.saveGlobal('numpy.core.multiarray', 'scalar');
    this.saveDType(dstr);
    this.saveBytes(toBytes(a).slice());
    this.w.byte(OP.TUPLE2);
    this.w.byte(OP.REDUCE);
    this.memoize({});
  }

  private saveShapeDtype(s: PickledShapeDtype): void {
    // Mirrors Trax: NEWOBJ(ShapeDtype, ()) then BUILD (None, {'shape':..., 'dtype': numpy.dtype}).
    this.saveGlobal('trax.shapes', 'ShapeDtype');
    this.w.byte(OP.EMPTY_TUPLE);
    this.w.byte(OP.NEWOBJ);
    this.memoize(s);
    this.w.byte(OP.NONE);
    this.w.byte(OP.EMPTY_DICT);
    this.memoize({});
    this.w.byte(OP.MARK);
    this.saveStr('shape');
    this.saveShape(s.shape);
    this.saveStr('dtype');
    const spec = NUMPY_CODE[s.dtype as keyof typeof NUMPY_CODE];
    if (spec === undefined) throw new Error(`ShapeDtype has unsupported dtype ${s.dtype}`);
    this.saveDType((spec.endsWith('1') ? '|' : '<') + spec);
    this.w.byte(OP.SETITEMS);
    this.w.byte(OP.TUPLE2);
    this.memoize({});
    this.w.byte(OP.BUILD);
  }
}

/** Serializes `value` as a protocol-3 pickle. */
export function writePickle(value: unknown): Uint8Array {
  return new Pickler().dump(value);
}
