// Loading and saving without a file system (what browsers do): checkpoints
// and vocabularies from bytes and URLs, checkpoints to bytes, and the
// browser's host layer (gzip through CompressionStream/DecompressionStream,
// no fs) checked in Node against Node's own zlib.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';

import * as trax from '../dist/src/index.js';
import * as browserHost from '../dist/src/platform/host.browser.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'trax');
const CFG = { vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2 };
const SIG = trax.shapes.ShapeDtype([1, 6], 'int32');
const INPUT = [[0, 3, 14, 15, 9, 0]];

/** @param {number} seed */
function freshModel(seed) {
  const m = trax.models.TransformerLM({ ...CFG, mode: 'eval' });
  m.init(SIG, { rng: trax.random.key(seed) });
  return m;
}

for (const format of /** @type {const} */ (['pkl.gz', 'pkl', 'safetensors'])) {
  test(`saveToBytes / initFromBytes round trip (${format}) gives the same model`, async () => {
    const a = freshModel(1), b = freshModel(2);
    const before = /** @type {import('../dist/src/engine/tensor.js').Tensor} */ (b.apply(trax.tensor(INPUT, { dtype: 'int32' }))).arraySync();
    const bytes = await a.saveToBytes({ format, inputSignature: SIG });
    assert.ok(bytes instanceof Uint8Array);
    assert.equal(trax.supervised.detectFormat(bytes), format);
    await b.initFromBytes(bytes);   // the signature stored in the bytes
    const want = /** @type {import('../dist/src/engine/tensor.js').Tensor} */ (a.apply(trax.tensor(INPUT, { dtype: 'int32' }))).arraySync();
    assert.deepEqual(/** @type {import('../dist/src/engine/tensor.js').Tensor} */ (b.apply(trax.tensor(INPUT, { dtype: 'int32' }))).arraySync(), want);
    assert.notDeepEqual(before, want);
  });
}

test('saveToBytes is what saveToFile writes, and a real Trax checkpoint loads from bytes', async () => {
  const a = freshModel(3);
  const bytes = await a.saveToBytes({ weightsOnly: true, format: 'pkl' });
  const dir = mkdtempSync(join(tmpdir(), 'trax-bytes-'));
  try {
    a.saveToFile(join(dir, 'm.pkl.gz'), { weightsOnly: true });
    assert.deepEqual(new Uint8Array(gunzipSync(readFileSync(join(dir, 'm.pkl.gz')))), bytes);
    assert.deepEqual(new Uint8Array(gunzipSync(await a.saveToBytes({ weightsOnly: true }))), bytes);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // A checkpoint written by Trax itself: from bytes exactly as from its path.
  const file = join(FIX, 'transformerlm_copy.pkl.gz');
  const cfg = { vocabSize: 13, dModel: 64, dFF: 128, nHeads: 2, nLayers: 2, maxLen: 256, mode: /** @type {const} */ ('eval') };
  const fromPath = trax.models.TransformerLM(cfg), fromBytes = trax.models.TransformerLM(cfg);
  const sig = trax.shapes.ShapeDtype([1, 8], 'int32');
  fromPath.initFromFile(file, { weightsOnly: true, inputSignature: sig });
  await fromBytes.initFromBytes(readFileSync(file), { weightsOnly: true, inputSignature: sig });
  const x = trax.tensor([[0, 3, 7, 5, 3, 2, 4, 0]], { dtype: 'int32' });
  assert.deepEqual(/** @type {import('../dist/src/engine/tensor.js').Tensor} */ (fromBytes.apply(x)).arraySync(), /** @type {import('../dist/src/engine/tensor.js').Tensor} */ (fromPath.apply(x)).arraySync());
});

test('initFromFile with a URL fetches it; bad bytes and truncated gzip give clear errors', async () => {
  const a = freshModel(4);
  const path = join(FIX, '..', '..', '..', 'pretrained', 'sort-transformer.pkl.gz');
  const m = trax.models.TransformerLM({ ...CFG, mode: 'predict' });
  const loading = m.initFromFile(pathToFileURL(path), { weightsOnly: true, inputSignature: trax.shapes.ShapeDtype([1, 1], 'int32') });
  assert.ok(loading instanceof Promise);
  await loading;
  await assert.rejects(a.initFromBytes(new TextEncoder().encode('hello world')), /checkpoint bytes is neither a gzip'd Trax pickle, a pickle, nor safetensors \(first bytes 68 65 6c 6c\)/);
  const gz = readFileSync(path);
  await assert.rejects(a.initFromBytes(gz.subarray(0, gz.length >> 1), { name: 'half.pkl.gz' }), /truncated gzip: half.pkl.gz ends before the compressed stream does/);
  // @ts-expect-error: deliberately an unknown format
  await assert.rejects(a.saveToBytes({ format: 'npz' }), /format must be 'pkl.gz', 'pkl' or 'safetensors', got "npz"/);
});

test('tokenizers from bytes, strings and URLs equal those loaded from files', async () => {
  const file = join(FIX, 'en_8k.subword');
  const text = 'Dude - that\'s so cool.';
  const fromFile = trax.data.getTokenizer({ vocabType: 'subword', vocabFile: file });
  for (const tok of [
    trax.data.tokenizerFromBytes('subword', readFileSync(file)),
    trax.data.tokenizerFromBytes('subword', readFileSync(file, 'utf8')),
    await trax.data.loadTokenizer('subword', pathToFileURL(file)),
  ]) assert.deepEqual(tok.encode(text), fromFile.encode(text));
  const sp = trax.data.tokenizerFromBytes('sentencepiece', readFileSync(join(FIX, 'sentencepiece.model')));
  assert.deepEqual(sp.encode(text), trax.data.getTokenizer({ vocabType: 'sentencepiece', vocabFile: join(FIX, 'sentencepiece.model') }).encode(text));
  assert.throws(() => trax.data.tokenizerFromBytes('sentencepiece', 'abc'), /a SentencePiece model is binary; pass its bytes/);
  // A loaded tokenizer goes straight into the pipeline.
  const [ids] = [...trax.data.tokenize([text], { tokenizer: sp })];
  assert.deepEqual(Array.from(/** @type {Iterable<number>} */ (ids)), sp.encode(text));
  const bert = trax.data.tokenizerFromBytes('bert-lowercase', readFileSync(join(FIX, 'bert_uncased_vocab.txt')));
  assert.deepEqual(bert.encode('Hello World'), trax.data.getTokenizer({ vocabType: 'bert-lowercase', vocabFile: join(FIX, 'bert_uncased_vocab.txt') }).encode('Hello World'));
});

test('browser host layer: stream gzip agrees with zlib, no file system, clear errors', async () => {
  const data = new TextEncoder().encode('trax-ts in the browser '.repeat(500));
  const packed = await browserHost.gzip(data);
  assert.deepEqual(new Uint8Array(gunzipSync(packed)), data);
  assert.deepEqual(await browserHost.gunzip(gzipSync(data)), data);
  const truncated = gzipSync(data).subarray(0, 40);
  await assert.rejects(browserHost.gunzip(truncated), /unexpected end of gzip data/);
  assert.throws(() => browserHost.fs.readFileSync('/etc/hostname'), /fs\.readFileSync\("\/etc\/hostname"\): there is no file system in the browser/);
  assert.throws(() => browserHost.gunzipSync(packed), /synchronous gunzip is not available in the browser/);
  assert.equal(browserHost.platformName, 'browser');
  assert.equal(browserHost.path.join('a/b', '../c', 'd.txt'), 'a/c/d.txt');
  assert.equal(browserHost.path.dirname('/x/y/z.pkl.gz'), '/x/y');
  assert.ok(Number.isInteger(browserHost.randomUint32()));
  assert.match(/** @type {any} */ (browserHost.loadNative()).error, /native addon is for Node/);
});
