// A word-level tokenizer: words (letters, digits and inner apostrophes),
// single punctuation marks and line breaks are tokens; spaces and tabs are
// implied between tokens. The vocabulary is the vocabSize - 1 most frequent
// tokens of a training text plus an unknown token (id 0), so any text
// encodes, and decoding marks the words it did not know.

import { checkId } from './types.js';

export const WORD_UNK = '<unk>';

// A word, a line break, or any other single non-space character.
const TOKEN_RE = /[\p{L}\p{N}\p{M}_]+(?:['’][\p{L}\p{N}\p{M}_]+)*|\n|[^\s]/gu;
// No space before these, nor after the openers; joiners (hyphens, dashes,
// slashes) stick to both neighbours, as in "sperm-whale" and "air—it".
const JOINERS = ['-', '—', '/'];
const CLOSERS = new Set(['.', ',', ';', ':', '!', '?', ')', ']', '}', '%', '’', '”', '»', '…', ...JOINERS]);
const OPENERS = new Set(['(', '[', '{', '“', '‘', '«', '$', '#', '¿', '¡', ...JOINERS]);

export interface WordVocabJSON {
  /** The tokens in id order; tokens[0] is the unknown token. */
  tokens: string[];
}

/** Splits text into word, punctuation and line-break tokens, with each token's end (in code points). */
export function wordTokenize(text: string): { tokens: string[]; ends: number[] } {
  const tokens: string[] = [];
  const ends: number[] = [];
  // Code-point offsets: count as the scan goes, since JS indices are UTF-16 units.
  let cpPos = 0, unitPos = 0;
  for (const m of text.matchAll(TOKEN_RE)) {
    const end = m.index! + m[0].length;
    for (; unitPos < end; cpPos++) unitPos += text.codePointAt(unitPos)! > 0xffff ? 2 : 1;
    tokens.push(m[0]);
    ends.push(cpPos);
  }
  return { tokens, ends };
}

export class WordTokenizer {
  readonly tokens: string[];
  private readonly index: Map<string, number>;

  constructor(json: WordVocabJSON) {
    if (!json || !Array.isArray(json.tokens) || json.tokens.length < 2 || json.tokens[0] !== WORD_UNK) {
      throw new Error(`word vocabulary: "tokens" must list at least 2 tokens, the first being ${WORD_UNK}`);
    }
    this.tokens = json.tokens.slice();
    this.index = new Map();
    this.tokens.forEach((t, i) => {
      if (typeof t !== 'string' || t === '') throw new Error(`word vocabulary: token ${i} is not a non-empty string`);
      if (this.index.has(t)) throw new Error(`word vocabulary: token ${JSON.stringify(t)} appears twice (ids ${this.index.get(t)} and ${i})`);
      this.index.set(t, i);
    });
  }

  /**
   * The vocabSize - 1 most frequent tokens of text, most frequent first (ties
   * in code-point order), after the unknown token.
   */
  static build(text: string, vocabSize: number): WordTokenizer {
    if (!Number.isInteger(vocabSize) || vocabSize < 2) throw new RangeError(`WordTokenizer: vocabSize must be an integer >= 2 (the unknown token and one word), got ${vocabSize}`);
    const counts = new Map<string, number>();
    for (const t of wordTokenize(text).tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
    counts.delete(WORD_UNK);
    const ranked = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return new WordTokenizer({ tokens: [WORD_UNK, ...ranked.slice(0, vocabSize - 1).map(([t]) => t)] });
  }

  get vocabSize(): number { return this.tokens.length; }

  idToToken(id: number): string {
    checkId(id, this.tokens.length, 'WordTokenizer');
    return this.tokens[id];
  }

  /** Ids of text's tokens (unknown tokens map to id 0) and each token's end in code points. */
  encodeWithEnds(text: string): { ids: Int32Array; ends: Int32Array } {
    const { tokens, ends } = wordTokenize(text);
    const ids = new Int32Array(tokens.length);
    for (let i = 0; i < tokens.length; i++) ids[i] = this.index.get(tokens[i]) ?? 0;
    return { ids, ends: Int32Array.from(ends) };
  }

  encode(text: string): number[] {
    return Array.from(this.encodeWithEnds(text).ids);
  }

  /** The unknown tokens of a text (distinct, in order of appearance). */
  unknownWords(text: string): string[] {
    return [...new Set(wordTokenize(text).tokens.filter((t) => !this.index.has(t)))];
  }

  /**
   * Text from ids: tokens joined by single spaces, except after a line break
   * or an opening mark, before closing punctuation and around hyphens, dashes
   * and slashes; straight double quotes
   * alternate between opening and closing within a line. The unknown token
   * prints as <unk>.
   */
  decode(ids: ArrayLike<number>): string {
    let out = '';
    let prev = '';
    let quotes = 0;
    for (let i = 0; i < ids.length; i++) {
      const t = this.idToToken(ids[i]);
      if (t === '\n') {
        out += '\n';
        quotes = 0;
      } else {
        let glue = out === '' || prev === '\n' || OPENERS.has(prev) || CLOSERS.has(t);
        if (prev === '"' && quotes % 2 === 1) glue = true;
        if (t === '"') {
          if (quotes % 2 === 1) glue = true;
          quotes++;
        }
        out += (glue ? '' : ' ') + t;
      }
      prev = t;
    }
    return out;
  }

  toJSON(): WordVocabJSON {
    return { tokens: this.tokens.slice() };
  }

  static fromJSON(json: WordVocabJSON): WordTokenizer {
    return new WordTokenizer(json);
  }
}
