// Byte-level BPE in the GPT-2 style, trainable on a corpus. Text is split by
// the GPT-2 pre-tokenization regex, each chunk becomes its bytes (lone
// surrogates included, via generalized UTF-8), and learned merges join bytes.
import { fs } from '../../platform/host.js';
import { checkId, type Tokenizer } from './types.js';
import { wtf8Decode, wtf8Encode } from './utf8.js';

export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's byte -> printable character table, so tokens are readable strings without spaces. */
function makeByteChars(): string[] {
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return table;
}
const BYTE_CHARS = makeByteChars();

/** Splits text into pre-tokens; any gap the regex skips is kept, so the split is always lossless. */
export function preTokenize(text: string, pattern: RegExp = GPT2_PATTERN): string[] {
  const re = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g');
  const out: string[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index! > last) out.push(text.slice(last, m.index));
    if (m[0].length === 0) continue;
    out.push(m[0]);
    last = m.index! + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export interface BpeJSON {
  type: 'byte-bpe';
  version: 1;
  pattern: string;
  /** token string (in GPT-2's byte alphabet) -> id */
  vocab: Record<string, number>;
  /** "left right" in merge order, as GPT-2's merges.txt */
  merges: string[];
}

export interface BpeTrainOptions {
  /** Number of merges to learn (vocab size is at most 256 + merges); default 1000. */
  numMerges?: number;
  /** Stop when the best pair occurs fewer times; default 2. */
  minFrequency?: number;
  pattern?: RegExp;
}

/** Max-heap of [count, pairKey]; ties go to the smaller pair key so training is deterministic. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];
  get size(): number {
    return this.counts.length;
  }
  private before(i: number, j: number): boolean {
    const a = this.counts[i];
    const b = this.counts[j];
    return a > b || (a === b && this.keys[i] < this.keys[j]);
  }
  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j], this.counts[i]];
    [this.keys[i], this.keys[j]] = [this.keys[j], this.keys[i]];
  }
  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): [number, number] {
    const top: [number, number] = [this.counts[0], this.keys[0]];
    const lastC = this.counts.pop()!;
    const lastK = this.keys.pop()!;
    if (this.counts.length) {
      this.counts[0] = lastC;
      this.keys[0] = lastK;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.counts.length && this.before(l, m)) m = l;
        if (r < this.counts.length && this.before(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

// Pair keys pack two symbol ids; 2^21 leaves room for ~2M symbols within 2^53.
const PAIR_SHIFT = 2 ** 21;
const pairKey = (a: number, b: number) => a * PAIR_SHIFT + b;

/** Latin-1 view of bytes, used as a map key for a token's byte string. */
function bytesKey(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const t = new Uint8Array(a.length + b.length);
  t.set(a);
  t.set(b, a.length);
  return t;
}

export class ByteLevelBPE implements Tokenizer {
  /** merges[i] = [left, right] token ids, in priority order. */
  readonly merges: ReadonlyArray<readonly [number, number]>;
  readonly pattern: RegExp;
  private readonly ranks = new Map<number, number>();
  /** Token id produced by each merge: a new id, or an existing one when the bytes already form a token. */
  private readonly mergeResult: number[] = [];
  private readonly tokenBytes: Uint8Array[] = [];
  private readonly cache = new Map<string, number[]>();

  /** Ids 0..255 are the bytes; each merge whose byte string is new appends the next id. */
  constructor(merges: ReadonlyArray<readonly [number, number]>, pattern: RegExp = GPT2_PATTERN) {
    this.merges = merges.map(([a, b]) => [a, b] as const);
    this.pattern = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g');
    const byBytes = new Map<string, number>();
    for (let b = 0; b < 256; b++) {
      this.tokenBytes.push(Uint8Array.of(b));
      byBytes.set(String.fromCharCode(b), b);
    }
    this.merges.forEach(([a, b], i) => {
      const size = this.tokenBytes.length;
      if (!Number.isInteger(a) || !Number.isInteger(b) || a >= size || b >= size || a < 0 || b < 0) {
        throw new Error(`BPE merge ${i} refers to an unknown token (${a}, ${b})`);
      }
      const key = pairKey(a, b);
      if (!this.ranks.has(key)) this.ranks.set(key, i);
      const t = concatBytes(this.tokenBytes[a], this.tokenBytes[b]);
      const k = bytesKey(t);
      let id = byBytes.get(k);
      if (id === undefined) {
        id = this.tokenBytes.length;
        this.tokenBytes.push(t);
        byBytes.set(k, id);
      }
      this.mergeResult.push(id);
    });
  }

  get vocabSize(): number {
    return this.tokenBytes.length;
  }

  /** Learns merges by pair frequency over pre-token counts, updating counts incrementally. */
  static train(text: string | Iterable<string>, opts: BpeTrainOptions = {}): ByteLevelBPE {
    const numMerges = opts.numMerges ?? 1000;
    const minFrequency = Math.max(1, opts.minFrequency ?? 2);
    const pattern = opts.pattern ?? GPT2_PATTERN;
    if (!Number.isInteger(numMerges) || numMerges < 0) throw new RangeError(`numMerges must be a non-negative integer, got ${numMerges}`);

    const wordCounts = new Map<string, number>();
    for (const doc of typeof text === 'string' ? [text] : text) {
      for (const w of preTokenize(doc, pattern)) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
    }
    const words: number[][] = [];
    const freqs: number[] = [];
    for (const [w, c] of wordCounts) {
      words.push(Array.from(wtf8Encode(w)));
      freqs.push(c);
    }

    const pairCounts = new Map<number, number>();
    const pairWords = new Map<number, Set<number>>();
    const add = (key: number, wi: number, c: number) => {
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + c);
      let s = pairWords.get(key);
      if (!s) pairWords.set(key, (s = new Set()));
      s.add(wi);
    };
    words.forEach((w, wi) => {
      for (let i = 0; i + 1 < w.length; i++) add(pairKey(w[i], w[i + 1]), wi, freqs[wi]);
    });
    const heap = new PairHeap();
    for (const [k, c] of pairCounts) heap.push(c, k);

    const merges: Array<[number, number]> = [];
    const tokenBytes: Uint8Array[] = [];
    const byBytes = new Map<string, number>();
    for (let b = 0; b < 256; b++) {
      tokenBytes.push(Uint8Array.of(b));
      byBytes.set(String.fromCharCode(b), b);
    }
    while (merges.length < numMerges && heap.size) {
      const [count, key] = heap.pop();
      const cur = pairCounts.get(key) ?? 0;
      if (cur !== count) {
        // Stale entry: re-queue with the live count. Every count change also pushes an entry, so a
        // popped entry that matches its live count is the true maximum.
        if (cur > 0) heap.push(cur, key);
        continue;
      }
      if (count < minFrequency) break;
      const a = Math.floor(key / PAIR_SHIFT);
      const b = key % PAIR_SHIFT;
      merges.push([a, b]);
      // Same rule as the constructor: reuse the id when these bytes already form a token.
      const bytes = concatBytes(tokenBytes[a], tokenBytes[b]);
      let id = byBytes.get(bytesKey(bytes));
      if (id === undefined) {
        id = tokenBytes.length;
        tokenBytes.push(bytes);
        byBytes.set(bytesKey(bytes), id);
      }
      const touched = new Set<number>();
      for (const wi of pairWords.get(key) ?? []) {
        const w = words[wi];
        const f = freqs[wi];
        // Remove this word's old pairs, merge, then add its new pairs.
        for (let i = 0; i + 1 < w.length; i++) {
          const k = pairKey(w[i], w[i + 1]);
          pairCounts.set(k, pairCounts.get(k)! - f);
          touched.add(k);
        }
        const merged: number[] = [];
        for (let i = 0; i < w.length; i++) {
          if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
            merged.push(id);
            i++;
          } else merged.push(w[i]);
        }
        words[wi] = merged;
        for (let i = 0; i + 1 < merged.length; i++) {
          const k = pairKey(merged[i], merged[i + 1]);
          add(k, wi, f);
          touched.add(k);
        }
      }
      pairCounts.delete(key);
      pairWords.delete(key);
      touched.delete(key);
      for (const k of touched) {
        const c = pairCounts.get(k) ?? 0;
        if (c > 0) heap.push(c, k);
        else {
          pairCounts.delete(k);
          pairWords.delete(k);
        }
      }
    }
    return new ByteLevelBPE(merges, pattern);
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const chunk of preTokenize(text, this.pattern)) {
      let ids = this.cache.get(chunk);
      if (!ids) {
        ids = this.encodeChunk(wtf8Encode(chunk));
        if (this.cache.size > 50_000) this.cache.clear();
        this.cache.set(chunk, ids);
      }
      for (const id of ids) out.push(id);
    }
    return out;
  }

  /** Applies merges lowest rank first over a linked list of symbols; a heap keeps long chunks O(n log n). */
  private encodeChunk(bytes: Uint8Array): number[] {
    const n = bytes.length;
    if (n < 2) return Array.from(bytes);
    const sym = Int32Array.from(bytes);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    // Heap entries: rank * n + position, so ties resolve leftmost first.
    const heap: number[] = [];
    const push = (v: number) => {
      heap.push(v);
      let i = heap.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (heap[p] <= heap[i]) break;
        [heap[p], heap[i]] = [heap[i], heap[p]];
        i = p;
      }
    };
    const pop = (): number => {
      const top = heap[0];
      const last = heap.pop()!;
      if (heap.length) {
        heap[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && heap[l] < heap[m]) m = l;
          if (r < heap.length && heap[r] < heap[m]) m = r;
          if (m === i) break;
          [heap[m], heap[i]] = [heap[i], heap[m]];
          i = m;
        }
      }
      return top;
    };
    const consider = (i: number) => {
      const j = next[i];
      if (i < 0 || j < 0) return;
      const r = this.ranks.get(pairKey(sym[i], sym[j]));
      if (r !== undefined) push(r * n + i);
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    const alive = new Uint8Array(n).fill(1);
    while (heap.length) {
      const v = pop();
      const rank = Math.floor(v / n);
      const i = v - rank * n;
      const j = next[i];
      // Skip entries whose symbols changed since they were queued.
      if (!alive[i] || j < 0 || this.ranks.get(pairKey(sym[i], sym[j])) !== rank) continue;
      sym[i] = this.mergeResult[rank];
      alive[j] = 0;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      if (prev[i] >= 0) consider(prev[i]);
      consider(i);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(sym[i]);
    return out;
  }

  /** Lossless inverse of encode; arbitrary id sequences decode with U+FFFD for invalid UTF-8. */
  decode(ids: ArrayLike<number>): string {
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      checkId(ids[i], this.tokenBytes.length, 'ByteLevelBPE.decode');
      total += this.tokenBytes[ids[i]].length;
    }
    const bytes = new Uint8Array(total);
    let o = 0;
    for (let i = 0; i < ids.length; i++) {
      bytes.set(this.tokenBytes[ids[i]], o);
      o += this.tokenBytes[ids[i]].length;
    }
    return wtf8Decode(bytes);
  }

  /** The token in GPT-2's printable byte alphabet (e.g. 'Ġthe' for ' the'). */
  idToToken(id: number): string {
    checkId(id, this.tokenBytes.length, 'ByteLevelBPE.idToToken');
    let s = '';
    for (const b of this.tokenBytes[id]) s += BYTE_CHARS[b];
    return s;
  }

  /** Raw bytes of a token. */
  tokenToBytes(id: number): Uint8Array {
    checkId(id, this.tokenBytes.length, 'ByteLevelBPE.tokenToBytes');
    return this.tokenBytes[id].slice();
  }

  toJSON(): BpeJSON {
    // Null prototype: a token may be spelled '__proto__'.
    const vocab: Record<string, number> = Object.create(null) as Record<string, number>;
    for (let id = 0; id < this.tokenBytes.length; id++) {
      const t = this.idToToken(id);
      vocab[t] = id;
    }
    return {
      type: 'byte-bpe',
      version: 1,
      pattern: this.pattern.source,
      vocab,
      merges: this.merges.map(([a, b]) => `${this.idToToken(a)} ${this.idToToken(b)}`),
    };
  }

  static fromJSON(json: BpeJSON | string): ByteLevelBPE {
    const obj = (typeof json === 'string' ? JSON.parse(json) : json) as BpeJSON;
    if (!obj || obj.type !== 'byte-bpe' || !Array.isArray(obj.merges)) {
      throw new Error("not a byte-level BPE JSON object (expected {type: 'byte-bpe', vocab, merges})");
    }
    // Merges name tokens by their byte spelling; names resolve in merge order.
    const byName = new Map<string, number>();
    for (let b = 0; b < 256; b++) byName.set(BYTE_CHARS[b], b);
    let next = 256;
    const merges: Array<[number, number]> = [];
    obj.merges.forEach((m, i) => {
      const parts = typeof m === 'string' ? m.split(' ') : [];
      if (parts.length !== 2) throw new Error(`BPE merge ${i} is malformed: ${JSON.stringify(m)}`);
      const a = byName.get(parts[0]);
      const b = byName.get(parts[1]);
      if (a === undefined || b === undefined) throw new Error(`BPE merge ${i} names an unknown token: ${JSON.stringify(m)}`);
      merges.push([a, b]);
      const name = parts[0] + parts[1];
      if (!byName.has(name)) byName.set(name, next++);
    });
    const bpe = new ByteLevelBPE(merges, obj.pattern ? new RegExp(obj.pattern, 'gu') : GPT2_PATTERN);
    if (obj.vocab) {
      for (const [tok, id] of Object.entries(obj.vocab)) {
        if (!Number.isInteger(id) || id < 0 || id >= bpe.vocabSize || bpe.idToToken(id) !== tok) {
          throw new Error(`BPE vocab entry ${JSON.stringify(tok)} -> ${id} does not match the merges`);
        }
      }
    }
    return bpe;
  }

  save(path: string): void {
    fs.writeFileSync(path, JSON.stringify(this.toJSON()), 'utf8');
  }

  static load(path: string): ByteLevelBPE {
    return ByteLevelBPE.fromJSON(fs.readFileSync(path, 'utf8'));
  }
}
