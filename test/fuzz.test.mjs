// Seeded fuzzing of every file loader: thousands of mutated pickles,
// .pkl.gz checkpoints, safetensors, .npy, SentencePiece models and subword
// vocabularies, each loaded in a child process limited to 256 MB of heap,
// with 2 s per input. Expected: no crash, no hang, bounded memory, and only
// Errors that name the file.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as trax from '../dist/src/index.js';
import '../dist/src/io/model_io.js';
import { ShapeDtype } from '../dist/src/shapes.js';
import { encodeTraxCheckpoint } from '../dist/src/io/trax_checkpoint.js';
import { writeNpy } from '../dist/src/io/npy.js';
import { ndarray } from '../dist/src/io/ndarray.js';
import { ProtoReader } from '../dist/src/data/tokenizers/protobuf.js';
import { MEMORY_MB, runLoadChild } from './helpers/hostile_child.mjs';

const FIXTURES = new URL('./fixtures/trax/', import.meta.url).pathname;
const PER_FORMAT = Number(process.env.TRAX_FUZZ_COUNT ?? 2000);
const work = mkdtempSync(join(tmpdir(), 'trax-ts-fuzz-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

function tinyModel() {
  const m = trax.models.TransformerLM({ vocabSize: 8, dModel: 4, dFF: 8, nLayers: 1, nHeads: 1, maxLen: 8, mode: 'predict' });
  m.init(new ShapeDtype([1, 1], 'int32'));
  return m;
}

function varint(n) {
  const out = [];
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return Buffer.from(out);
}

/** The real SentencePiece model cut down to its first pieces (with or without the normalizer). */
function smallSentencePiece(nPieces, keepNormalizer) {
  const r = new ProtoReader(readFileSync(join(FIXTURES, 'sentencepiece.model')));
  const parts = [];
  let pieces = 0;
  while (!r.done) {
    const f = r.next();
    if (f.wire !== 2) continue;
    if (f.field === 1 && pieces++ >= nPieces) continue;
    if (f.field === 3 && !keepNormalizer) continue;
    parts.push(varint((f.field << 3) | 2), varint(f.bytes.length), Buffer.from(f.bytes));
  }
  return Buffer.concat(parts);
}

/** The first lines of the real subword vocabulary plus every one-character subtoken. */
function smallSubword() {
  const lines = readFileSync(join(FIXTURES, 'en_8k.subword'), 'utf8').split('\n').filter(Boolean);
  const single = lines.filter((l) => [...l.slice(1, -1)].length === 1);
  return [...new Set([...lines.slice(0, 200), ...single])].join('\n') + '\n';
}

function makeBases(format) {
  const dir = join(work, format);
  const files = [];
  const add = (name, bytes) => { const p = join(work, `base_${format}_${name}`); writeFileSync(p, bytes); files.push(p); };
  const m = tinyModel();
  if (format === 'pickle' || format === 'pkl.gz') {
    const layerFile = join(work, 'layer.pkl.gz');
    m.saveToFile(layerFile, { inputSignature: new ShapeDtype([1, 1], 'int32') });
    add('layer', gunzipSync(readFileSync(layerFile)));
    const flat = /** @type {any[]} */ (m.weights).flat(Infinity).filter((w) => w instanceof trax.Tensor).map((t) => ndarray('float32', t.shape.slice(), t.dataSync()));
    const ck = encodeTraxCheckpoint({
      step: 7, flatWeights: flat, slots: flat.map((w) => [w, w]), optParams: { learning_rate: 0.01 },
      history: { _values: { train: { 'metrics/loss': [[1, 2.5], [7, 1.25]] } } },
      inputSignature: [{ shape: [1, 1], dtype: 'int32' }],
    });
    add('trainer', gunzipSync(ck));
  } else if (format === 'safetensors') {
    const p = join(work, 'model.safetensors');
    m.saveToFile(p, { inputSignature: new ShapeDtype([1, 1], 'int32'), config: { model: 'TransformerLM', vocabSize: 8 } });
    add('model', readFileSync(p));
  } else if (format === 'npy') {
    add('f32', writeNpy(ndarray('float32', [3, 4], Float32Array.from({ length: 12 }, (_, i) => i / 3))));
    add('i64', writeNpy(ndarray('int64', [5], BigInt64Array.from([1n, -2n, 3n, 2n ** 40n, 0n]))));
    add('bool', writeNpy(ndarray('bool', [2, 2], Uint8Array.from([1, 0, 0, 1]))));
  } else if (format === 'sentencepiece') {
    add('plain', smallSentencePiece(300, false));
    add('charsmap', smallSentencePiece(300, true));
  } else if (format === 'subword') {
    add('vocab', smallSubword());
  }
  writeFileSync(join(work, `bases_${format}.json`), JSON.stringify(files));
  return { dir, files };
}

const FORMATS = ['pickle', 'pkl.gz', 'safetensors', 'npy', 'sentencepiece', 'subword'];

for (const [k, format] of FORMATS.entries()) {
  test(`fuzz ${format}: ${PER_FORMAT} mutated inputs load or fail with an error naming the file, within 2 s and ${MEMORY_MB} MB`, async () => {
    const { dir } = makeBases(format);
    // The child reads its bases from DIR/bases.json.
    const { mkdirSync, copyFileSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(work, `bases_${format}.json`), join(dir, 'bases.json'));
    const { results, maxRss } = await runLoadChild(['fuzz', format, String(1000 + k), String(PER_FORMAT), dir]);
    assert.equal(results.length, PER_FORMAT);
    const bad = results.filter((r) => r.outcome.startsWith('BAD'));
    assert.deepEqual(bad.slice(0, 5), [], `${bad.length} inputs failed badly`);
    const slow = results.filter((r) => r.ms > 2000);
    assert.deepEqual(slow, [], 'inputs that took over 2 s');
    assert.ok(maxRss < MEMORY_MB * 2 ** 20, `peak RSS ${(maxRss / 2 ** 20).toFixed(0)} MB`);
    const loaded = results.filter((r) => r.outcome === 'loaded').length;
    if (process.env.TRAX_TEST_VERBOSE) console.log(`${format}: ${loaded} loaded, ${results.length - loaded} refused, peak RSS ${(maxRss / 2 ** 20).toFixed(0)} MB`);
    // The mutations must leave some inputs loadable, or the fuzzing only exercises the first check.
    assert.ok(loaded > 0, 'no mutated input loaded at all');
  });
}

test('fuzz the real SentencePiece model: 100 mutated copies load or fail cleanly, and encode always ends', async () => {
  const dir = join(work, 'sp-real');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'bases.json'), JSON.stringify([join(FIXTURES, 'sentencepiece.model')]));
  const { results, maxRss } = await runLoadChild(['fuzz', 'sentencepiece', '77', '100', dir]);
  assert.equal(results.length, 100);
  assert.deepEqual(results.filter((r) => r.outcome.startsWith('BAD')).slice(0, 5), []);
  assert.ok(results.some((r) => r.outcome === 'loaded'));
  assert.ok(maxRss < MEMORY_MB * 2 ** 20, `peak RSS ${(maxRss / 2 ** 20).toFixed(0)} MB`);
});
