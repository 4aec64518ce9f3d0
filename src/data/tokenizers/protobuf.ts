// Minimal protobuf wire-format reader: enough to walk a message field by field.

export const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  StartGroup = 3,
  EndGroup = 4,
  Fixed32 = 5,
}

export interface Field {
  field: number;
  wire: WireType;
  /** Varint value (exact up to 2^53), or the fixed32/fixed64 low bits. */
  num: number;
  /** Low 32 bits of a varint, exact even for negative int32 (10-byte) encodings. */
  lo32: number;
  /** Payload of a length-delimited field (a view, not a copy). */
  bytes: Uint8Array;
  /** Offset of the payload within the message, for fixed-width reads. */
  offset: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

export class ProtoReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly src: Uint8Array) {
    this.view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  }

  get done(): boolean {
    return this.pos >= this.src.length;
  }

  private lastLo32 = 0;

  private varint(): number {
    let result = 0;
    let mul = 1;
    let lo = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.src.length) throw new Error('protobuf: truncated varint');
      const b = this.src[this.pos++];
      result += (b & 0x7f) * mul;
      if (i < 5) lo |= (b & 0x7f) << (7 * i);
      if (b < 0x80) {
        this.lastLo32 = lo;
        return result;
      }
      mul *= 128;
    }
    throw new Error('protobuf: varint longer than 10 bytes');
  }

  next(): Field {
    const key = this.varint();
    const field = Math.floor(key / 8);
    const wire = (key & 7) as WireType;
    const empty = this.src.subarray(0, 0);
    switch (wire) {
      case WireType.Varint:
        {
          const num = this.varint();
          return { field, wire, num, lo32: this.lastLo32, bytes: empty, offset: this.pos };
        }
      case WireType.Fixed64: {
        this.need(8);
        const offset = this.pos;
        this.pos += 8;
        return { field, wire, num: this.view.getUint32(offset, true), lo32: 0, bytes: this.src.subarray(offset, offset + 8), offset };
      }
      case WireType.LengthDelimited: {
        const len = this.varint();
        this.need(len);
        const offset = this.pos;
        this.pos += len;
        return { field, wire, num: len, lo32: 0, bytes: this.src.subarray(offset, offset + len), offset };
      }
      case WireType.Fixed32: {
        this.need(4);
        const offset = this.pos;
        this.pos += 4;
        return { field, wire, num: this.view.getUint32(offset, true), lo32: 0, bytes: this.src.subarray(offset, offset + 4), offset };
      }
      default:
        throw new Error(`protobuf: unsupported wire type ${wire} (field ${field})`);
    }
  }

  private need(n: number): void {
    if (this.pos + n > this.src.length) throw new Error('protobuf: truncated message');
  }
}

export function fieldFloat(f: Field): number {
  if (f.wire !== WireType.Fixed32) throw new Error(`protobuf: field ${f.field} is not a float`);
  return new DataView(f.bytes.buffer, f.bytes.byteOffset, 4).getFloat32(0, true);
}

export function fieldString(f: Field): string {
  if (f.wire !== WireType.LengthDelimited) throw new Error(`protobuf: field ${f.field} is not a string`);
  return utf8.decode(f.bytes);
}

/** int32 fields are sign-extended to 64-bit varints on the wire. */
export function fieldInt32(f: Field): number {
  return f.lo32 | 0;
}
