// fastmath.jit: a traced function replays its kernels with results
// bit-identical to eager calls (js and native backends, native plan executor
// and host loop alike); numbers and keys passed in follow each call; a
// function that computes on the host is refused with the op and line named.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as trax from '../dist/src/index.js';
import { describeBackends } from './helpers/backends.mjs';

const F = trax.fastmath;
const R = trax.random;

function assertBitEqual(a, b, what) {
  assert.deepEqual(a.shape, b.shape, `${what}: shape`);
  assert.equal(a.dtype, b.dtype, `${what}: dtype`);
  const x = a.dataSync(), y = b.dataSync();
  for (let i = 0; i < x.length; i++) {
    if (!Object.is(x[i], y[i])) assert.fail(`${what}: element ${i} differs: ${x[i]} (eager) vs ${y[i]} (jit)`);
  }
}

/** A step built from kernel-backed ops: forward, dropout under a derived key, gradients, and an update by lr. */
function makeStep() {
  const scale = R.normal(R.key(7), [6]);
  return function step(x, w, b, rng, lr) {
    const y = F.layerNorm(F.linear(x, w, b), scale, b);
    const [k1, k2] = R.split(rng);
    const z = F.dropout(y, k1, 0.75);
    const loss = (w2) => F.sum(F.mul(F.softmax(F.linear(F.dropout(x, k2, 0.5), w2, b)), F.softmax(z)));
    const [value, g] = F.valueAndGrad(loss)(w);
    return { value, w: F.sub(w, F.mul(g, lr)), probs: F.softmax(F.mul(z, lr)) };
  };
}

describeBackends('fastmath.jit', (backend) => {
  test('replays are bit-identical to eager calls while inputs, keys and lr change', () => {
    const step = makeStep();
    const jitted = F.jit(step);
    const b = R.normal(R.key(6), [6]);
    let w = R.normal(R.key(5), [8, 6]);
    for (let i = 0; i < 6; i++) {
      const x = R.normal(R.key(100 + i), [4, 8]);
      const rng = R.key(50 + i), lr = 0.01 * (i + 1);
      const e = step(x, w, b, rng, lr);
      const r = jitted(x, w, b, rng, lr);
      for (const k of ['value', 'w', 'probs']) assertBitEqual(e[k], r[k], `${backend} call ${i} ${k}`);
      w = e.w;
    }
    assert.equal(jitted.replays, 4, 'the first two calls trace, the rest replay');
    assert.equal(jitted.signatures, 1);
  });

  test('a new input shape traces again; a number equal on both traced calls is baked in until it changes', () => {
    const f = F.jit((x, s) => F.mul(F.exp(x), s));
    const ref = (x, s) => F.mul(F.exp(x), s);
    for (const [shape, s] of [[[3], 2], [[3], 2], [[3], 2], [[3], 5], [[3], 5], [[2, 2], 1], [[2, 2], 1], [[2, 2], 1]]) {
      const x = R.normal(R.key(shape.length * 10 + s), shape);
      assertBitEqual(ref(x, s), f(x, s), `shape [${shape}] s=${s}`);
    }
    assert.equal(f.signatures, 2);
    assert.ok(f.replays >= 2, `replays ${f.replays}`);
  });

  test('results of a replay are fresh tensors, not the plan\'s reused buffers', () => {
    const f = F.jit((x) => F.tanh(x));
    const outs = [];
    for (let i = 0; i < 4; i++) outs.push([R.normal(R.key(i), [5]), null]);
    for (const o of outs) o[1] = f(o[0]);
    for (const [x, y] of outs) assertBitEqual(F.tanh(x), y, 'kept result');
  });

  test('reading values on the host names the op and the line', () => {
    const f = F.jit(function readsHost(x) { const s = F.sum(x); return F.mul(x, s.item()); });
    assert.throws(() => f(F.ones([3])), (e) => {
      assert.equal(e.name, 'JitError');
      assert.match(e.message, /readsHost cannot be traced: it reads tensor values on the host \(item\)/);
      assert.match(e.message, /jit\.test\.mjs:\d+/);
      return true;
    });
  });

  test('a value computed on the host that changes between calls names the kernel op that reads it', () => {
    // The mask is made from values read on the host, so it differs with the data.
    const f = F.jit(function hostOp(x) {
      const mask = trax.tensor(Array.from(x.storage, (v) => (v > 0 ? 1 : 0)));
      return F.exp(F.mul(x, mask));
    });
    f(R.normal(R.key(1), [8]));
    assert.throws(() => f(R.normal(R.key(2), [8])), (e) => {
      assert.match(e.message, /hostOp cannot be traced: the values read by `mul`/);
      assert.match(e.message, /computed on the host/);
      assert.match(e.message, /jit\.test\.mjs:\d+/);
      return true;
    });
  });

  test('onUntraceable falls back to eager calls', () => {
    const seen = [];
    const g = (x) => F.mul(x, F.sum(x).item());
    const f = F.jit(g, { onUntraceable: (e) => seen.push(e.message) });
    for (let i = 0; i < 4; i++) {
      const x = R.normal(R.key(i), [3]);
      assertBitEqual(g(x), f(x), `call ${i}`);
    }
    assert.equal(seen.length, 1);
    assert.equal(f.replays, 0);
  });
});

test('the native plan executor and the host loop over the same kernels agree bit for bit', { skip: trax.nativeUnavailableReason() ?? false }, () => {
  const prev = trax.backendName();
  trax.setBackend('native');
  try {
    const step = makeStep();
    const viaPlan = F.jit(step);
    process.env.TRAX_JIT_NATIVE = '0';
    const viaLoop = F.jit(step);
    const b = R.normal(R.key(6), [6]), w = R.normal(R.key(5), [8, 6]);
    for (let i = 0; i < 4; i++) {
      const x = R.normal(R.key(200 + i), [4, 8]);
      const a = viaLoop(x, w, b, R.key(i), 0.5);
      delete process.env.TRAX_JIT_NATIVE;
      const c = viaPlan(x, w, b, R.key(i), 0.5);
      process.env.TRAX_JIT_NATIVE = '0';
      for (const k of ['value', 'w', 'probs']) assertBitEqual(a[k], c[k], `call ${i} ${k}`);
    }
  } finally {
    delete process.env.TRAX_JIT_NATIVE;
    trax.setBackend(prev);
  }
});

describeBackends('Trainer with a jitted training step', (backend) => {
  for (const opt of ['Adam', 'Adafactor']) {
    test(`${opt}: losses, weights and slots equal training without jit`, async () => {
      const make = (jit) => new trax.supervised.Trainer({
        model: (mode) => trax.models.TransformerLM({ vocabSize: 32, dModel: 16, dFF: 32, nLayers: 1, nHeads: 2, mode }),
        lossFn: trax.layers.CrossEntropyLoss(), optimizer: trax.optimizers[opt],
        lrSchedule: trax.lr.multifactor({ constant: 0.01, warmupSteps: 4 }),
        inputs: trax.data.Inputs(() => trax.data.reverseIntsTask(8, { seed: 1 })),
        outputDir: null, randomSeed: 3, log: () => {}, jit,
      });
      const a = make(true), b = make(false);
      const steps = backend === 'js' ? 5 : 12;
      for (let i = 0; i < steps; i++) assert.ok(Object.is(await a.trainStep(), await b.trainStep()), `${opt} step ${i} loss`);
      assert.equal(a.stepReplays, steps - 2);
      const wa = F.treeLeaves(a.modelWeights), wb = F.treeLeaves(b.modelWeights);
      wa.forEach((t, i) => assertBitEqual(wb[i], t, `weight ${i}`));
    });
  }
});

describeBackends('greedy decoding through a jitted step', () => {
  test('replayed decodes give the tokens of eager decodes', async () => {
    const { autoregressiveSample } = await import('../dist/src/decoding/decoding.js');
    const { ShapeDtype } = await import('../dist/src/shapes.js');
    const model = trax.models.TransformerLM({ vocabSize: 32, dModel: 16, dFF: 32, nLayers: 1, nHeads: 2, mode: 'predict' });
    model.init(new ShapeDtype([1, 1], 'int32'), { rng: R.key(4) });
    const prompt = trax.tensor([[3, 1, 4, 1, 5]], { dtype: 'int32' });
    const opts = { temperature: 0, maxLength: 6, eosId: -1 };
    const eager = await autoregressiveSample(model, prompt, { ...opts, jit: false });
    // Runs 2 and 3 trace each position, run 4 on replays.
    for (let run = 0; run < 5; run++) {
      const got = await autoregressiveSample(model, prompt, opts);
      assert.deepEqual(got.arraySync(), eager.arraySync(), `run ${run}`);
    }
    const sampled = await autoregressiveSample(model, prompt, { maxLength: 6, eosId: -1, temperature: 1, seed: 7 });
    const sampledEager = await autoregressiveSample(model, prompt, { maxLength: 6, eosId: -1, temperature: 1, seed: 7, jit: false });
    assert.deepEqual(sampled.arraySync(), sampledEager.arraySync(), 'sampling with temperature');
  });
});
