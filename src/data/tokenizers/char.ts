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
export class CharVocab implements Tokenizer {
  readonly chars: readonly string[];
  private readonly index: Map<string, number>;

  constructor(chars: readonly string[]) {
    const seen = new Map<string, number>();
    chars.forEach((c, i) => {
      if ([...c].length !== 1) throw new Error(`CharVocab entries must be single characters, got ${JSON.stringify(c)}`);
      if (seen.has(c)) throw new Error(`CharVocab has a duplicate character ${describeChar(c)}`);
      seen.set(c, i);
    });
    this.chars = [...chars];
    this.index = seen;
  }

  static fromText(text: string): CharVocab {
    const set = new Set<string>();
    for (const c of text) set.add(c);
    return new CharVocab([...set].sort(compareCodePoints));
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

  get vocabSize(): number {
    return this.chars.length;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const c of text) {
      const id = this.index.get(c);
      if (id === undefined) throw new Error(`character ${describeChar(c)} is not in the vocabulary`);
      out.push(id);
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      checkId(ids[i], this.chars.length, 'CharVocab.decode');
      s += this.chars[ids[i]];
    }
    return s;
  }

  idToToken(id: number): string {
    checkId(id, this.chars.length, 'CharVocab.idToToken');
    return this.chars[id];
  }
}

/** "'é' (U+00E9)"; control characters are shown escaped so the message stays readable. */
function describeChar(c: string): string {
  const cp = c.codePointAt(0)!;
  const hex = cp.toString(16).toUpperCase().padStart(4, '0');
  const shown = /[\p{Cc}\p{Cs}]/u.test(c) ? JSON.stringify(c).slice(1, -1) : c;
  return `'${shown}' (U+${hex})`;
}
