// Trax's SubwordTextEncoder (a port of tensor2tensor's text_encoder.py):
// same vocab file format, tokenization, escaping, greedy matching and builder,
// so vocab files are interchangeable with upstream. Lengths are counted in
// code points, as Python does.
import { fs } from '../../platform/host.js';
import { checkId, compareCodePoints, pyRstrip, pyStrip, type Tokenizer } from './types.js';

export const PAD = '<pad>';
export const EOS = '<EOS>';
export const RESERVED_TOKENS: readonly string[] = [PAD, EOS];

const ESCAPE_CHARS = '\\_u;0123456789';
const RUNS = /[\p{L}\p{N}]+|[^\p{L}\p{N}]+/gu;
const ALNUM_START = /^[\p{L}\p{N}]/u;
const UNESCAPE = /\\u|\\\\|\\([0-9]+);/g;

/** tensor2tensor tokenizer.encode: alternating alphanumeric / other runs; a lone ' ' between two runs is dropped (kept at either end). */
export function subwordTokenize(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(RUNS)) {
    if (m[0] !== ' ' || m.index === 0 || m.index + 1 === text.length) out.push(m[0]);
  }
  return out;
}

/** tensor2tensor tokenizer.decode: a space goes back only between two alphanumeric tokens. */
export function subwordDetokenize(tokens: readonly string[]): string {
  let s = '';
  let prevAlnum = false;
  for (let i = 0; i < tokens.length; i++) {
    const alnum = ALNUM_START.test(tokens[i]);
    if (i > 0 && prevAlnum && alnum) s += ' ';
    s += tokens[i];
    prevAlnum = alnum;
  }
  return s;
}

export function escapeToken(token: string, alphabet: ReadonlySet<string>): string {
  const t = token.replace(/\\/g, '\\\\').replace(/_/g, '\\u');
  let out = '';
  for (const c of t) {
    out += alphabet.has(c) && c !== '\n' ? c : `\\${c.codePointAt(0)};`;
  }
  return out + '_';
}

export function unescapeToken(escaped: string): string {
  const trimmed = escaped.endsWith('_') ? escaped.slice(0, -1) : escaped;
  return trimmed.replace(UNESCAPE, (m: string, num: string | undefined) => {
    if (num === undefined) return m === '\\u' ? '_' : '\\';
    const cp = Number(num);
    // U+3013 (geta mark) is upstream's stand-in for an undefined character.
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : '\u3013';
  });
}

export interface SubwordBuildOptions {
  /** Longest subtoken considered while building (upstream's max_subtoken_length). */
  maxSubtokenLength?: number;
  /** Must start with ['<pad>', '<EOS>'] (upstream's rule); default exactly those. */
  reservedTokens?: readonly string[];
  numIterations?: number;
}

export class SubwordTextEncoder implements Tokenizer {
  private allSubtokens: string[] = [];
  private subtokenToId = new Map<string, number>();
  private maxSubtokenLen = 0;
  private alphabet = new Set<string>();
  private cache = new Map<string, number[]>();
  /** The vocabulary file, named in encode errors. */
  private source = '';

  /** Parses the vocab file text: one subtoken per line, optionally in '…' or "…". */
  static fromVocabText(text: string): SubwordTextEncoder {
    const lines = text.split('\n');
    // A trailing newline does not start another entry (Python's line iteration).
    if (lines.length && lines[lines.length - 1] === '') lines.pop();
    const subtokens = lines.map((line) => {
      let s = pyRstrip(line);
      if (s.length >= 2 && ((s.startsWith("'") && s.endsWith("'")) || (s.startsWith('"') && s.endsWith('"')))) {
        s = s.slice(1, -1);
      } else if (s === "'" || s === '"') {
        s = ''; // Python's s[1:-1] on a 1-char quoted line
      }
      return s;
    });
    const enc = new SubwordTextEncoder();
    enc.initSubtokens(subtokens);
    enc.initAlphabet(subtokens);
    return enc;
  }

  static load(path: string): SubwordTextEncoder {
    let enc: SubwordTextEncoder;
    try {
      enc = SubwordTextEncoder.fromVocabText(fs.readFileSync(path, 'utf8'));
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    }
    enc.source = path;
    return enc;
  }

  /** Vocab file text in upstream's format (single quotes, one per line). */
  toVocabText(addSingleQuotes = true): string {
    return this.allSubtokens.map((s) => (addSingleQuotes ? `'${s}'` : s) + '\n').join('');
  }

  store(path: string, addSingleQuotes = true): void {
    fs.writeFileSync(path, this.toVocabText(addSingleQuotes), 'utf8');
  }

  get vocabSize(): number {
    return this.allSubtokens.length;
  }

  get subtokenStrings(): readonly string[] {
    return this.allSubtokens;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const token of subwordTokenize(text)) {
      for (const id of this.tokenToIds(token)) out.push(id);
    }
    return out;
  }

  /** Treats the whole text as one token (upstream's encode_without_tokenizing). */
  encodeWithoutTokenizing(text: string): number[] {
    return [...this.tokenToIds(text)];
  }

  /** Out-of-range ids decode to '' as upstream does. */
  decode(ids: ArrayLike<number>): string {
    let concatenated = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (Number.isInteger(id) && id >= 0 && id < this.allSubtokens.length) concatenated += this.allSubtokens[id];
    }
    const tokens: string[] = [];
    for (const t of concatenated.split('_')) {
      if (!t) continue;
      const u = unescapeToken(t + '_');
      if (u) tokens.push(u);
    }
    return subwordDetokenize(tokens);
  }

  idToToken(id: number): string {
    checkId(id, this.allSubtokens.length, 'SubwordTextEncoder.idToToken');
    return this.allSubtokens[id];
  }

  private tokenToIds(token: string): number[] {
    let ids = this.cache.get(token);
    if (ids === undefined) {
      ids = this.escapedToSubtokens(escapeToken(token, this.alphabet)).map((s) => this.subtokenToId.get(s)!);
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(token, ids);
    }
    return ids;
  }

  /** Greedy longest-prefix match, bounded by the longest subtoken. */
  private escapedToSubtokens(escaped: string): string[] {
    const cps = Array.from(escaped);
    const out: string[] = [];
    let start = 0;
    while (start < cps.length) {
      let found = false;
      for (let end = Math.min(cps.length, start + this.maxSubtokenLen); end > start; end--) {
        const sub = cps.slice(start, end).join('');
        if (this.subtokenToId.has(sub)) {
          out.push(sub);
          start = end;
          found = true;
          break;
        }
      }
      if (!found) {
        // Upstream asserts here: the vocab lacks a single-character subtoken for this alphabet character.
        throw new Error(`SubwordTextEncoder${this.source ? ` (${this.source})` : ''}: no subtoken matches ${JSON.stringify(cps.slice(start).join(''))}; the vocabulary is incomplete`);
      }
    }
    return out;
  }

  private initSubtokens(subtokens: string[], reserved: readonly string[] = []): void {
    this.allSubtokens = [...reserved, ...subtokens];
    this.maxSubtokenLen = 0;
    this.subtokenToId = new Map();
    subtokens.forEach((s, i) => {
      const len = [...s].length;
      if (len > this.maxSubtokenLen) this.maxSubtokenLen = len;
      if (s) this.subtokenToId.set(s, i + reserved.length);
    });
    this.cache.clear();
  }

  private initAlphabet(tokens: Iterable<string>): void {
    const a = new Set<string>();
    for (const t of tokens) for (const c of t) a.add(c);
    for (const c of ESCAPE_CHARS) a.add(c);
    this.alphabet = a;
  }

  // ---- building a vocabulary (tensor2tensor's algorithm) ----

  /** Counts tokens of each text (upstream's build_from_generator counting). */
  static countTokens(texts: Iterable<string>, counts = new Map<string, number>()): Map<string, number> {
    for (const text of texts) {
      for (const tok of subwordTokenize(text)) counts.set(tok, (counts.get(tok) ?? 0) + 1);
    }
    return counts;
  }

  /** Upstream's build_from_generator: count tokens, then search min_count in [1, 1000]. */
  static buildFromGenerator(texts: Iterable<string>, targetSize: number, opts: SubwordBuildOptions = {}): SubwordTextEncoder {
    return SubwordTextEncoder.buildToTargetSize(targetSize, SubwordTextEncoder.countTokens(texts), 1, 1000, opts);
  }

  /** Like corpus_token_counts(split_on_newlines=True): each stripped line of `text` is a document. */
  static buildFromCorpus(text: string, targetSize: number, opts: SubwordBuildOptions = {}): SubwordTextEncoder {
    return SubwordTextEncoder.buildFromGenerator(text.split('\n').map(pyStrip), targetSize, opts);
  }

  /** Bisection on min_count until the vocab size is within 1% of `targetSize` (or the range is exhausted). */
  static buildToTargetSize(
    targetSize: number,
    tokenCounts: ReadonlyMap<string, number>,
    minVal: number,
    maxVal: number,
    opts: SubwordBuildOptions = {},
  ): SubwordTextEncoder {
    if (minVal > maxVal) throw new RangeError('Lower bound for the minimum token count is greater than the upper bound.');
    if (!(targetSize >= 1)) throw new RangeError('Target size must be positive.');
    const bisect = (lo: number, hi: number): SubwordTextEncoder => {
      const presentCount = Math.floor((lo + hi) / 2);
      const enc = new SubwordTextEncoder();
      enc.buildFromTokenCounts(tokenCounts, presentCount, opts);
      const isOk = Math.abs(enc.vocabSize - targetSize) * 100 < targetSize;
      if (isOk || lo >= hi || presentCount < 2) return enc;
      const other = enc.vocabSize > targetSize ? bisect(presentCount + 1, hi) : bisect(lo, presentCount - 1);
      return Math.abs(other.vocabSize - targetSize) < Math.abs(enc.vocabSize - targetSize) ? other : enc;
    };
    return bisect(minVal, maxVal);
  }

  /** Builds from token counts keeping subtokens seen at least `minCount` times. */
  static buildFromTokenCounts(
    tokenCounts: ReadonlyMap<string, number>,
    minCount: number,
    opts: SubwordBuildOptions = {},
  ): SubwordTextEncoder {
    const enc = new SubwordTextEncoder();
    enc.buildFromTokenCounts(tokenCounts, minCount, opts);
    return enc;
  }

  private buildFromTokenCounts(tokenCounts: ReadonlyMap<string, number>, minCount: number, opts: SubwordBuildOptions): void {
    const reserved = opts.reservedTokens ?? RESERVED_TOKENS;
    RESERVED_TOKENS.forEach((t, i) => {
      if (i < reserved.length && reserved[i] !== t) throw new Error('RESERVED_TOKENS must be a prefix of reservedTokens.');
    });
    const numIterations = opts.numIterations ?? 4;
    const maxLen = opts.maxSubtokenLength;

    this.initAlphabet([...tokenCounts.keys(), ...reserved]);
    this.initSubtokens([...this.alphabet], reserved);
    if (minCount < 1) minCount = 1;

    for (let iter = 0; iter < numIterations; iter++) {
      // Count every substring that starts on a current subtoken boundary.
      const counts = new Map<string, number>();
      for (const [token, count] of tokenCounts) {
        const escaped = escapeToken(token, this.alphabet);
        const cps = Array.from(escaped);
        const subtokens = this.escapedToSubtokens(escaped);
        let start = 0;
        for (const sub of subtokens) {
          let last = cps.length + 1;
          if (maxLen !== undefined) last = Math.min(last, start + maxLen);
          let s = '';
          for (let end = start + 1; end < last; end++) {
            s += cps[end - 1];
            counts.set(s, (counts.get(s) ?? 0) + count);
          }
          start += [...sub].length;
        }
      }

      // Candidates by length, longest first, so accepting one discounts its prefixes.
      const byLen: string[][] = [];
      for (const [s, c] of counts) {
        if (c < minCount) continue;
        const l = [...s].length;
        (byLen[l] ??= []).push(s);
      }
      const chosen: Array<[number, string]> = [];
      for (let l = byLen.length - 1; l > 0; l--) {
        for (const s of byLen[l] ?? []) {
          const c = counts.get(s)!;
          if (c < minCount) continue;
          if (!this.alphabet.has(s)) chosen.push([c, s]);
          const cps = Array.from(s);
          let prefix = '';
          for (let k = 1; k < l; k++) {
            prefix += cps[k - 1];
            counts.set(prefix, (counts.get(prefix) ?? 0) - c);
          }
        }
      }
      for (const a of this.alphabet) chosen.push([counts.get(a) ?? 0, a]);
      // Python's sort(reverse=True) on (count, string) tuples.
      chosen.sort((x, y) => (y[0] - x[0]) || compareCodePoints(y[1], x[1]));
      const escapedReserved = reserved.map((t) => escapeToken(t, this.alphabet));
      this.initSubtokens([...escapedReserved, ...chosen.map((x) => x[1])]);
    }
  }
}
