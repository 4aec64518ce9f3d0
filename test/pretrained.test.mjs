// The sort model that ships with the package (pretrained/sort-transformer.pkl.gz):
// the quick-start's first cell, and its accuracy on fresh random lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';

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
  assert.deepEqual(trax.pretrained.list(), ['sort-transformer']);
  const p = trax.pretrained.path('sort-transformer');
  assert.ok(p.endsWith('/pretrained/sort-transformer.pkl.gz'), p);
  assert.ok(existsSync(p));
  // Small enough to commit: weights only, gzip (the 2048 x 32 table dominates).
  assert.ok(statSync(p).size < 600_000, `size ${statSync(p).size}`);
  assert.throws(() => trax.pretrained.path('sort-transfomer'), /no model named "sort-transfomer"; available: sort-transformer/);
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
