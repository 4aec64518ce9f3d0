// Pins the initial weights of a fresh TransformerLM to Trax's formulas, weight
// by weight in Trax's flat order: Embedding U(+-sqrt(3/d)) (master) or N(0, 1)
// (1.3.4), the sinusoidal positional table, LayerNorm ones/zeros, Dense
// kernels GlorotUniform U(+-sqrt(6/(in+out))), biases N(0, 1e-6). Means and
// standard deviations must lie within 4 standard errors of the formula's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as trax from '../dist/src/index.js';

const { TransformerLM, embeddingInitializerFor } = trax.models;
const { ShapeDtype } = trax.shapes;
const { flattenWeightsAndState } = trax.layers;

const V = 83, D = 128, FF = 512, LAYERS = 2;

function moments(buf) {
  let s = 0, s2 = 0, s4 = 0, maxAbs = 0;
  for (const v of buf) { s += v; maxAbs = Math.max(maxAbs, Math.abs(v)); }
  const n = buf.length, mean = s / n;
  for (const v of buf) { const d = v - mean; s2 += d * d; s4 += d ** 4; }
  return { n, mean, std: Math.sqrt(s2 / n), maxAbs };
}

/** Asserts mean 0 and the given std within 4 standard errors; kurtosis 1.8 (uniform) or 3 (normal). */
function checkDist(name, buf, std, kind) {
  const m = moments(buf);
  const kurt = kind === 'uniform' ? 1.8 : 3;
  const seMean = std / Math.sqrt(m.n);
  const seStd = std * Math.sqrt((kurt - 1) / (4 * m.n));
  assert.ok(Math.abs(m.mean) < 4 * seMean, `${name}: mean ${m.mean} (std error ${seMean})`);
  assert.ok(Math.abs(m.std - std) < 4 * seStd, `${name}: std ${m.std}, formula ${std} (std error ${seStd})`);
  if (kind === 'uniform') {
    const lim = std * Math.sqrt(3);
    assert.ok(m.maxAbs <= lim * (1 + 1e-6), `${name}: |w| up to ${m.maxAbs} exceeds the bound ${lim}`);
    assert.ok(m.maxAbs > lim * 0.99, `${name}: |w| only up to ${m.maxAbs}, bound ${lim}`);
  } else {
    const beyond = buf.filter((v) => Math.abs(v) > 2 * std).length / m.n;
    // A normal has 4.55% beyond 2 sd (a 2-sd truncated normal has none).
    assert.ok(Math.abs(beyond - 0.0455) < 4 * Math.sqrt(0.0455 * 0.9545 / m.n) + 1e-9, `${name}: ${beyond} beyond 2 sd`);
  }
}

function freshWeights(embeddingInit, seed) {
  const model = TransformerLM({ vocabSize: V, dModel: D, dFF: FF, nLayers: LAYERS, nHeads: 4, dropout: 0,
    ...(embeddingInit ? { embeddingInitializer: embeddingInitializerFor(embeddingInit) } : {}) });
  const [w] = model.init(new ShapeDtype([2, 16], 'int32'), { rng: trax.random.key(seed) });
  return flattenWeightsAndState(w, [])[0];
}

for (const version of ['master', '1.3.4']) {
  test(`fresh TransformerLM weights follow Trax's initializers (embedding: ${version})`, () => {
    const flat = freshWeights(version === 'master' ? undefined : version, 7);
    let i = 0;
    const next = (shape) => {
      const t = flat[i++];
      assert.deepEqual([...t.shape], shape, `weight ${i - 1} shape`);
      return Float32Array.from(t.dataSync());
    };
    const dense = (name, din, dout) => {
      checkDist(`${name} kernel`, next([din, dout]), Math.sqrt(2 / (din + dout)), 'uniform');
      checkDist(`${name} bias`, next([dout]), 1e-6, 'normal-small');
    };
    const norm = (name) => {
      assert.ok(next([D]).every((v) => v === 1), `${name} scale is ones`);
      assert.ok(next([D]).every((v) => v === 0), `${name} bias is zeros`);
    };
    const emb = next([V, D]);
    if (version === 'master') checkDist('embedding', emb, Math.sqrt(1 / D), 'uniform');
    else checkDist('embedding', emb, 1, 'normal');
    const pe = next([2048, D]);
    for (const [pos, k] of [[0, 0], [0, 1], [5, 10], [77, 31], [2047, 126], [1000, 127]]) {
      const div = Math.exp(2 * Math.floor(k / 2) * -(Math.log(10000) / D));
      const want = k % 2 === 0 ? Math.sin(pos * div) : Math.cos(pos * div);
      assert.ok(Math.abs(pe[pos * D + k] - want) < 2e-4, `positional table [${pos}, ${k}] = ${pe[pos * D + k]}, want ${want}`);
    }
    for (let l = 0; l < LAYERS; l++) {
      norm(`block ${l} attention LayerNorm`);
      for (const p of ['query', 'key', 'value', 'output']) dense(`block ${l} attention ${p}`, D, D);
      norm(`block ${l} feed-forward LayerNorm`);
      dense(`block ${l} feed-forward in`, D, FF);
      dense(`block ${l} feed-forward out`, FF, D);
    }
    norm('final LayerNorm');
    dense('output', D, V);
    assert.equal(i, flat.length, 'every weight checked');
  });
}

test('initial weights differ between layers and seeds (independent draws)', () => {
  const a = freshWeights(undefined, 7), b = freshWeights(undefined, 8);
  // Query kernels of blocks 0 and 1 (flat 4 and 20), and the same weight under another seed.
  const corr = (x, y) => {
    let sxy = 0, sxx = 0, syy = 0;
    for (let k = 0; k < x.length; k++) { sxy += x[k] * y[k]; sxx += x[k] ** 2; syy += y[k] ** 2; }
    return sxy / Math.sqrt(sxx * syy);
  };
  assert.ok(Math.abs(corr(a[4].dataSync(), a[20].dataSync())) < 0.05);
  assert.ok(Math.abs(corr(a[4].dataSync(), b[4].dataSync())) < 0.05);
  assert.ok(Math.abs(corr(a[0].dataSync(), b[0].dataSync())) < 0.05);
});
