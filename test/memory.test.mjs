// Memory is structural: training steps and decoding calls run in buffer
// scopes that hand back everything they allocate, so the live-buffer count
// (trax.memory()) is the same after thousands of steps as after the first
// few. The counts are checked on a device-style backend (the js kernels on
// storage the engine must treat as off the host: no sync reads, every buffer
// released explicitly), where nothing is left to a garbage collector.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as trax from '../dist/src/index.js';
import { jsBackend } from '../dist/src/backends/js.js';
import { disposeReplaced } from '../dist/src/engine/pool.js';

const F = trax.fastmath;
const tiny = (mode) => trax.models.TransformerLM({ vocabSize: 16, dModel: 8, dFF: 16, nLayers: 1, nHeads: 2, maxLen: 64, mode });

const device = {
  ...jsBackend, name: 'testdevice', onHost: false, family: 'testdevice', readSync: undefined,
  allocated: 0, released: 0,
  alloc(dtype, n) { this.allocated++; return dtype === 'float32' ? new Float32Array(n) : new Int32Array(n); },
  allocBytes(n) { this.allocated++; return new Uint8Array(n); },
  fromHost(v) { this.allocated++; return v.slice(); },
  async read(s, _dtype, n) { return s.slice(0, n); },
  release() { this.released++; },
  trimPool() {},
};
trax.registerBackend('testdevice', () => device);

async function onDevice(fn) {
  const prev = trax.backendName();
  await trax.setBackend('testdevice');
  try { return await fn(); } finally { await trax.setBackend(prev); }
}

test('tidy hands back what it allocated except what it returns; dispose hands back one tensor', () => onDevice(async () => {
  const before = trax.memory().liveBuffers, released = device.released;
  const kept = trax.tidy(() => {
    const a = F.add(F.ones([4, 4]), 1);
    const b = F.mul(a, a);
    return { out: F.sum(b, 0) };
  });
  assert.equal(trax.memory().liveBuffers, before + 1, 'only the returned tensor stays');
  assert.ok(device.released >= released + 3, 'the intermediates went back to the backend');
  assert.deepEqual(await kept.out.data(), Float32Array.of(16, 16, 16, 16));
  kept.out.dispose();
  kept.out.dispose();
  assert.equal(trax.memory().liveBuffers, before);
  await assert.rejects(kept.out.data(), /disposed/);
  assert.throws(() => trax.tidy(() => { F.ones([3]); throw new Error('boom'); }), /boom/);
  assert.equal(trax.memory().liveBuffers, before, 'a scope that throws hands back its buffers too');
}));

test('the live-buffer count stays flat over 2,000 training steps', () => onDevice(async () => {
  // A two-layer network fitting y = sum(x): gradients, Adam's slots and new weights every step.
  const key = trax.random.key(0);
  let weights = [F.mul(trax.random.normal(key, [4, 8]), 0.5), F.zeros([8]), F.mul(trax.random.normal(trax.random.foldIn(key, 1), [8, 1]), 0.5)];
  const opt = trax.optimizers.Adam(0.01);
  let slots = opt.treeInit(weights);
  const x = trax.random.uniform(trax.random.foldIn(key, 2), [16, 4]);
  const y = F.sum(x, -1, true);
  const lossOf = ([w1, b1, w2]) => F.mean(F.square(F.sub(F.matmul(F.relu(F.add(F.matmul(x, w1), b1)), w2), y)));
  const step = (i) => {
    const before = [weights, slots];
    const loss = F.withBufferScope(() => {
      const [l, grads] = trax.valueAndGrad(lossOf)(weights);
      const r = opt.treeUpdate(i, grads, weights, slots);
      weights = r.weights; slots = r.slots;
      return l;
    }, (l) => [l, weights, slots]);
    disposeReplaced(before, [weights, slots]);
    return loss;
  };
  const first = step(0);
  const firstLoss = (await first.data())[0];
  first.dispose();
  for (let i = 1; i < 20; i++) step(i).dispose();
  const start = trax.memory().liveBuffers;
  let last;
  for (let i = 20; i < 2000; i++) { last?.dispose(); last = step(i); }
  const lastLoss = (await last.data())[0];
  last.dispose();
  assert.equal(trax.memory().liveBuffers, start - 0);
  assert.ok(lastLoss < firstLoss / 10, `the network trained (${firstLoss} -> ${lastLoss})`);
}));

test('the live-buffer count stays flat over 300 decoding calls', () => onDevice(async () => {
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
}));

test('decoding on a device-style backend gives the CPU backend\'s tokens', async () => {
  const model = tiny('predict');
  model.init(new trax.shapes.ShapeDtype([1, 1], 'int32'));
  const opts = { maxLength: 8, temperature: 0, eosId: -1 };
  const host = Array.from((await trax.supervised.autoregressiveSample(model, [[3, 4, 5]], opts)).dataSync());
  const dev = tiny('predict');
  await onDevice(async () => {
    dev.init(new trax.shapes.ShapeDtype([1, 1], 'int32'));
    dev.weights = model.weights;
    const out = await trax.supervised.autoregressiveSample(dev, [[3, 4, 5]], opts);
    assert.deepEqual(Array.from(await out.data()), host);
  });
});

test('on the CPU backends the pool holds one step\'s buffers, however many steps run', async () => {
  const trainer = new trax.supervised.Trainer({
    model: tiny, lossFn: trax.layers.CrossEntropyLoss(), optimizer: trax.optimizers.Adam,
    lrSchedule: trax.lr.constant(0.01), inputs: trax.data.Inputs(() => trax.data.reverseIntsTask(4, { seed: 0, length: 3 })),
    outputDir: null, randomSeed: 0, log: () => {},
  });
  for (let i = 0; i < 20; i++) await trainer.trainStep();
  const start = trax.memory();
  for (let i = 0; i < 500; i++) await trainer.trainStep();
  assert.deepEqual(trax.memory(), start);
  assert.equal(start.inScope, false);
});
