/**
 * safetensors reading and writing.
 *
 * Layout: u64 little-endian header size N, then N bytes of UTF-8 JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`,
 * then the byte buffer. Offsets are relative to the buffer start; tensors
 * must not overlap and must cover the buffer exactly. The writer pads the
 * header with spaces so the buffer starts on an 8-byte boundary.
 */

import { type DType, type NdArray, fromBytes, itemSize, shapeSize, toBytes } from './ndarray.js';

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

const TO_ST: Record<DType, string> = {
  float64: 'F64', float32: 'F32', float16: 'F16', bfloat16: 'BF16', int64: 'I64', int32: 'I32',
  int16: 'I16', int8: 'I8', uint64: 'U64', uint32: 'U32', uint16: 'U16', uint8: 'U8', bool: 'BOOL',
};
const FROM_ST: Record<string, DType> = Object.fromEntries(
  Object.entries(TO_ST).map(([k, v]) => [v, k as DType]));

/** Same cap as the reference implementation, so a bogus size cannot force a huge allocation. */
const MAX_HEADER = 100_000_000;

export interface SafetensorsContents {
  /** Tensors in the order of their data offsets. */
  tensors: Map<string, NdArray>;
  /** The `__metadata__` string map ({} when absent). */
  metadata: Record<string, string>;
}

export function parseSafetensors(bytes: Uint8Array): SafetensorsContents {
  if (bytes.length < 8) throw new SafetensorsError(`truncated safetensors data: ${bytes.length} bytes is shorter than the 8-byte header size`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) throw new SafetensorsError(`corrupt safetensors header: declared header size ${n} is too large`);
  const hlen = Number(n);
  if (8 + hlen > bytes.length) {
    throw new SafetensorsError(`truncated safetensors data: header needs ${hlen} bytes, only ${bytes.length - 8} present`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + hlen)));
  } catch (e) {
    throw new SafetensorsError(`corrupt safetensors header: not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError('corrupt safetensors header: expected a JSON object');
  }
  const buf = bytes.subarray(8 + hlen);
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) {
        throw new SafetensorsError('corrupt safetensors header: __metadata__ must be an object of strings');
      }
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== 'string') throw new SafetensorsError(`corrupt safetensors header: __metadata__.${k} is not a string`);
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    const bad = (why: string): never => {
      throw new SafetensorsError(`corrupt safetensors header: tensor ${JSON.stringify(name)} ${why}`);
    };
    if (typeof info !== 'object' || info === null) bad('is not an object');
    const t = info as Record<string, unknown>;
    const dtype = typeof t['dtype'] === 'string' ? FROM_ST[t['dtype']] : undefined;
    if (dtype === undefined) bad(`has unsupported dtype ${JSON.stringify(t['dtype'])}`);
    const shape = t['shape'];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad('has an invalid shape');
    const offs = t['data_offsets'];
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      bad('has invalid data_offsets');
    }
    const [begin, end] = offs as number[];
    if (end! < begin!) bad(`has data_offsets [${begin}, ${end}] that end before they begin`);
    if (end! > buf.length) bad(`has data_offsets [${begin}, ${end}] beyond the ${buf.length}-byte data buffer`);
    let count: number;
    try {
      count = shapeSize(shape as number[]);
    } catch (e) {
      return bad((e as Error).message);
    }
    if (count * itemSize(dtype!) !== end! - begin!) {
      bad(`needs ${count * itemSize(dtype!)} bytes for ${t['dtype']}[${(shape as number[]).join(', ')}] but data_offsets span ${end! - begin!}`);
    }
    entries.push({ name, dtype: dtype!, shape: shape as number[], begin: begin!, end: end! });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of entries) {
    if (e.begin !== cursor) {
      throw new SafetensorsError(
        `corrupt safetensors header: tensor ${JSON.stringify(e.name)} starts at ${e.begin}, expected ${cursor} (overlap or gap)`);
    }
    cursor = e.end;
  }
  if (cursor !== buf.length) {
    throw new SafetensorsError(`corrupt safetensors file: tensors cover ${cursor} bytes but the data buffer has ${buf.length}`);
  }
  const tensors = new Map<string, NdArray>();
  for (const e of entries) tensors.set(e.name, fromBytes(e.dtype, e.shape, buf.subarray(e.begin, e.end)));
  return { tensors, metadata };
}

export type TensorEntries = Map<string, NdArray> | Record<string, NdArray> | readonly (readonly [string, NdArray])[];

/** Serializes tensors (in the given order) and optional string metadata. */
export function serializeSafetensors(tensors: TensorEntries, metadata?: Record<string, string>): Uint8Array {
  const list: (readonly [string, NdArray])[] = tensors instanceof Map
    ? [...tensors.entries()]
    : Array.isArray(tensors) ? [...(tensors as readonly (readonly [string, NdArray])[])] : Object.entries(tensors as Record<string, NdArray>);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`metadata value for ${k} must be a string`);
    }
    header['__metadata__'] = metadata;
  }
  let off = 0;
  const seen = new Set<string>();
  for (const [name, a] of list) {
    if (name === '__metadata__') throw new SafetensorsError('a tensor cannot be named __metadata__');
    if (seen.has(name)) throw new SafetensorsError(`duplicate tensor name ${JSON.stringify(name)}`);
    seen.add(name);
    const nbytes = shapeSize(a.shape) * itemSize(a.dtype);
    if (a.data.byteLength !== nbytes) throw new SafetensorsError(`tensor ${name}: data does not match shape [${a.shape.join(', ')}]`);
    Object.defineProperty(header, name, {
      value: { dtype: TO_ST[a.dtype], shape: a.shape, data_offsets: [off, off + nbytes] },
      enumerable: true, writable: true, configurable: true,
    });
    off += nbytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const [, a] of list) {
    const b = toBytes(a);
    out.set(b, pos);
    pos += b.length;
  }
  return out;
}
