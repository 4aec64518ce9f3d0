// Layer.initFromFile / saveToFile: round trips through Trax pickles and
// safetensors, train -> predict loading, Python reading our files, and
// clear errors for malformed or mismatched checkpoints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SKIP_PY, runPython } from './helpers/python.mjs';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

import * as trax from '../dist/src/index.js';
import { writePickle } from '../dist/src/io/pickle_writer.js';

const { models, layers, supervised } = trax;
const { ShapeDtype } = trax.shapes;

const here = dirname(fileURLToPath(import.meta.url));
const LM = join(here, 'fixtures', 'trax', 'transformerlm_copy.pkl.gz');
const LM_CONFIG = { vocabSize: 13, dModel: 64, dFF: 128, nHeads: 2, nLayers: 2, maxLen: 256 };

const work = mkdtempSync(join(tmpdir(), 'trax-ts-model-io-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

const python = (code) => runPython(code).toString('utf8').trim();

const SMALL = { vocabSize: 11, dModel: 16, dFF: 32, nHeads: 2, nLayers: 2, maxLen: 32 };
const sig = (b, l) => new ShapeDtype([b, l], 'int32');

function flat(model) {
  return layers.flattenWeightsAndState(model.weights, model.state);
}

function assertSameTensors(a, b) {
  assert.equal(a.length, b.length);
  a.forEach((x, i) => {
    assert.deepEqual(x.shape, b[i].shape, `shape of entry ${i}`);
    assert.equal(x.dtype, b[i].dtype, `dtype of entry ${i}`);
    assert.deepEqual(Array.from(x.dataSync()), Array.from(b[i].dataSync()), `values of entry ${i}`);
  });
}

function trainedLookingLm(seed = 5) {
  const m = models.TransformerLM({ ...SMALL, mode: 'train', dropout: 0.2 });
  m.init(sig(4, 12), { rng: trax.random.key(seed) });
  return m;
}

for (const ext of ['pkl.gz', 'safetensors']) {
  test(`saveToFile then initFromFile (.${ext}) restores identical weights and state`, () => {
    const src = trainedLookingLm();
    const path = join(work, `roundtrip.${ext}`);
    src.saveToFile(path, { inputSignature: sig(4, 12) });
    assert.ok(existsSync(path));
    assert.ok(!readdirSync(work).some((f) => f.includes('_tmp_')), 'no temporary file is left behind');
    const dst = models.TransformerLM({ ...SMALL, mode: 'train', dropout: 0.2 });
    dst.initFromFile(path); // signature read from the file
    const [w1, s1] = flat(src), [w2, s2] = flat(dst);
    assertSameTensors(w2, w1);
    assertSameTensors(s2, s1);
  });

  test(`a train-mode save (.${ext}) loads into predict mode with weightsOnly`, async () => {
    const src = trainedLookingLm(9);
    const path = join(work, `train-to-predict.${ext}`);
    src.saveToFile(path, { inputSignature: sig(4, 12) });
    const p = models.TransformerLM({ ...SMALL, mode: 'predict' });
    p.initFromFile(path, { weightsOnly: true, inputSignature: sig(1, 1) });
    assertSameTensors(flat(p)[0], flat(src)[0]);
    // Predict state is fresh: caches sized for batch 1, positions at 0.
    const [, ps] = flat(p);
    assert.equal(ps.length, 2 + 6 * SMALL.nLayers);
    assert.deepEqual(ps[2].shape, [2, 2048, 8]);
    const e = models.TransformerLM({ ...SMALL, mode: 'eval' });
    e.initFromFile(path, { weightsOnly: true, inputSignature: sig(1, 1) });
    const a = await supervised.autoregressiveSample(p, [[4, 5, 6]], { maxLength: 8, temperature: 0, eosId: -1 });
    const b = await supervised.autoregressiveSample(e, [[4, 5, 6]], { maxLength: 8, temperature: 0, eosId: -1, evalMode: true });
    assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
  });
}

test('the encoder-decoder Transformer round trips with its shared embedding stored once', () => {
  const cfg = { inputVocabSize: 9, dModel: 16, dFF: 32, nHeads: 2, nEncoderLayers: 1, nDecoderLayers: 1, maxLen: 16 };
  const src = models.Transformer({ ...cfg, mode: 'train' });
  const s2 = [sig(2, 5), sig(2, 6)];
  src.init(s2, { rng: trax.random.key(1) });
  const path = join(work, 'encdec.pkl.gz');
  src.saveToFile(path, { inputSignature: s2 });
  const p = models.Transformer({ ...cfg, mode: 'predict' });
  p.initFromFile(path, { weightsOnly: true, inputSignature: [sig(1, 5), sig(1, 1)] });
  assert.equal(flat(p)[0].length, 2 + 16 + 2 + 1 + 26 + 2 + 2);
  assertSameTensors(flat(p)[0], flat(src)[0]);
});

test('the upstream TransformerLM checkpoint loads with its state into a train-mode model', () => {
  const m = models.TransformerLM({ ...LM_CONFIG, mode: 'train', dropout: 0.05 });
  m.initFromFile(LM); // weights and the 7 dropout rates; signature from the file
  const [w, s] = flat(m);
  assert.equal(w.length, 38);
  assert.deepEqual(w[1].shape, [256, 64]); // stored (1, 256, 64), reshaped
  assert.equal(s.length, 7);
  assert.ok(s.every((x) => Math.abs(x.dataSync()[0] - 0.05) < 1e-7));
  // State from a train checkpoint cannot fill a predict model.
  const p = models.TransformerLM({ ...LM_CONFIG, mode: 'predict' });
  assert.throws(() => p.initFromFile(LM, { inputSignature: sig(1, 1) }), /use weightsOnly: true/);
});

test('a pickle we write loads in Python with numpy and has the Trax layout', { skip: SKIP_PY }, () => {
  const src = trainedLookingLm(3);
  const path = join(work, 'for-python.pkl.gz');
  src.saveToFile(path, { inputSignature: sig(4, 12) });
  const [w] = flat(src);
  const out = python(`
import gzip, pickle, numpy as np
d = pickle.load(gzip.open(${JSON.stringify(path)}))
assert type(d) is dict
assert {'flat_weights', 'flat_state', 'input_signature'} <= set(d.keys()), d.keys()
fw = d['flat_weights']
print(len(fw))
print(';'.join(','.join(map(str, a.shape)) + ':' + str(a.dtype) for a in fw))
print(repr(float(sum(float(a.astype(np.float64).sum()) for a in fw))))
print(len(d['flat_state']), float(d['flat_state'][0]))
s = d['input_signature']
print(tuple(s.shape), np.dtype(s.dtype).name)
`).split('\n');
  assert.equal(Number(out[0]), 38);
  assert.equal(out[1], w.map((t) => `${t.shape.join(',')}:float32`).join(';'));
  const sum = w.reduce((acc, t) => acc + Array.from(t.dataSync()).reduce((a, b) => a + b, 0), 0);
  assert.ok(Math.abs(Number(out[2]) - sum) < 1e-6 * Math.max(1, Math.abs(sum)));
  assert.equal(out[3], '7 0.20000000298023224');
  assert.equal(out[4], '(4, 12) int32');
});

test('malformed checkpoint files give specific errors', () => {
  const m = models.TransformerLM({ ...LM_CONFIG, mode: 'predict' });
  const opts = { weightsOnly: true, inputSignature: sig(1, 1) };

  const trunc = join(work, 'trunc.pkl.gz');
  writeFileSync(trunc, readFileSync(LM).subarray(0, 40000));
  assert.throws(() => m.initFromFile(trunc, opts), /truncated gzip/);

  const noise = join(work, 'noise.pkl.gz');
  const bytes = Buffer.alloc(4096);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
  writeFileSync(noise, bytes);
  assert.throws(() => m.initFromFile(noise, opts), /not gzip/);

  const evil = join(work, 'evil.pkl.gz');
  writeFileSync(evil, gzipSync(Buffer.from('\x80\x03cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.', 'latin1')));
  assert.throws(() => m.initFromFile(evil, opts), /refusing to load pickle global os\.system/);

  const notCkpt = join(work, 'list.pkl.gz');
  writeFileSync(notCkpt, gzipSync(writePickle([1, 2, 3])));
  assert.throws(() => m.initFromFile(notCkpt, opts), /not a Trax checkpoint/);

  const badSafetensors = join(work, 'bad.safetensors');
  writeFileSync(badSafetensors, bytes);
  assert.throws(() => m.initFromFile(badSafetensors, opts), /safetensors/i);

  assert.throws(() => m.initFromFile(join(work, 'missing.pkl.gz'), opts), /ENOENT|cannot read/);
});

test('a checkpoint for another model: wrong weight count and wrong shape are named', () => {
  const oneLayer = models.TransformerLM({ ...LM_CONFIG, nLayers: 1, mode: 'predict' });
  assert.throws(() => oneLayer.initFromFile(LM, { weightsOnly: true, inputSignature: sig(1, 1) }),
    /holds 38 weight arrays but the model has 22/);

  const wideVocab = models.TransformerLM({ ...LM_CONFIG, vocabSize: 16, mode: 'predict' });
  assert.throws(() => wideVocab.initFromFile(LM, { weightsOnly: true, inputSignature: sig(1, 1) }),
    (e) => /weight 0 \(layer [^)]*Embedding_16_64\) has shape \[13, 64\] in the file, but the model expects \[16, 64\]/.test(e.message));

  const wider = models.TransformerLM({ ...LM_CONFIG, dFF: 256, mode: 'predict' });
  assert.throws(() => wider.initFromFile(LM, { weightsOnly: true, inputSignature: sig(1, 1) }),
    /weight 14 \(layer [^)]*Dense_256\) has shape \[64, 128\] in the file, but the model expects \[64, 256\]/);

  // A file that stores no signature needs one from the caller.
  const bare = join(work, 'bare.pkl.gz');
  trainedLookingLm().saveToFile(bare);
  assert.throws(() => models.TransformerLM({ ...SMALL }).initFromFile(bare), /stores no input signature; pass inputSignature/);
});
