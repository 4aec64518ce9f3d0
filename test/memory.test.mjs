// Memory is structural: training steps and decoding calls run in buffer
// scopes that hand back everything they allocate, so the live-buffer count
// (trax.memory()) is the same after thousands of steps as after the first few.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as trax from '../dist/src/index.js';

const F = trax.fastmath;
const tiny = (mode) => trax.models.TransformerLM({ vocabSize: 16, dModel: 8, dFF: 16, nLayers: 1, nHeads: 2, maxLen: 64, mode });

test('tidy hands back what it allocated except what it returns; dispose hands back one tensor', () => {
  const before = trax.memory().liveBuffers;
  const kept = trax.tidy(() => {
    const a = F.add(F.ones([4, 4]), 1);
    const b = F.mul(a, a);
    return { out: F.sum(b, 0) };
  });
  assert.equal(trax.memory().liveBuffers, before + 1, 'only the returned tensor stays');
  assert.deepEqual(kept.out.dataSync(), Float32Array.of(16, 16, 16, 16));
  kept.out.dispose();
  kept.out.dispose();
  assert.equal(trax.memory().liveBuffers, before);
  assert.ok(kept.out.isDisposed);
  assert.throws(() => kept.out.dataSync(), /disposed/);
  assert.throws(() => trax.tidy(() => { F.ones([3]); throw new Error('boom'); }), /boom/);
  assert.equal(trax.memory().liveBuffers, before, 'a scope that throws hands back its buffers too');
});

test('the live-buffer count stays flat over 2,000 training steps', async () => {
  const trainer = new trax.supervised.Trainer({
    model: tiny, lossFn: trax.layers.CrossEntropyLoss(), optimizer: trax.optimizers.Adam,
    lrSchedule: trax.lr.constant(0.01), inputs: trax.data.Inputs(() => trax.data.reverseIntsTask(4, { seed: 0, length: 3 })),
    outputDir: null, randomSeed: 0, log: () => {},
  });
  for (let i = 0; i < 20; i++) await trainer.trainStep();
  const start = trax.memory().liveBuffers;
  for (let i = 0; i < 2000; i++) await trainer.trainStep();
  assert.equal(trax.memory().liveBuffers, start);
  assert.ok(Number.isFinite(trainer.lastLoss));
});

test('the live-buffer count stays flat over 300 decoding calls', async () => {
  const model = tiny('predict');
  model.init(new trax.shapes.ShapeDtype([1, 1], 'int32'));
  const decode = async (seed) => {
    const out = await trax.supervised.autoregressiveSample(model, [[3, 4, 5]], { maxLength: 6, temperature: 1, seed, eosId: -1 });
    assert.deepEqual(out.shape, [1, 6]);
    out.dispose();
  };
  for (let i = 0; i < 5; i++) await decode(i);
  const start = trax.memory().liveBuffers;
  for (let i = 0; i < 300; i++) await decode(i);
  assert.equal(trax.memory().liveBuffers, start);
});
