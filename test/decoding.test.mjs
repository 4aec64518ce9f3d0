// Decoding: sampling with temperature and a seed, topK, the sample stream,
// batches, and clear errors for contexts that do not fit or wrong batch sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as trax from '../dist/src/index.js';

const { models, supervised } = trax;
const { ShapeDtype } = trax.shapes;
const { autoregressiveSample, autoregressiveSampleStream, beamSearch } = supervised;

const here = dirname(fileURLToPath(import.meta.url));
const LM = join(here, 'fixtures', 'trax', 'transformerlm_copy.pkl.gz');
const LM_CONFIG = { vocabSize: 13, dModel: 64, dFF: 128, nHeads: 2, nLayers: 2, maxLen: 256 };

/** A small random predict-mode LM: its distributions are flat enough for sampling to vary. */
function randomLm({ batch = 1, maxLen = 64, seed = 7 } = {}) {
  const m = models.TransformerLM({ vocabSize: 16, dModel: 16, dFF: 32, nHeads: 2, nLayers: 1, maxLen, mode: 'predict' });
  m.init(new ShapeDtype([batch, 1], 'int32'), { rng: trax.random.key(seed) });
  return m;
}

function fixtureLm(batch = 1) {
  const m = models.TransformerLM({ ...LM_CONFIG, mode: 'predict' });
  m.initFromFile(LM, { weightsOnly: true, inputSignature: new ShapeDtype([batch, 1], 'int32') });
  return m;
}

const rows = (t) => {
  const [b, n] = t.shape;
  return Array.from({ length: b }, (_, r) => Array.from(t.dataSync().subarray(r * n, (r + 1) * n)));
};

test('temperature > 0 with a fixed seed is reproducible; other seeds differ', async () => {
  const m = randomLm();
  const opts = { maxLength: 20, temperature: 1, eosId: -1 };
  const a = await autoregressiveSample(m, [[3, 4]], { ...opts, seed: 42 });
  const b = await autoregressiveSample(m, [[3, 4]], { ...opts, seed: 42 });
  assert.deepEqual(rows(a), rows(b));
  const outs = new Set();
  for (const seed of [1, 2, 3, 4, 5]) outs.add(JSON.stringify(rows(await autoregressiveSample(m, [[3, 4]], { ...opts, seed }))));
  assert.ok(outs.size > 1, 'different seeds should give different samples');
  // The same seed also reproduces the first draw of a fresh key.
  const c = await autoregressiveSample(m, [[3, 4]], { ...opts, seed: trax.random.key(42) });
  assert.deepEqual(rows(c), rows(a));
});

test('topK = 1 equals greedy decoding at any temperature', async () => {
  const m = randomLm();
  const greedy = await autoregressiveSample(m, [[5]], { maxLength: 12, temperature: 0, eosId: -1 });
  const top1 = await autoregressiveSample(m, [[5]], { maxLength: 12, temperature: 2, topK: 1, seed: 3, eosId: -1 });
  assert.deepEqual(rows(top1), rows(greedy));
  const topP0 = await autoregressiveSample(m, [[5]], { maxLength: 12, temperature: 2, topP: 1e-9, seed: 3, eosId: -1 });
  assert.deepEqual(rows(topP0), rows(greedy));
});

test('the sample stream yields (B,) arrays and can be stopped early', async () => {
  const m = fixtureLm(2);
  const prompts = [[0, 3, 7, 5, 3, 2, 4, 0], [0, 9, 8, 6, 2, 0, 0, 0]];
  const got = [];
  for await (const s of autoregressiveSampleStream(m, prompts, { temperature: 0 })) {
    assert.ok(s instanceof Int32Array);
    assert.equal(s.length, 2);
    got.push(Array.from(s));
    if (got.length === 3) break;
  }
  assert.equal(got.length, 3);
  assert.deepEqual(got.map((s) => s[0]), [3, 7, 5]);
  // Stopping restored the state: a full run starts from the prompt again.
  const full = await autoregressiveSample(m, prompts, { maxLength: 6, temperature: 0, eosId: -1 });
  assert.deepEqual(rows(full)[0], [3, 7, 5, 3, 2, 4]);
  assert.deepEqual(rows(full).map((r) => r.slice(0, 3)), [got.map((s) => s[0]), got.map((s) => s[1])]);
});

test('a batch decodes each row as it would alone', async () => {
  const prompts = [[0, 3, 7, 5, 3, 2, 4, 0], [0, 6, 2, 9, 9, 4, 1, 0]];
  const both = rows(await autoregressiveSample(fixtureLm(2), prompts, { maxLength: 6, temperature: 0, eosId: -1 }));
  const single = fixtureLm(1);
  for (let r = 0; r < 2; r++) {
    const alone = rows(await autoregressiveSample(single, [prompts[r]], { maxLength: 6, temperature: 0, eosId: -1 }));
    assert.deepEqual(both[r], alone[0]);
  }
});

test('EOS stops decoding only when every row has produced it, and is kept', async () => {
  const m = fixtureLm(1);
  const out = await autoregressiveSample(m, [[0, 3, 7, 5, 3, 2, 4, 0]], { maxLength: 10, temperature: 0, eosId: 5 });
  assert.deepEqual(rows(out), [[3, 7, 5]]);
  const none = await autoregressiveSample(m, [[0, 3, 7]], { maxLength: 0, temperature: 0 });
  assert.deepEqual(none.shape, [1, 0]);
});

test('a context longer than maxLen, or decoding past it, gives a clear error', async () => {
  const m = randomLm({ maxLen: 16 });
  await assert.rejects(autoregressiveSample(m, [Array(20).fill(3)], { maxLength: 3 }),
    /PositionalEncoding: position 0 \+ 21 exceeds maxLen 16/);
  await assert.rejects(autoregressiveSample(m, [[1, 2, 3]], { maxLength: 30, eosId: -1 }),
    /PositionalEncoding: position 16 \+ 1 exceeds maxLen 16/);
  // The failed runs left the model usable.
  const ok = await autoregressiveSample(m, [[1, 2, 3]], { maxLength: 5, eosId: -1, temperature: 0 });
  assert.deepEqual(ok.shape, [1, 5]);
});

test('batch size mismatches give clear errors', async () => {
  const m = randomLm({ batch: 1 });
  await assert.rejects(autoregressiveSample(m, [[1, 2], [3, 4]], { batchSize: 1, maxLength: 2 }),
    /inputs have batch size 2 but batchSize is 1/);
  // A predict model initialized for batch 1 cannot decode 2 rows.
  await assert.rejects(autoregressiveSample(m, [[1, 2], [3, 4]], { maxLength: 2 }),
    /re-initialize the model with the batch size you decode with/);
  await assert.rejects(beamSearch(m, [[1, 2]], { batchSize: 2 }), /batch size 1 only/);
  await assert.rejects(beamSearch(m, [[1, 2]], { nBeams: 0 }), /nBeams must be a positive integer/);
  await assert.rejects(autoregressiveSample(m, [[1]], { temperature: -1, maxLength: 1 }), /temperature must be >= 0/);
  await assert.rejects(autoregressiveSample(m, [[1]], { maxLength: -2 }), /maxLength must be a non-negative integer/);
});

test('an encoder-decoder model needs inputs', async () => {
  const m = models.Transformer({ inputVocabSize: 8, dModel: 16, dFF: 32, nHeads: 2, nEncoderLayers: 1, nDecoderLayers: 1, maxLen: 16, mode: 'predict' });
  m.init([new ShapeDtype([1, 4], 'int32'), new ShapeDtype([1, 1], 'int32')]);
  await assert.rejects(autoregressiveSample(m, null, { maxLength: 2 }), /encoder-decoder model needs inputs/);
});

test('beam search scores are sums of log-probabilities of the chosen tokens', async () => {
  const m = randomLm();
  const beams = await beamSearch(m, [[2, 3]], { nBeams: 2, maxLength: 4 });
  const [toks, score] = beams[0];
  // Re-score the best beam token by token.
  m.init(new ShapeDtype([1, 1], 'int32'), { rng: trax.random.key(7) });
  let cur = trax.tensor([[0, 2, 3]], { dtype: 'int32' });
  let sum = 0;
  for (const t of toks.dataSync()) {
    const logits = m.apply(cur);
    const L = logits.shape[1];
    const lp = trax.fastmath.logSoftmax(trax.fastmath.sliceAxis(logits, 1, L - 1, L));
    sum += lp.dataSync()[t];
    cur = trax.tensor([[t]], { dtype: 'int32' });
  }
  assert.ok(Math.abs(sum - score) < 1e-4, `${sum} vs ${score}`);
  assert.ok(beams[0][1] >= beams[1][1]);
});
