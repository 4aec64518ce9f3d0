// BERT WordPiece tokenizer with the behaviour of Trax's BertEncoder
// (basic tokenization, then greedy longest-match-first wordpieces).
import { fs } from '../../platform/host.js';
import { checkId, pyStrip, type Tokenizer } from './types.js';

const CONTROL = /[\p{Cc}\p{Cf}]/u;
const WHITESPACE = /[ \t\n\r\p{Zs}]/u;
const PUNCT = /\p{P}/u;
const NONSPACING_MARK = /\p{Mn}/gu;

function isBertControl(c: string): boolean {
  // \t \n \r are Cc but BERT counts them as whitespace.
  if (c === '\t' || c === '\n' || c === '\r') return false;
  return CONTROL.test(c);
}

function isBertPunctuation(c: string): boolean {
  const cp = c.codePointAt(0)!;
  // All non-alphanumeric ASCII counts, e.g. '^', '$', '`' which are not Unicode P*.
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  return PUNCT.test(c);
}

/** The "CJK Unified Ideographs" blocks BERT splits character by character. */
function isCjk(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

/** Python's str.split() with no argument. */
function whitespaceSplit(text: string): string[] {
  const t = pyStrip(text);
  return t ? t.split(/[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u) : [];
}

export function bertBasicTokenize(text: string, doLowerCase: boolean): string[] {
  let cleaned = '';
  for (const c of text) {
    const cp = c.codePointAt(0)!;
    if (cp === 0 || cp === 0xfffd || isBertControl(c)) continue;
    if (WHITESPACE.test(c)) cleaned += ' ';
    else if (isCjk(cp)) cleaned += ` ${c} `;
    else cleaned += c;
  }
  const out: string[] = [];
  for (let token of whitespaceSplit(cleaned)) {
    if (doLowerCase) token = token.toLowerCase().normalize('NFD').replace(NONSPACING_MARK, '');
    let cur = '';
    for (const c of token) {
      if (isBertPunctuation(c)) {
        if (cur) out.push(cur);
        out.push(c);
        cur = '';
      } else cur += c;
    }
    if (cur) out.push(cur);
  }
  // Stripping accents can leave whitespace-only or empty pieces; re-splitting drops them.
  return whitespaceSplit(out.join(' '));
}

export interface BertTokenizerOptions {
  doLowerCase?: boolean;
  unkToken?: string;
  /** Longer words become unkToken; Trax and BERT use 200. */
  maxInputCharsPerWord?: number;
}

export class BertTokenizer implements Tokenizer {
  readonly vocab: ReadonlyMap<string, number>;
  private readonly inv: string[];
  readonly doLowerCase: boolean;
  readonly unkToken: string;
  readonly maxInputCharsPerWord: number;

  /** `tokens[i]` is the token with id i (the vocab.txt lines). */
  constructor(tokens: readonly string[], opts: BertTokenizerOptions = {}) {
    const vocab = new Map<string, number>();
    const inv: string[] = [];
    tokens.forEach((t, i) => {
      // Duplicate lines: the later index wins for encoding, as Python's dict assignment.
      vocab.set(t, i);
      inv[i] = t;
    });
    this.vocab = vocab;
    this.inv = inv;
    this.doLowerCase = opts.doLowerCase ?? true;
    this.unkToken = opts.unkToken ?? '[UNK]';
    this.maxInputCharsPerWord = opts.maxInputCharsPerWord ?? 200;
  }

  static fromVocabText(text: string, opts: BertTokenizerOptions = {}): BertTokenizer {
    const lines = text.split('\n');
    if (lines.length && lines[lines.length - 1] === '') lines.pop();
    return new BertTokenizer(lines.map(pyStrip), opts);
  }

  static load(path: string, opts: BertTokenizerOptions = {}): BertTokenizer {
    return BertTokenizer.fromVocabText(fs.readFileSync(path, 'utf8'), opts);
  }

  get vocabSize(): number {
    return this.inv.length;
  }

  /** Wordpiece strings, e.g. 'unaffable' -> ['un', '##aff', '##able']. */
  tokenize(text: string): string[] {
    const out: string[] = [];
    for (const word of bertBasicTokenize(text, this.doLowerCase)) {
      const chars = Array.from(word);
      if (chars.length > this.maxInputCharsPerWord) {
        out.push(this.unkToken);
        continue;
      }
      const pieces: string[] = [];
      let start = 0;
      let bad = false;
      while (start < chars.length) {
        let end = chars.length;
        let found: string | null = null;
        while (start < end) {
          const sub = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
          if (this.vocab.has(sub)) {
            found = sub;
            break;
          }
          end--;
        }
        if (found === null) {
          bad = true;
          break;
        }
        pieces.push(found);
        start = end;
      }
      if (bad) out.push(this.unkToken);
      else out.push(...pieces);
    }
    return out;
  }

  encode(text: string): number[] {
    return this.tokenize(text).map((t) => {
      const id = this.vocab.get(t);
      if (id === undefined) throw new Error(`BertTokenizer: token ${JSON.stringify(t)} is not in the vocabulary (no ${this.unkToken}?)`);
      return id;
    });
  }

  /** Tokens joined by spaces with '##' pieces glued on, as Trax's BertEncoder.decode (not the original text). */
  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      const t = this.idToToken(ids[i]);
      if (i === 0) s = t;
      else if (t.startsWith('##')) s += t.replace(/^#+/, '');
      else s += ' ' + t;
    }
    return s;
  }

  idToToken(id: number): string {
    checkId(id, this.inv.length, 'BertTokenizer');
    return this.inv[id];
  }
}
