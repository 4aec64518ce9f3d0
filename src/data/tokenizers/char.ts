import { checkId, compareCodePoints, type Tokenizer } from './types.js';
import { utf8Decode, utf8Encode } from './utf8.js';

/** Names of the ids below `numReservedIds`, as in Trax's RESERVED_TOKENS. */
const RESERVED_NAMES = ['<pad>', '<EOS>'];

/**
 * Trax/tensor2tensor `ByteTextEncoder`: one id per UTF-8 byte, shifted by
 * `numReservedIds`. Trax's vocab type 'char' is `new ByteTextEncoder(0)` (256 ids).
 */
export class ByteTextEncoder implements Tokenizer {
  readonly numReservedIds: number;

  constructor(numReservedIds = 0) {
    if (!Number.isInteger(numReservedIds) || numReservedIds < 0) {
      throw new RangeError(`numReservedIds must be a non-negative integer, got ${numReservedIds}`);
    }
    this.numReservedIds = numReservedIds;
  }

  get vocabSize(): number {
    return 256 + this.numReservedIds;
  }

  encode(text: string): number[] {
    const bytes = utf8Encode(text);
    const out = new Array<number>(bytes.length);
    for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] + this.numReservedIds;
    return out;
  }

  /** Reserved ids decode to '<pad>'/'<EOS>' like upstream; bad UTF-8 becomes U+FFFD. */
  decode(ids: ArrayLike<number>): string {
    const res = this.numReservedIds;
    const parts: string[] = [];
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length) parts.push(utf8Decode(Uint8Array.from(bytes)));
      bytes = [];
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      checkId(id, this.vocabSize, 'ByteTextEncoder.decode');
      if (id < res) {
        // Upstream joins reserved names as bytes before decoding; they are ASCII, so flushing first is equivalent.
        flush();
        parts.push(RESERVED_NAMES[id] ?? '');
      } else bytes.push(id - res);
    }
    flush();
    return parts.join('');
  }

  idToToken(id: number): string {
    checkId(id, this.vocabSize, 'ByteTextEncoder.idToToken');
    if (id < this.numReservedIds) return RESERVED_NAMES[id] ?? '';
    const b = id - this.numReservedIds;
    return b < 0x80 ? String.fromCharCode(b) : `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
  }
}

export interface CharVocabJSON {
  type: 'char-vocab';
  chars: string[];
}

/**
 * Vocabulary of the distinct characters (code points) of a corpus, sorted by
 * code point, as nanoGPT's `sorted(set(text))`. Ids are indices into `chars`.
 */
export class CharVocab {
  readonly chars: string[];
  private readonly index: Map<string, number>;

  /** The distinct characters of `chars`, sorted by code point. */
  constructor(chars: Iterable<string>) {
    const set = new Set<string>();
    for (const c of chars) {
      if ([...c].length !== 1) throw new Error(`CharVocab entries must be single characters, got ${JSON.stringify(c)}`);
      set.add(c);
    }
    this.chars = [...set].sort(compareCodePoints);
    this.index = new Map(this.chars.map((c, i) => [c, i]));
  }

  static fromText(text: string): CharVocab {
    return new CharVocab(text);
  }

  static fromJSON(json: CharVocabJSON | string): CharVocab {
    const obj = (typeof json === 'string' ? JSON.parse(json) : json) as CharVocabJSON;
    if (!obj || obj.type !== 'char-vocab' || !Array.isArray(obj.chars)) {
      throw new Error("not a CharVocab JSON object (expected {type: 'char-vocab', chars: [...]})");
    }
    return new CharVocab(obj.chars);
  }

  toJSON(): CharVocabJSON {
    return { type: 'char-vocab', chars: [...this.chars] };
  }

  get size(): number { return this.chars.length; }
  get vocabSize(): number { return this.chars.length; }

  encode(text: string): Int32Array {
    const cps = Array.from(text);
    const out = new Int32Array(cps.length);
    for (let i = 0; i < cps.length; i++) {
      const id = this.index.get(cps[i]);
      if (id === undefined) throw new RangeError(`CharVocab.encode: character ${codePoint(cps[i])} ${JSON.stringify(cps[i])} at ${i} is not in the vocabulary`);
      out[i] = id;
    }
    return out;
  }

  decode(ids: ArrayLike<number> | Iterable<number>): string {
    let s = '';
    for (const id of Array.from(ids as ArrayLike<number>)) {
      checkId(id, this.chars.length, 'CharVocab.decode');
      s += this.chars[id];
    }
    return s;
  }

  idToToken(id: number): string {
    checkId(id, this.chars.length, 'CharVocab.idToToken');
    return this.chars[id];
  }
}

/** `"é" (U+00E9)`; JSON quoting keeps control characters readable. */
export function describeChar(c: string): string {
  return `${JSON.stringify(c)} (${codePoint(c)})`;
}

function codePoint(c: string): string {
  return `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}
