/** Common shape of every tokenizer in trax-ts. */
export interface Tokenizer {
  /** Number of ids the tokenizer can produce (ids are 0..vocabSize-1). */
  readonly vocabSize: number;
  encode(text: string): number[];
  decode(ids: ArrayLike<number>): string;
  /** The vocabulary entry for one id, when the tokenizer has one. */
  idToToken?(id: number): string;
}

/** Validates an id before it indexes a table, so bad ids fail loudly. */
export function checkId(id: number, size: number, what: string): void {
  if (!Number.isInteger(id) || id < 0 || id >= size) {
    throw new RangeError(`${what}: id ${id} is outside the vocabulary (0..${size - 1})`);
  }
}

/** Compares strings by code point, as Python does (JS `<` compares UTF-16 units). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/** Python's `str.isspace()` set, used where upstream calls strip()/split(). */
export const PY_WHITESPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_RSTRIP = new RegExp(`[${PY_WHITESPACE}]+$`, 'u');
const PY_STRIP_START = new RegExp(`^[${PY_WHITESPACE}]+`, 'u');

export function pyRstrip(s: string): string {
  return s.replace(PY_RSTRIP, '');
}

export function pyStrip(s: string): string {
  return s.replace(PY_STRIP_START, '').replace(PY_RSTRIP, '');
}
