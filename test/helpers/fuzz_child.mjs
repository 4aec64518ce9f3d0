// Child process for the hostile-input tests: loads files with the public
// loaders and reports, one line per input, how each load ended. Run with
// --max-old-space-size and --expose-gc; the parent kills it when a line is
// late (a hang) and checks the peak RSS it reports at the end.
//
// argv: mode ('fuzz' or 'files'), then for fuzz: format seed count workDir;
// for files: loader paths... (loader: pickle | safetensors | npy | sentencepiece | subword).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as trax from '../../dist/src/index.js';
import { initFromFile } from '../../dist/src/io/model_io.js';
import { readNpyFile } from '../../dist/src/io/npy.js';
import { SentencePieceProcessor, SubwordTextEncoder } from '../../dist/src/data/tokenizers/index.js';
import { mutate, rng } from './fuzz_mutate.mjs';

const TEXTS = ['a', 'hello world', ' ', 'é中 x', 'ab  c\n', '\u2581\u2581'];

function tinyModel() {
  return trax.models.TransformerLM({ vocabSize: 8, dModel: 4, dFF: 8, nLayers: 1, nHeads: 1, maxLen: 8, mode: 'predict' });
}

let model = null;
let maxSampled = 0;

/** Loads one file the way users do; returns a short outcome or throws. */
function load(kind, path) {
  switch (kind) {
    case 'pickle':
    case 'safetensors': {
      (model ??= tinyModel()).initFromFile(path, { weightsOnly: true });
      return 'loaded';
    }
    case 'npy': readNpyFile(path); return 'loaded';
    case 'sentencepiece':
    case 'subword': {
      const t = kind === 'subword' ? SubwordTextEncoder.load(path) : SentencePieceProcessor.load(path);
      for (const s of TEXTS) t.decode(t.encode(s));
      return 'loaded';
    }
    default: throw new Error(`unknown loader ${kind}`);
  }
}

function run(kind, path, i) {
  const t0 = performance.now();
  let outcome;
  try {
    outcome = load(kind, path);
  } catch (e) {
    if (!(e instanceof Error)) outcome = `BAD non-Error thrown: ${String(e)}`;
    else if (!e.message.includes(path)) outcome = `BAD error does not name the file: ${e.name}: ${e.message.slice(0, 300)}`;
    else outcome = 'error';
  }
  const ms = performance.now() - t0;
  const rss = process.memoryUsage.rss();
  if (rss > maxSampled) maxSampled = rss;
  if (i % 16 === 0) globalThis.gc?.();
  process.stdout.write(`${i}\t${outcome}\t${ms.toFixed(1)}\t${rss}\n`);
}

const [mode, ...rest] = process.argv.slice(2);
// Without arguments (the test runner loading every file under test/), there is nothing to do.
if (mode !== 'files' && mode !== 'fuzz') process.exit(0);
if (mode === 'files') {
  for (let i = 1; i < rest.length; i += 2) run(rest[i - 1], rest[i], (i - 1) / 2);
} else {
  const [format, seedStr, countStr, work] = rest;
  mkdirSync(work, { recursive: true });
  const bases = JSON.parse(readFileSync(join(work, 'bases.json'), 'utf8')).map((b) => readFileSync(b));
  const r = rng(Number(seedStr));
  const kind = format === 'pkl.gz' ? 'pickle' : format;
  for (let i = 0; i < Number(countStr); i++) {
    const base = bases[i % bases.length];
    let bytes = mutate(base, r);
    // .pkl.gz: mostly mutate the pickle and compress it, so the changes reach the parser.
    if (format === 'pkl.gz') bytes = r() < 0.85 ? gzipSync(bytes, { level: 1 }) : mutate(gzipSync(base, { level: 1 }), r);
    const ext = { pickle: 'pkl', 'pkl.gz': 'pkl.gz', safetensors: 'safetensors', npy: 'npy', sentencepiece: 'model', subword: 'subword' }[format];
    const path = join(work, `input.${ext}`);
    writeFileSync(path, bytes);
    run(kind, path, i);
  }
}
// Peak RSS of this process: VmHWM starts afresh at exec (getrusage's maxrss
// would include the parent's peak, as Linux keeps it across fork and exec).
let peak = 0;
try {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  if (m) peak = Number(m[1]) * 1024;
} catch { /* not Linux: use the samples */ }
process.stdout.write(`done\t${peak || maxSampled}\n`);
