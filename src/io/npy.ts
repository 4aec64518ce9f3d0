/**
 * numpy .npy reading and writing (format versions 1.0, 2.0 and 3.0) with
 * allow_pickle=False semantics: object arrays are refused, nothing is
 * unpickled. Also handles several .npy records written back to back, which is
 * how Trax's Loop stores weights (`model.weights.npy.gz` is the gzip of
 * np.save(f, w) for each flat weight in turn).
 */

import { fs } from '../platform/host.js';
import {
  type DType, type NdArray, byteswapInPlace, fortranToC, fromBytes, itemSize, shapeSize, toBytes,
} from './ndarray.js';
import { NUMPY_CODE, parseNumpyDtype } from './pickle.js';

export class NpyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NpyError';
  }
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

type PyLit = string | number | boolean | null | PyLit[] | { [k: string]: PyLit };

/** Parses the tiny Python-literal subset used by .npy headers. */
function parseHeaderLiteral(text: string, where: number): PyLit {
  let i = 0;
  const err = (msg: string): never => {
    throw new NpyError(`bad .npy header at byte ${where}: ${msg} in ${JSON.stringify(text.trim())}`);
  };
  const ws = (): void => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const value = (): PyLit => {
    ws();
    const c = text[i];
    if (c === undefined) return err('unexpected end');
    if (c === '{') {
      i++;
      const o: Record<string, PyLit> = {};
      for (;;) {
        ws();
        if (text[i] === '}') {
          i++;
          return o;
        }
        const k = value();
        if (typeof k !== 'string') err('dict keys must be strings');
        ws();
        if (text[i] !== ':') err("expected ':'");
        i++;
        Object.defineProperty(o, k as string, { value: value(), enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== '}') err("expected ',' or '}'");
      }
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      i++;
      const items: PyLit[] = [];
      for (;;) {
        ws();
        if (text[i] === close) {
          i++;
          return items;
        }
        items.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== close) err(`expected ',' or '${close}'`);
      }
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) err('unterminated string');
      const s = text.slice(i + 1, end);
      if (s.includes('\\')) err('escapes are not supported');
      i = end + 1;
      return s;
    }
    const m = /^(-?\d+)L?|^(True|False|None)\b/.exec(text.slice(i));
    if (!m) return err(`unexpected character '${c}'`);
    i += m[0].length;
    if (m[1] !== undefined) return Number(m[1]);
    return m[2] === 'True' ? true : m[2] === 'False' ? false : null;
  };
  const v = value();
  ws();
  if (i !== text.length) err('trailing characters');
  return v;
}

/** Reads one .npy record starting at `offset`; returns the array and the offset just after it. */
export function readNpyRecord(bytes: Uint8Array, offset = 0): { array: NdArray; next: number } {
  const avail = bytes.length - offset;
  if (avail < 10) throw new NpyError(`truncated .npy data at byte ${offset}: ${avail} bytes is too short for a header`);
  for (let k = 0; k < 6; k++) {
    if (bytes[offset + k] !== MAGIC[k]) throw new NpyError(`not a .npy record at byte ${offset}: missing \\x93NUMPY magic`);
  }
  const major = bytes[offset + 6]!;
  let headerLen: number;
  let p = offset + 8;
  if (major === 1) {
    headerLen = bytes[p]! | (bytes[p + 1]! << 8);
    p += 2;
  } else if (major === 2 || major === 3) {
    if (avail < 12) throw new NpyError(`truncated .npy data at byte ${offset}: header length cut off`);
    headerLen = (bytes[p]! | (bytes[p + 1]! << 8) | (bytes[p + 2]! << 16)) + bytes[p + 3]! * 0x1000000;
    p += 4;
  } else {
    throw new NpyError(`unsupported .npy format version ${major}.${bytes[offset + 7]} at byte ${offset}`);
  }
  if (p + headerLen > bytes.length) {
    throw new NpyError(`truncated .npy data at byte ${offset}: header needs ${headerLen} bytes, ${bytes.length - p} remain`);
  }
  const headerBytes = bytes.subarray(p, p + headerLen);
  let text: string;
  try {
    text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: major === 3 }).decode(headerBytes);
  } catch {
    throw new NpyError(`bad .npy header at byte ${offset}: invalid UTF-8`);
  }
  p += headerLen;
  const h = parseHeaderLiteral(text, offset);
  if (typeof h !== 'object' || h === null || Array.isArray(h)) throw new NpyError(`bad .npy header at byte ${offset}: not a dict`);
  const keys = Object.keys(h).sort().join(',');
  if (keys !== 'descr,fortran_order,shape') throw new NpyError(`bad .npy header at byte ${offset}: keys are ${keys}`);
  const { descr, fortran_order: fortran, shape } = h as { descr: PyLit; fortran_order: PyLit; shape: PyLit };
  if (typeof descr !== 'string') {
    throw new NpyError(`unsupported .npy dtype at byte ${offset}: structured arrays are not supported`);
  }
  if (descr.replace(/^[<>|=]/, '').startsWith('O')) {
    throw new NpyError(`refusing .npy object array at byte ${offset}: object arrays need allow_pickle=True`);
  }
  let dt: { dtype: DType; byteOrder: string };
  try {
    dt = parseNumpyDtype(descr);
  } catch (e) {
    throw new NpyError(`unsupported .npy dtype at byte ${offset}: ${(e as Error).message}`);
  }
  if (typeof fortran !== 'boolean') throw new NpyError(`bad .npy header at byte ${offset}: fortran_order must be a bool`);
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new NpyError(`bad .npy header at byte ${offset}: shape must be a tuple of non-negative ints`);
  }
  const dims = shape as number[];
  let n: number;
  try {
    n = shapeSize(dims);
  } catch (e) {
    throw new NpyError(`bad .npy header at byte ${offset}: ${(e as Error).message}`);
  }
  const nbytes = n * itemSize(dt.dtype);
  if (p + nbytes > bytes.length) {
    throw new NpyError(
      `truncated .npy data at byte ${offset}: ${dt.dtype}[${dims.join(', ')}] needs ${nbytes} bytes, ${bytes.length - p} remain`);
  }
  let raw = bytes.subarray(p, p + nbytes);
  if (dt.byteOrder === '>' && itemSize(dt.dtype) > 1) {
    raw = raw.slice();
    byteswapInPlace(raw, itemSize(dt.dtype));
  }
  const array = fromBytes(dt.dtype, dims, raw);
  if (fortran && dims.length > 1) array.data = fortranToC(array.data, dims);
  return { array, next: p + nbytes };
}

/** Reads a .npy file from disk; errors name the file. */
export function readNpyFile(path: string): NdArray {
  let bytes: Uint8Array;
  try { bytes = fs.readFileSync(path); } catch (e) { throw new NpyError(`cannot read ${path}: ${(e as Error).message}`); }
  try {
    return readNpy(bytes);
  } catch (e) {
    throw new NpyError(`${path}: ${(e as Error).message}`);
  }
}

/** Reads a single .npy file; trailing bytes are an error. */
export function readNpy(bytes: Uint8Array): NdArray {
  const { array, next } = readNpyRecord(bytes, 0);
  if (next !== bytes.length) throw new NpyError(`unexpected ${bytes.length - next} bytes after the .npy array`);
  return array;
}

/** Reads .npy records written one after another until the data ends. */
export function readNpyRecords(bytes: Uint8Array): NdArray[] {
  const out: NdArray[] = [];
  let off = 0;
  while (off < bytes.length) {
    const r = readNpyRecord(bytes, off);
    out.push(r.array);
    off = r.next;
  }
  return out;
}

/** numpy descr for an array; bfloat16 is bit-cast to uint16 as Trax does. */
export function npyDescr(dtype: DType): string {
  if (dtype === 'bfloat16') return '<u2';
  const code = NUMPY_CODE[dtype];
  return (itemSize(dtype) === 1 ? '|' : '<') + code;
}

/** Serializes one array as a .npy record (version 1.0 unless the header needs 2.0). */
export function writeNpy(a: NdArray): Uint8Array {
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  const dict = `{'descr': '${npyDescr(a.dtype)}', 'fortran_order': False, 'shape': ${shape}, }`;
  const data = toBytes(a);
  if (data.length !== shapeSize(a.shape) * itemSize(a.dtype)) {
    throw new NpyError(`array data does not match shape [${a.shape.join(', ')}]`);
  }
  // Pad with spaces and a newline so the data starts on a 64-byte boundary.
  let version = 1;
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    version = 2;
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const hlen = total - prefix;
  const header = dict + ' '.repeat(hlen - dict.length - 1) + '\n';
  const out = new Uint8Array(total + data.length);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  if (version === 1) {
    out[8] = hlen & 0xff;
    out[9] = hlen >>> 8;
  } else {
    new DataView(out.buffer).setUint32(8, hlen, true);
  }
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  out.set(data, total);
  return out;
}

/** Concatenated .npy records, like calling np.save on one file repeatedly. */
export function writeNpyRecords(arrays: readonly NdArray[]): Uint8Array {
  const parts = arrays.map(writeNpy);
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
