// The sort model that ships with the package (pretrained/sort-transformer.pkl.gz):
// the quick-start's first cell, and its accuracy on fresh random lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as trax from '../dist/src/index.js';

const { ShapeDtype } = trax.shapes;
const CONFIG = { dModel: 32, dFF: 128, nLayers: 2, vocabSize: 32 };

function sortModel(batch) {
  const model = trax.models.TransformerLM({ ...CONFIG, mode: 'predict' });
  model.initFromFile(trax.pretrained.path('sort-transformer'), {
    weightsOnly: true, inputSignature: new ShapeDtype([batch, 1], 'int32'),
  });
  return model;
}

test('trax.pretrained lists and resolves the shipped sort model', () => {
  assert.deepEqual(trax.pretrained.list(), ['sort-transformer', 'moby-dick-char']);
  const p = trax.pretrained.path('sort-transformer');
  assert.ok(p.endsWith('/pretrained/sort-transformer.pkl.gz'), p);
  assert.ok(existsSync(p));
  // Small enough to commit: weights only, gzip (the 2048 x 32 table dominates).
  assert.ok(statSync(p).size < 600_000, `size ${statSync(p).size}`);
  assert.throws(() => trax.pretrained.path('sort-transfomer'), /no model named "sort-transfomer"; available: sort-transformer, moby-dick-char/);
});

test('the file is a Trax Layer.save_to_file pickle with 38 weights and the quick-start config', async () => {
  const { readTraxCheckpointSync } = await import('../dist/src/io/trax_checkpoint.js');
  const ck = readTraxCheckpointSync(trax.pretrained.path('sort-transformer'));
  assert.equal(ck.flatWeights.length, 38);
  assert.deepEqual(ck.flatWeights[0].shape, [32, 32]);
  assert.deepEqual(ck.flatWeights[1].shape, [2048, 32]);
  assert.equal(ck.flatWeights.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0), 93088);
});

test('quick-start cell 1: [[0, 3, 14, 15, 9, 0]] decodes to [[3, 9, 14, 15]]', async () => {
  const model = sortModel(1);
  const out = await trax.supervised.decoding.autoregressiveSample(model, [[0, 3, 14, 15, 9, 0]], { temperature: 0, maxLength: 4 });
  assert.deepEqual(out.shape, [1, 4]);
  assert.deepEqual(Array.from(out.dataSync()), [3, 9, 14, 15]);
});

test('sorts at least 99% of 1000 seeded random lists', async () => {
  const rng = new trax.data.Rng(20240611);
  const B = 200;
  const model = sortModel(B);
  let correct = 0, total = 0;
  for (let start = 0; start < 1000; start += B) {
    const rows = [];
    for (let r = 0; r < B; r++) rows.push([0, rng.int(1, 31), rng.int(1, 31), rng.int(1, 31), rng.int(1, 31), 0]);
    const out = await trax.supervised.autoregressiveSample(model, rows, { temperature: 0, maxLength: 4, eosId: -1 });
    assert.deepEqual(out.shape, [B, 4]);
    rows.forEach((row, r) => {
      const want = row.slice(1, 5).sort((a, b) => a - b);
      if (Array.from(out.dataSync().subarray(r * 4, r * 4 + 4)).every((v, i) => v === want[i])) correct++;
      total++;
    });
  }
  assert.equal(total, 1000);
  assert.ok(correct >= 990, `sorted ${correct} of 1000`);
});

test('trax.pretrained.url points at the same files, for fetching', async () => {
  const u = trax.pretrained.url('sort-transformer');
  assert.equal(u.protocol, 'file:');
  assert.equal(fileURLToPath(u), trax.pretrained.path('sort-transformer'));
  assert.equal(fileURLToPath(trax.pretrained.url('moby-dick-char', 'lm.json')), join(trax.pretrained.path('moby-dick-char'), 'lm.json'));
  assert.throws(() => trax.pretrained.url('sort-transformer', 'lm.json'), /sort-transformer has no "lm.json" file/);
  // initFromFile with a URL fetches (here file:) and resolves once loaded.
  const model = trax.models.TransformerLM({ ...CONFIG, mode: 'predict' });
  await model.initFromFile(u, { weightsOnly: true, inputSignature: new ShapeDtype([1, 1], 'int32') });
  const out = await trax.supervised.decoding.autoregressiveSample(model, [[0, 3, 14, 15, 9, 0]], { temperature: 0, maxLength: 4 });
  assert.deepEqual(out.arraySync(), [[3, 9, 14, 15]]);
});

test('moby-dick-char: under 2 MB, loads, and predicts Moby-Dick far better than chance', async () => {
  const dir = trax.pretrained.path('moby-dick-char');
  const bytes = statSync(join(dir, 'model.pkl.gz')).size + statSync(join(dir, 'lm.json')).size;
  assert.ok(bytes < 2_000_000, `moby-dick-char is ${bytes} bytes`);
  const lm = trax.supervised.loadLM(dir);
  assert.equal(lm.tokenizer.vocabSize, 83);
  // Mean next-character loss over a passage of the validation split (the last 10% of the text).
  const { loadText, splitText } = await import('../dist/src/data/text.js');
  const text = [...splitText(loadText('moby-dick'), 0.9).validation].slice(5000, 5064).join('');
  const ids = Array.from(lm.tokenizer.encode(text));
  const cfg = { vocabSize: 83, dModel: 128, dFF: 512, nLayers: 2, nHeads: 4, maxLen: 256 };
  const model = trax.models.TransformerLM({ ...cfg, mode: 'eval' });
  model.initFromFile(join(dir, 'model.pkl.gz'), { weightsOnly: true, inputSignature: new ShapeDtype([1, ids.length], 'int32') });
  const logp = /** @type {import('../dist/src/engine/tensor.js').Tensor} */ (model.apply(trax.tensor([ids], { dtype: 'int32' }))).arraySync()[0];
  let nll = 0;
  for (let i = 0; i < ids.length; i++) nll -= logp[i][ids[i]];
  nll /= ids.length;
  // Chance is ln 83 = 4.42 nats; the model's validation loss is 1.75.
  assert.ok(nll < 2.5, `loss ${nll} nats/char on a validation passage`);
  let sample = '';
  for await (const piece of trax.supervised.generateText({ checkpoint: lm, prompt: 'Call me', length: 40, temperature: 0.8, topK: 40, seed: 1 })) sample += piece;
  assert.equal([...sample].length, 40);
});
