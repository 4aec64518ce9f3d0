// Trax's tokenization pipeline API (trax.data.Tokenize / detokenize / vocab_size).
import { fetchBytes, fs, path as paths } from '../platform/host.js';
import { BertTokenizer } from './tokenizers/bert.js';
import { ByteLevelBPE } from './tokenizers/bpe.js';
import { ByteTextEncoder } from './tokenizers/char.js';
import { SentencePieceProcessor } from './tokenizers/sentencepiece.js';
import { SubwordTextEncoder } from './tokenizers/subword.js';
import type { Tokenizer } from './tokenizers/types.js';
import { isPlainObject } from '../engine/tree.js';

export type VocabType = 'char' | 'subword' | 'sentencepiece' | 'bert' | 'bert-lowercase' | 'bpe';
const VOCAB_TYPES: readonly VocabType[] = ['char', 'subword', 'sentencepiece', 'bert', 'bert-lowercase', 'bpe'];

export interface VocabOptions {
  /** Default 'subword', as in Trax. 'bpe' reads a ByteLevelBPE JSON file. */
  vocabType?: VocabType;
  /** File name, joined onto vocabDir. Not used by 'char'. */
  vocabFile?: string;
  /** Directory of vocabFile. There is no default remote directory: Trax's gs://trax-ml/vocabs/ is not reachable here. */
  vocabDir?: string;
  /** Offset added to every id so 0..nReservedIds-1 stay free (e.g. pad and EOS). */
  nReservedIds?: number;
  /** A tokenizer already loaded (e.g. by tokenizerFromBytes or loadTokenizer, where there are no files); wins over the rest. */
  tokenizer?: Tokenizer;
}

/**
 * A tokenizer from a vocabulary's contents instead of a file: the text of a
 * subword or BERT vocabulary, a SentencePiece model's bytes, a ByteLevelBPE
 * JSON. Text formats take a string or UTF-8 bytes.
 */
export function tokenizerFromBytes(type: Exclude<VocabType, 'char'>, data: Uint8Array | ArrayBuffer | string): Tokenizer {
  const bytes = typeof data === 'string' ? null : data instanceof Uint8Array ? data : new Uint8Array(data);
  const text = () => (bytes === null ? data as string : new TextDecoder('utf-8').decode(bytes));
  switch (type) {
    case 'subword': return SubwordTextEncoder.fromVocabText(text());
    case 'sentencepiece':
      if (bytes === null) throw new Error('tokenizerFromBytes: a SentencePiece model is binary; pass its bytes, not a string');
      return SentencePieceProcessor.fromBytes(bytes);
    case 'bert': return BertTokenizer.fromVocabText(text(), { doLowerCase: false });
    case 'bert-lowercase': return BertTokenizer.fromVocabText(text(), { doLowerCase: true });
    case 'bpe': return ByteLevelBPE.fromJSON(text());
    default: throw new Error(`tokenizerFromBytes: vocabType must be one of ${VOCAB_TYPES.filter((t) => t !== 'char').map((t) => `'${t}'`).join(', ')}; got ${JSON.stringify(type)}`);
  }
}

/** Fetches a vocabulary (a URL, or in browsers a path relative to the page) and builds its tokenizer. */
export async function loadTokenizer(type: Exclude<VocabType, 'char'>, url: string | URL): Promise<Tokenizer> {
  return tokenizerFromBytes(type, await fetchBytes(url));
}

export interface TokenizeOptions extends VocabOptions {
  /** Tuple indices or dict keys to tokenize; by default every string element. */
  keys?: ReadonlyArray<number | string>;
}

const cache = new Map<string, Tokenizer>();

/** Loads (once per type and resolved path) the tokenizer these options describe. */
export function getTokenizer(opts: VocabOptions = {}): Tokenizer {
  if (opts.tokenizer) return opts.tokenizer;
  const type = opts.vocabType ?? 'subword';
  if (!VOCAB_TYPES.includes(type)) {
    throw new Error(`vocabType must be one of ${VOCAB_TYPES.map((t) => `'${t}'`).join(', ')}; got ${JSON.stringify(type)}`);
  }
  if (type === 'char') {
    // Trax's 'char' is ByteTextEncoder(num_reserved_ids=0); the offset is applied by tokenize.
    let t = cache.get('char');
    if (!t) cache.set('char', (t = new ByteTextEncoder(0)));
    return t;
  }
  if (!opts.vocabFile) throw new Error(`vocabFile is required for vocabType '${type}'`);
  const path = paths.resolve(opts.vocabDir ? paths.join(opts.vocabDir, opts.vocabFile) : opts.vocabFile);
  const key = `${type}\u0000${path}`;
  const hit = cache.get(key);
  if (hit) return hit;
  if (!fs.existsSync(path) || !fs.statSync(path).isFile()) {
    throw new Error(
      `vocab file not found: ${path} (vocabType '${type}'; Trax's default vocab dir gs://trax-ml/vocabs/ is not available, pass vocabDir)`,
    );
  }
  let t: Tokenizer;
  switch (type) {
    case 'subword': t = SubwordTextEncoder.load(path); break;
    case 'sentencepiece': t = SentencePieceProcessor.load(path); break;
    case 'bert': t = BertTokenizer.load(path, { doLowerCase: false }); break;
    case 'bert-lowercase': t = BertTokenizer.load(path, { doLowerCase: true }); break;
    case 'bpe': t = ByteLevelBPE.load(path); break;
  }
  cache.set(key, t);
  return t;
}

/** Forgets loaded tokenizers (e.g. after a vocab file was rewritten). */
export function clearTokenizerCache(): void {
  cache.clear();
}

function reservedOffset(opts: VocabOptions): number {
  const n = opts.nReservedIds ?? 0;
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`nReservedIds must be a non-negative integer, got ${n}`);
  return n;
}

function encodeText(tok: Tokenizer, text: string, offset: number): Int32Array {
  const ids = tok.encode(text);
  const out = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = ids[i] + offset;
  return out;
}

function tokenizeExample(ex: unknown, tok: Tokenizer, offset: number, keys: ReadonlyArray<number | string> | undefined): unknown {
  if (typeof ex === 'string') return encodeText(tok, ex, offset);
  if (Array.isArray(ex)) {
    return ex.map((x, i) => (typeof x === 'string' && (keys === undefined || keys.includes(i)) ? encodeText(tok, x, offset) : x));
  }
  if (isPlainObject(ex)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(ex)) {
      const x = ex[k];
      out[k] = typeof x === 'string' && (keys === undefined || keys.includes(k)) ? encodeText(tok, x, offset) : x;
    }
    return out;
  }
  return ex;
}

export interface TokenizeFn {
  <T = unknown>(stream: Iterable<T>): Generator<unknown, void, undefined>;
  <T = unknown>(stream: AsyncIterable<T>): AsyncGenerator<unknown, void, undefined>;
  <T = unknown>(stream: Iterable<T> | AsyncIterable<T>): Generator<unknown, void, undefined> | AsyncGenerator<unknown, void, undefined>;
}

/**
 * Tokenizes each example of a stream: a string becomes an Int32Array of ids
 * (+ nReservedIds); in an array or plain-object example, the string elements
 * at `keys` (all strings if omitted) are replaced. Other values pass through.
 * A sync iterable gives a sync generator and an async iterable an async one.
 */
export function tokenize<T>(stream: Iterable<T>, opts?: TokenizeOptions): Generator<unknown, void, undefined>;
export function tokenize<T>(stream: AsyncIterable<T>, opts?: TokenizeOptions): AsyncGenerator<unknown, void, undefined>;
export function tokenize<T>(
  stream: Iterable<T> | AsyncIterable<T>,
  opts?: TokenizeOptions,
): Generator<unknown, void, undefined> | AsyncGenerator<unknown, void, undefined>;
export function tokenize<T>(stream: Iterable<T> | AsyncIterable<T>, opts: TokenizeOptions = {}): Generator<unknown> | AsyncGenerator<unknown> {
  if (typeof stream === 'string') {
    throw new TypeError('tokenize expects a stream of examples, not a string; wrap it: [text]');
  }
  const tok = getTokenizer(opts);
  const offset = reservedOffset(opts);
  const keys = opts.keys;
  if (stream != null && typeof (stream as Iterable<T>)[Symbol.iterator] === 'function') {
    return (function* () {
      for (const ex of stream as Iterable<T>) yield tokenizeExample(ex, tok, offset, keys);
    })();
  }
  if (stream != null && typeof (stream as AsyncIterable<T>)[Symbol.asyncIterator] === 'function') {
    return (async function* () {
      for await (const ex of stream as AsyncIterable<T>) yield tokenizeExample(ex, tok, offset, keys);
    })();
  }
  throw new TypeError('tokenize expects an iterable or async iterable stream of examples');
}

/** Trax's `Tokenize(...)`: a pipeline step mapping a stream to a tokenized stream. The vocab loads on first use. */
export function Tokenize(opts: TokenizeOptions = {}): TokenizeFn {
  reservedOffset(opts);
  return ((stream: Iterable<unknown> | AsyncIterable<unknown>) => tokenize(stream, opts)) as TokenizeFn;
}

/**
 * Ids back to text: subtracts nReservedIds first, as Trax does. Trax is silent
 * about ids below nReservedIds (they would turn negative and fail or vanish
 * per vocab type); here they are dropped, so padding and EOS never reach the text.
 */
export function detokenize(ids: ArrayLike<number> | Iterable<number>, opts: VocabOptions = {}): string {
  const tok = getTokenizer(opts);
  const offset = reservedOffset(opts);
  const arr = Array.from(ids as ArrayLike<number>);
  const shifted: number[] = [];
  for (const id of arr) {
    const n = Number(id);
    if (!Number.isInteger(n)) throw new TypeError(`detokenize: id ${String(id)} is not an integer`);
    if (n >= offset) shifted.push(n - offset);
  }
  return tok.decode(shifted);
}

/** Number of ids used, reserved ones included (Trax's vocab_size). */
export function vocabSize(opts: VocabOptions = {}): number {
  return getTokenizer(opts).vocabSize + reservedOffset(opts);
}
