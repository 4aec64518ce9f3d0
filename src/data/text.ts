// Text corpora for language-model training: the bundled Moby-Dick text or
// local files, a fixed train/validation split, a character vocabulary, and
// streams of fixed-length windows (seqLen + 1 ids each; the model shifts right
// inside; position 0 has loss weight 0, so the loss covers exactly seqLen
// next-character targets).

import { brotliDecompressSync, fs, packageRoot, path, pid, tempDir } from '../platform/host.js';
import { Tensor } from '../engine/tensor.js';
import { NumpyGenerator } from './numpy_rng.js';
import { randomSeed } from './rng.js';

/** Moby-Dick (Project Gutenberg's public-domain text, 1.2 MB), brotli-compressed in the package's data/ folder (Node). */
export function mobyDickFile(): string {
  return path.join(packageRoot(), 'data', 'moby-dick.txt.br');
}

function mobyDickBytes(): Uint8Array {
  const file = mobyDickFile();
  if (!fs.existsSync(file)) throw new Error(`The bundled corpus is missing: ${file} (reinstall trax-ts)`);
  try {
    return brotliDecompressSync(fs.readFileSync(file));
  } catch (e) {
    throw new Error(`The bundled corpus ${file} is damaged: ${(e as Error).message} (reinstall trax-ts)`);
  }
}

/** A plain-text copy of Moby-Dick (for tools that read files), written once to the OS temp folder. */
export function mobyDickPath(): string {
  const dir = path.join(tempDir(), 'trax-ts');
  const file = path.join(dir, `moby-dick-${fs.statSync(mobyDickFile()).size}.txt`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${pid()}.tmp`;
    fs.writeFileSync(tmp, mobyDickBytes());
    fs.renameSync(tmp, file);
  }
  return file;
}

function readUtf8(file: string): string {
  const bytes = fs.readFileSync(file);
  if (bytes.length === 0) throw new Error(`Text file ${file} is empty`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`Text file ${file} is not valid UTF-8`);
  }
}

/**
 * Loads a text corpus: the bundled Moby-Dick when source is omitted or
 * 'moby-dick'; else a UTF-8 file, or a folder whose .txt files are read in
 * sorted name order and joined with newlines.
 */
export function loadText(source?: string): string {
  if (source === undefined || source === 'moby-dick') return new TextDecoder().decode(mobyDickBytes());
  if (!fs.existsSync(source)) throw new Error(`Text corpus not found: no file or folder at ${source}`);
  const st = fs.statSync(source);
  if (st.isFile()) return readUtf8(source);
  if (!st.isDirectory()) throw new Error(`Text corpus ${source} is neither a file nor a folder`);
  const files = fs.readdirSync(source).filter((f) => f.toLowerCase().endsWith('.txt')).sort()
    .filter((f) => fs.statSync(path.join(source, f)).isFile());
  if (files.length === 0) throw new Error(`Text corpus folder ${source} has no .txt files`);
  return files.map((f) => readUtf8(path.join(source, f))).join('\n');
}

function checkFraction(f: number, op: string): void {
  if (!(f > 0 && f < 1)) throw new RangeError(`${op}: trainFraction must be in (0, 1), got ${f}`);
}

/**
 * The first trainFraction of the characters (Unicode code points, as Python
 * counts them) for training, the rest for validation; the cut is
 * floor(trainFraction * length), Python's int(0.9 * len(data)).
 */
export function splitText(text: string, trainFraction = 0.9): { train: string; validation: string } {
  checkFraction(trainFraction, 'splitText');
  const cps = Array.from(text);
  const n = Math.floor(trainFraction * cps.length);
  return { train: cps.slice(0, n).join(''), validation: cps.slice(n).join('') };
}

/** splitText's cut on an id array (views, no copy). */
export function splitIds(ids: Int32Array, trainFraction = 0.9): { train: Int32Array; validation: Int32Array } {
  checkFraction(trainFraction, 'splitIds');
  const n = Math.floor(trainFraction * ids.length);
  return { train: ids.subarray(0, n), validation: ids.subarray(n) };
}

// The character vocabulary lives with the tokenizers; trax.data exports it from here too.
export { CharVocab } from './tokenizers/char.js';

export interface LMWindowOptions {
  /** Targets per window; each window holds seqLen + 1 ids. */
  seqLen: number;
  batchSize: number;
}

/** A batch of LM windows: inputs, targets (the same Tensor) and loss weights. */
export type LMBatch = [x: Tensor, y: Tensor, w: Tensor];

function checkWindows(ids: Int32Array, o: LMWindowOptions, op: string, length = ids.length): void {
  if (!(ids instanceof Int32Array)) throw new TypeError(`${op}: ids must be an Int32Array`);
  if (!Number.isInteger(o.seqLen) || o.seqLen < 1) throw new RangeError(`${op}: seqLen must be a positive integer, got ${o.seqLen}`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new RangeError(`${op}: batchSize must be a positive integer, got ${o.batchSize}`);
  if (length < o.seqLen + 1) throw new RangeError(`${op}: ${length} ids are too few for one window of seqLen + 1 = ${o.seqLen + 1}`);
}

/** Loss weights (batchSize, seqLen + 1): 0 at position 0, 1 elsewhere. */
export function lmWindowWeights(batchSize: number, seqLen: number): Tensor {
  const w = new Float32Array(batchSize * (seqLen + 1)).fill(1);
  for (let r = 0; r < batchSize; r++) w[r * (seqLen + 1)] = 0;
  return new Tensor(w, [batchSize, seqLen + 1], 'float32');
}

function windowsBatch(ids: Int32Array, starts: ArrayLike<number>, seqLen: number, w: Tensor): LMBatch {
  const T = seqLen + 1;
  const x = new Int32Array(starts.length * T);
  for (let r = 0; r < starts.length; r++) x.set(ids.subarray(starts[r], starts[r] + T), r * T);
  const t = new Tensor(x, [starts.length, T], 'int32');
  return [t, t, w];
}

export interface LMRandomWindowOptions extends LMWindowOptions {
  /** Seed (a non-negative integer); the same seed gives the same windows. Unseeded draws a random seed. */
  seed?: number;
}

/**
 * Endless batches of random windows (nanoGPT's get_batch): each window is
 * ids[s .. s + seqLen] with s uniform in [0, len - seqLen). Batches are
 * [x, x, w], x int32 (batchSize, seqLen + 1), w float32 with 0 in column 0.
 * The starts are numpy's default_rng(seed).integers(0, len - seqLen, batchSize),
 * batch after batch: the very windows the PyTorch anchor trains and
 * evaluates on for the same seed.
 */
export function lmWindows(ids: Int32Array, opts: LMRandomWindowOptions): Generator<LMBatch, never, undefined> {
  checkWindows(ids, opts, 'lmWindows');
  const { seqLen, batchSize } = opts;
  const starts = windowStarts(ids.length, opts, 'lmWindows');
  const w = lmWindowWeights(batchSize, seqLen);
  return (function* gen(): Generator<LMBatch, never, undefined> {
    for (;;) yield windowsBatch(ids, starts.next().value, seqLen, w);
  })();
}

/** Window starts of lmWindows, batch by batch (the array is reused between batches). */
function windowStarts(length: number, opts: LMRandomWindowOptions, op: string): Generator<number[], never, undefined> {
  const { seqLen, batchSize } = opts;
  const seed = opts.seed ?? randomSeed();
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`${op}: seed must be a non-negative integer, got ${seed}`);
  if (length - seqLen > 4294967296) throw new RangeError(`${op}: ${length} ids are more than 2^32 window starts`);
  const rng = new NumpyGenerator(seed);
  const starts = new Array<number>(batchSize);
  return (function* gen(): Generator<number[], never, undefined> {
    for (;;) {
      for (let r = 0; r < batchSize; r++) starts[r] = rng.integers(0, length - seqLen);
      yield starts;
    }
  })();
}

/** A fixed list of random-window batches: a fixed evaluation set. */
export function lmFixedBatches(ids: Int32Array, opts: LMRandomWindowOptions & { nBatches: number }): LMBatch[] {
  if (!Number.isInteger(opts.nBatches) || opts.nBatches < 1) throw new RangeError(`lmFixedBatches: nBatches must be a positive integer, got ${opts.nBatches}`);
  const it = lmWindows(ids, opts);
  const out: LMBatch[] = [];
  for (let i = 0; i < opts.nBatches; i++) out.push(it.next().value);
  return out;
}

/** The window starts of lmFixedBatches(ids of this length, opts), batch by batch. */
export function lmFixedStarts(length: number, opts: LMRandomWindowOptions & { nBatches: number }): number[][] {
  if (!Number.isInteger(opts.nBatches) || opts.nBatches < 1) throw new RangeError(`lmFixedStarts: nBatches must be a positive integer, got ${opts.nBatches}`);
  checkWindows(new Int32Array(0), opts, 'lmFixedStarts', length);
  const starts = windowStarts(length, opts, 'lmFixedStarts');
  return Array.from({ length: opts.nBatches }, () => [...starts.next().value]);
}

export interface LMSequentialOptions extends LMWindowOptions {
  /** Start over at the end instead of stopping. Default false (one pass). */
  repeat?: boolean;
  /** Drop a last batch with fewer than batchSize windows. Default false. */
  dropRemainder?: boolean;
}

/**
 * Deterministic windows in order: starts 0, seqLen, 2*seqLen, ... so
 * consecutive windows share one id and every id after the first is a
 * weighted target exactly once (a tail shorter than a window is left out).
 * One pass unless repeat; the last batch may be smaller unless dropRemainder.
 */
export function lmSequentialWindows(ids: Int32Array, opts: LMSequentialOptions): Generator<LMBatch, void, undefined> {
  checkWindows(ids, opts, 'lmSequentialWindows');
  const { seqLen, batchSize } = opts;
  const nWindows = Math.floor((ids.length - 1) / seqLen);
  const full = lmWindowWeights(batchSize, seqLen);
  if (opts.dropRemainder && nWindows < batchSize) {
    throw new RangeError(`lmSequentialWindows: ${nWindows} windows make no full batch of ${batchSize}`);
  }
  return (function* gen(): Generator<LMBatch, void, undefined> {
    do {
      for (let b = 0; b < nWindows; b += batchSize) {
        const n = Math.min(batchSize, nWindows - b);
        if (n < batchSize && opts.dropRemainder) break;
        const starts = Array.from({ length: n }, (_, r) => (b + r) * seqLen);
        yield windowsBatch(ids, starts, seqLen, n === batchSize ? full : lmWindowWeights(n, seqLen));
      }
    } while (opts.repeat);
  })();
}
