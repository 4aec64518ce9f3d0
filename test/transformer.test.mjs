// Encoder-decoder Transformer, TransformerEncoder and TransformerDecoder:
// Trax master's flat weight order (checked against the upstream checkpoint),
// decoding the copy-task fixture, predict mode equal to eval mode, masks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as trax from '../dist/src/index.js';
import { readTraxCheckpointSync } from '../dist/src/io/trax_checkpoint.js';
import { availableBackends, withBackend } from './helpers/backends.mjs';

const { models, layers, supervised } = trax;
const { ShapeDtype } = trax.shapes;
const fm = trax.fastmath;

const here = dirname(fileURLToPath(import.meta.url));
const ENCDEC = join(here, 'fixtures', 'trax', 'transformer_copy.pkl.gz');
const CFG = { inputVocabSize: 13, dModel: 64, dFF: 128, nHeads: 2, nEncoderLayers: 2, nDecoderLayers: 2, maxLen: 256 };
const SOURCE = [[3, 7, 5, 3, 2, 4, 1, 8]];
const tok = (rows) => trax.tensor(rows, { dtype: 'int32' });
const sig11 = () => new ShapeDtype([1, 1], 'int32');

function loadEncDec(mode) {
  const m = models.Transformer({ ...CFG, mode });
  m.initFromFile(ENCDEC, { weightsOnly: true, inputSignature: [sig11(), sig11()] });
  return m;
}

function flat(model) {
  return layers.flattenWeightsAndState(model.weights, model.state);
}

/** Copies weights between models whose trees differ (predict mode adds Cache wrappers). */
function copyWeights(from, to) {
  const [fw] = layers.flattenWeightsAndState(from.weights, []);
  const [w] = layers.unflattenWeightsAndState(fw, null, [to.weights, to.state], true);
  to.weights = w;
}

function maxAbsDiff(a, b) {
  assert.deepEqual(a.shape, b.shape);
  let m = 0;
  for (let i = 0; i < a.size; i++) m = Math.max(m, Math.abs(a.dataSync()[i] - b.dataSync()[i]));
  return m;
}

const strip1 = (s) => (s.length === 3 && s[0] === 1 ? s.slice(1) : s);

test('Transformer flat weights match the upstream checkpoint: 93 arrays, same shapes, same order', () => {
  const ck = readTraxCheckpointSync(ENCDEC);
  assert.equal(ck.flatWeights.length, 93);
  const m = models.Transformer({ ...CFG, mode: 'train', dropout: 0.05 });
  m.init([new ShapeDtype([2, 8], 'int32'), new ShapeDtype([2, 8], 'int32')]);
  const [fw, fs] = flat(m);
  assert.equal(fw.length, 93);
  // The file stores the positional tables 3-D (1, 256, 64), as older Trax did.
  assert.deepEqual(fw.map((w) => w.shape), ck.flatWeights.map((w) => strip1(w.shape)));
  // Master: every Dropout has its own rate (the fixture was written by an
  // earlier version that also shared the embedding's Dropout: 15 entries).
  assert.equal(fs.length, 16);
  assert.equal(ck.flatState.length, 15);
  // The shared embedding is one layer instance used twice, stored once.
  const owners = supervised.weightOwners(m);
  assert.equal(owners.filter((o) => /Embedding_13_64$/.test(o.layer)).length, 1);
});

test('Transformer with a separate output vocabulary has its own embedding and output size', () => {
  const m = models.Transformer({ ...CFG, outputVocabSize: 20, mode: 'eval' });
  m.init([new ShapeDtype([2, 5], 'int32'), new ShapeDtype([2, 7], 'int32')]);
  const [fw] = flat(m);
  assert.equal(fw.length, 94);
  assert.deepEqual(fw[0].shape, [13, 64]);
  assert.deepEqual(fw[36].shape, [20, 64]); // decoder embedding, before its positional table
  assert.deepEqual(fw[fw.length - 2].shape, [64, 20]);
  const [logits, targets] = m.apply([tok([[1, 2, 3, 4, 5], [6, 7, 8, 0, 0]]), tok([[1, 2, 3, 4, 5, 6, 7], [7, 6, 5, 4, 3, 2, 1]])]);
  assert.deepEqual(logits.shape, [2, 7, 20]);
  assert.deepEqual(targets.shape, [2, 7]);
});

test('Transformer in predict mode caches the encoder and the cross-attention keys/values', () => {
  const s = String(models.Transformer({ ...CFG, mode: 'predict' }));
  assert.equal((s.match(/Cache(_in\d+_out\d+)?\[/g) ?? []).length, 1 + 2 * 2);
  assert.ok(!String(models.Transformer({ ...CFG, mode: 'eval' })).includes('Cache'));
});

test('upstream encoder-decoder checkpoint: predict-mode greedy decoding copies the input up to EOS', async () => {
  const m = loadEncDec('predict');
  const out = await supervised.autoregressiveSample(m, SOURCE, { eosId: 1, maxLength: 10, temperature: 0 });
  assert.deepEqual(out.shape, [1, 7]);
  assert.deepEqual(Array.from(out.dataSync()), [3, 7, 5, 3, 2, 4, 1]);
  // A different source right after must not reuse the cached encoder output.
  const other = await supervised.autoregressiveSample(m, [[9, 2, 6, 1]], { eosId: 1, maxLength: 10, temperature: 0 });
  assert.deepEqual(Array.from(other.dataSync()), [9, 2, 6, 1]);
  const again = await supervised.autoregressiveSample(m, SOURCE, { eosId: 1, maxLength: 10, temperature: 0 });
  assert.deepEqual(Array.from(again.dataSync()), [3, 7, 5, 3, 2, 4, 1]);
});

test('upstream encoder-decoder checkpoint: eval mode and beam search agree', async () => {
  const e = loadEncDec('eval');
  const out = await supervised.autoregressiveSample(e, SOURCE, { eosId: 1, maxLength: 10, temperature: 0, evalMode: true });
  assert.deepEqual(Array.from(out.dataSync()), [3, 7, 5, 3, 2, 4, 1]);
  const p = loadEncDec('predict');
  const beams = await supervised.beamSearch(p, SOURCE, { nBeams: 2, maxLength: 7 });
  assert.deepEqual(Array.from(beams[0][0].dataSync()), [3, 7, 5, 3, 2, 4, 1]);
});

for (const backend of availableBackends) {
  test(`Transformer predict-mode logits equal eval-mode logits, with source padding [${backend}]`, () => withBackend(backend, () => {
    const cfg = { inputVocabSize: 11, dModel: 32, dFF: 64, nHeads: 4, nEncoderLayers: 2, nDecoderLayers: 2, maxLen: 32 };
    const source = tok([[4, 9, 2, 7, 0, 0], [3, 3, 8, 1, 5, 6]]);
    const target = [[2, 5, 7, 9, 1, 3, 4], [8, 6, 4, 2, 10, 1, 1]];
    const L = target[0].length;
    const evalM = models.Transformer({ ...cfg, mode: 'eval' });
    evalM.init([new ShapeDtype([2, 6], 'int32'), new ShapeDtype([2, L], 'int32')]);
    const [want] = evalM.apply([source, tok(target)]);
    const shifted = target.map((r) => [0, ...r.slice(0, L - 1)]);
    const predictM = models.Transformer({ ...cfg, mode: 'predict' });
    const run = (chunks) => {
      predictM.init([new ShapeDtype([2, 6], 'int32'), new ShapeDtype([2, 1], 'int32')]);
      copyWeights(evalM, predictM);
      // init's shape inference ran the cached encoder on zeros.
      supervised.decoding.resetCaches(predictM);
      const outs = [];
      let pos = 0;
      for (const len of chunks) {
        outs.push(predictM.apply([source, tok(shifted.map((r) => r.slice(pos, pos + len)))])[0]);
        pos += len;
      }
      return fm.concat(outs, 1);
    };
    const oneByOne = run(Array(L).fill(1));
    assert.ok(maxAbsDiff(oneByOne, want) < 1e-5, `token by token differs by ${maxAbsDiff(oneByOne, want)}`);
    const chunked = run([3, ...Array(L - 3).fill(1)]);
    assert.ok(maxAbsDiff(chunked, want) < 1e-5, `chunk then tokens differs by ${maxAbsDiff(chunked, want)}`);
  }));
}

test('source padding is masked: padded positions do not change the decoder output', () => {
  const cfg = { inputVocabSize: 11, dModel: 16, dFF: 32, nHeads: 2, nEncoderLayers: 1, nDecoderLayers: 1, maxLen: 16 };
  const m = models.Transformer({ ...cfg, mode: 'eval' });
  m.init([new ShapeDtype([1, 4], 'int32'), new ShapeDtype([1, 3], 'int32')]);
  const tgt = tok([[5, 6, 7]]);
  const [a] = m.apply([tok([[4, 9, 2, 0]]), tgt]);
  const [b] = m.apply([tok([[4, 9, 2, 0, 0, 0]]), tgt]);
  assert.ok(maxAbsDiff(a, b) < 1e-5);
  const [c] = m.apply([tok([[4, 9, 2, 3]]), tgt]);
  assert.ok(maxAbsDiff(a, c) > 1e-4, 'a real token must change the output');
});

test('EncoderDecoderMask broadcasts the padding mask over decoder positions', () => {
  const mask = layers.PaddingMask().apply(tok([[1, 2, 0], [3, 0, 0]]));
  assert.deepEqual(mask.shape, [2, 1, 1, 3]);
  const dec = trax.tensor(new Float32Array(2 * 4 * 5), { shape: [2, 4, 5] });
  const m = models.EncoderDecoderMask().apply([dec, mask]);
  assert.deepEqual(m.shape, [2, 1, 4, 3]);
  assert.deepEqual(Array.from(m.dataSync().subarray(0, 3)), [1, 1, 0]);
  assert.deepEqual(Array.from(m.dataSync().subarray(9, 12)), [1, 1, 0]);
  assert.deepEqual(Array.from(m.dataSync().subarray(12, 15)), [1, 0, 0]);
  assert.throws(() => models.EncoderDecoderMask().apply([tok([[1, 2]]), mask]), /decoder input must be \(batch, length, dModel\)/);
});

test('DotProductAttention honours a per-query (B, 1, Lq, Lk) mask', () => {
  const r = (n, seed) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 31 + i * 1.7));
  const [B, H, Lq, Lk, D] = [1, 2, 3, 4, 5];
  const q = trax.tensor(r(B * H * Lq * D, 1), { shape: [B * H, Lq, D] });
  const k = trax.tensor(r(B * H * Lk * D, 2), { shape: [B * H, Lk, D] });
  const v = trax.tensor(r(B * H * Lk * D, 3), { shape: [B * H, Lk, D] });
  const rows = [[1, 0, 0, 0], [1, 1, 0, 1], [0, 1, 1, 1]];
  const mask = trax.tensor(rows.flat(), { shape: [1, 1, Lq, Lk] });
  const [out, maskOut] = layers.DotProductAttention({ mode: 'eval' }).apply([q, k, v, mask]);
  assert.equal(maskOut, mask);
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < Lq; i++) {
      const dots = [];
      for (let j = 0; j < Lk; j++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += q.dataSync()[(h * Lq + i) * D + d] * k.dataSync()[(h * Lk + j) * D + d];
        dots.push(rows[i][j] ? s / Math.sqrt(D) : -1e9);
      }
      const mx = Math.max(...dots);
      const e = dots.map((x) => Math.exp(x - mx));
      const z = e.reduce((a, b) => a + b, 0);
      for (let d = 0; d < D; d++) {
        let want = 0;
        for (let j = 0; j < Lk; j++) want += (e[j] / z) * v.dataSync()[(h * Lk + j) * D + d];
        assert.ok(Math.abs(out.dataSync()[(h * Lq + i) * D + d] - want) < 1e-5);
      }
    }
  }
});

test('TransformerEncoder classifies token sequences: (B, L) -> (B, nClasses)', () => {
  const m = models.TransformerEncoder({ vocabSize: 20, nClasses: 3, dModel: 16, dFF: 32, nLayers: 2, nHeads: 2, maxLen: 32, mode: 'train' });
  m.init(new ShapeDtype([2, 6], 'int32'));
  const [fw, fs] = flat(m);
  assert.equal(fw.length, 2 + 16 * 2 + 2 + 2);
  assert.deepEqual(fw[fw.length - 2].shape, [16, 3]);
  assert.equal(fs.length, 1 + 3 * 2);
  const y = m.apply(tok([[1, 2, 3, 4, 0, 0], [5, 6, 7, 8, 9, 10]]));
  assert.deepEqual(y.shape, [2, 3]);
  assert.ok(Array.from(y.dataSync()).every(Number.isFinite));
});

test('TransformerDecoder is causal; without vocabSize it maps vectors to vectors', () => {
  const m = models.TransformerDecoder({ dModel: 16, dFF: 32, nLayers: 2, nHeads: 4, maxLen: 32, mode: 'eval' });
  m.init(new ShapeDtype([1, 5, 16], 'float32'));
  const [fw] = flat(m);
  assert.equal(fw.length, 2 + 1 + 16 * 2 + 2);
  assert.deepEqual(fw[0].shape, [16, 16]); // Dense instead of Embedding
  const x = Float32Array.from({ length: 80 }, (_, i) => Math.cos(i));
  const y1 = m.apply(trax.tensor(x, { shape: [1, 5, 16] }));
  const x2 = x.slice(); for (let i = 64; i < 80; i++) x2[i] += 1; // change the last position only
  const y2 = m.apply(trax.tensor(x2, { shape: [1, 5, 16] }));
  assert.deepEqual(y1.shape, [1, 5, 16]);
  assert.ok(maxAbsDiff(fm.sliceAxis(y1, 1, 0, 4), fm.sliceAxis(y2, 1, 0, 4)) < 1e-6);
  assert.ok(maxAbsDiff(fm.sliceAxis(y1, 1, 4, 5), fm.sliceAxis(y2, 1, 4, 5)) > 1e-4);
  const withVocab = models.TransformerDecoder({ vocabSize: 10, dModel: 16, dFF: 32, nLayers: 1, nHeads: 2, maxLen: 32 });
  withVocab.init(new ShapeDtype([2, 4], 'int32'));
  assert.deepEqual(flat(withVocab)[0][0].shape, [10, 16]);
});

test('Transformer trains: a train-mode forward pass has gradients for every weight', () => {
  const m = models.Transformer({ inputVocabSize: 9, dModel: 16, dFF: 32, nHeads: 2, nEncoderLayers: 1, nDecoderLayers: 1, maxLen: 16, dropout: 0.1 });
  m.init([new ShapeDtype([2, 4], 'int32'), new ShapeDtype([2, 5], 'int32')]);
  const src = tok([[1, 2, 3, 0], [4, 5, 6, 7]]), tgt = tok([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]]);
  // The weights tree marks the shared embedding's second use; differentiate
  // the flat list (which holds it once) and rebuild the tree inside.
  const tree = m.weights, state = m.state;
  const [w0] = flat(m);
  const loss = (fw) => {
    const [ws] = layers.unflattenWeightsAndState(fw, null, [tree, state], true);
    const [logits] = m.pureFn([src, tgt], ws, state, trax.random.key(0))[0];
    return fm.mean(fm.logSoftmax(logits));
  };
  const grads = trax.grad(loss)(w0);
  assert.equal(grads.length, w0.length);
  assert.ok(grads.every((g, i) => g.size === w0[i].size && Array.from(g.dataSync()).every(Number.isFinite)));
  // The shared embedding gets gradient from both the encoder and the decoder.
  assert.ok(Array.from(grads[0].dataSync()).some((x) => x !== 0));
});

test('Transformer rejects bad configurations with clear errors', () => {
  assert.throws(() => models.Transformer({ inputVocabSize: 0 }), /inputVocabSize must be a positive integer/);
  assert.throws(() => models.Transformer({ inputVocabSize: 8, dModel: 30, nHeads: 4 }), /divisible by nHeads/);
  assert.throws(() => models.Transformer({ inputVocabSize: 8, nEncoderLayers: -1 }), /nEncoderLayers must be a non-negative integer/);
  assert.throws(() => models.TransformerEncoder({ vocabSize: 8, dropout: 1 }), /dropout must be in \[0, 1\)/);
});
