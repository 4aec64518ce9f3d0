// The engine on the webgpu backend: the same ops, gradients and random
// numbers as on the js backend, read back with await t.data(). Skips with the
// reason where no WebGPU adapter exists (CI has SwiftShader through chromium).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { webgpu } from './helpers/webgpu.mjs';
import * as trax from '../dist/src/index.js';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const skip = webgpu.backend ? false : webgpu.reason;
const F = trax.fastmath;

function randn(shape, seed, scale = 1) {
  let s = seed >>> 0;
  const n = shape.reduce((a, b) => a * b, 1), out = new Float32Array(n);
  for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; out[i] = (s / 4294967296 * 2 - 1) * scale; }
  return { data: out, shape };
}

/** Runs fn on js and on webgpu (inputs made on each), returns both results as host arrays (or arrays of them). */
async function both(fn) {
  const out = {};
  for (const name of ['js', 'webgpu']) {
    await trax.setBackend(name);
    const r = fn();
    const list = Array.isArray(r) ? r : [r];
    out[name] = [];
    for (const t of list) out[name].push(await t.data());
  }
  await trax.setBackend('js');
  return out;
}

function close(got, want, what, rel = 1e-4) {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 1;
  for (const v of want) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) <= rel * scale, `${what}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
}

async function agree(what, fn, exact = false) {
  const r = await both(fn);
  r.js.forEach((w, i) => (exact ? assert.deepEqual(r.webgpu[i], w, `${what} #${i}`) : close(r.webgpu[i], w, `${what} #${i}`)));
}

const t = (x) => F.reshape(trax.tensor(x.data), x.shape);

describe('the engine on the webgpu backend', { skip }, () => {
  before(async () => { await trax.setBackend('webgpu'); });
  after(async () => { await trax.setBackend('js'); });

  test('setBackend, backendInfo reports the adapter, sync reads throw with the async alternative', async () => {
    await trax.setBackend('webgpu');
    const info = trax.backendInfo();
    assert.equal(info.name, 'webgpu');
    assert.equal(info.onHost, false);
    assert.ok(info.adapter && info.limits.maxStorageBufferBindingSize > 0);
    const x = trax.tensor([[1, 2], [3, 4]]);
    assert.throws(() => x.dataSync(), /webgpu backend; use await t\.data\(\)/);
    assert.deepEqual(await F.matmul(x, x).array(), [[7, 10], [15, 22]]);
  });

  test('elementwise, reductions, shapes and indexing', async () => {
    const a = randn([3, 4, 5], 1), b = randn([4, 1], 2), c = randn([2, 3], 3);
    await agree('elementwise', () => {
      const x = t(a), y = t(b);
      return [F.add(x, y), F.mul(x, y), F.maximum(x, y), F.exp(x), F.gelu(x), F.sum(x, 1), F.max(x, -1), F.mean(x, [0, 2]),
        F.softmax(x, -1), F.logSoftmax(x, -1), F.logSumExp(x, -1)];
    });
    await agree('shapes', () => {
      const x = t(a), y = t(c);
      return [F.slice(x, [1, 0, 2], [2, 3, 2]), F.pad(y, [[1, 0], [0, 2]], 7), F.concat([y, y], 0), F.reverse(x, 1),
        F.transpose ? F.transpose(y) : y, F.cast(F.argmax(x, -1), 'float32'), F.oneHot([0, 2, 1], 3)];
    }, true);
    await agree('cumsum', () => F.cumsum(t(a), 1));
  });

  test('fused nn ops: layer norm, cross-entropy, causal self-attention (views), dense-relu-dense, embeddings', async () => {
    const x = randn([2, 5, 8], 4), sc = randn([8], 5), bi = randn([8], 6);
    const ws = [7, 8, 9].map((s) => randn([8, 8], s)), bs = [10, 11, 12].map((s) => randn([8], s));
    const w1 = randn([8, 16], 13), b1 = randn([16], 14), w2 = randn([16, 8], 15), b2 = randn([8], 16);
    const logits = randn([6, 11], 17), table = randn([11, 8], 18);
    await agree('fused', () => [
      F.layerNorm(t(x), t(sc), t(bi)),
      F.causalSelfAttention(t(x), t(ws[0]), t(bs[0]), t(ws[1]), t(bs[1]), t(ws[2]), t(bs[2]), 2),
      F.denseReluDense(t(x), t(w1), t(b1), t(w2), t(b2)),
      F.softmaxCrossEntropy(t(logits), trax.tensor([1, 0, 10, 3, 3, 5], { dtype: 'int32' })),
      F.embeddingLookup(t(table), trax.tensor([[1, 10], [0, 3]], { dtype: 'int32' })),
    ]);
  });

  test('gradients through attention, layer norm and cross-entropy', async () => {
    const x = randn([2, 4, 8], 20), sc = randn([8], 21), bi = randn([8], 22);
    const ws = [23, 24, 25].map((s) => randn([8, 8], s)), bs = [26, 27, 28].map((s) => randn([8], s));
    const wo = randn([8, 5], 29);
    await agree('grads', () => {
      const params = [t(x), t(sc), t(bi), ...ws.map(t), ...bs.map(t), t(wo)];
      const loss = (xx, s, b, wq, wk, wv, bq, bk, bv, w) => {
        const h = F.causalSelfAttention(F.layerNorm(xx, s, b), wq, bq, wk, bk, wv, bv, 2);
        const lg = F.reshape(F.matmul(h, w), [8, 5]);
        return F.mean(F.softmaxCrossEntropy(lg, trax.tensor([0, 1, 2, 3, 4, 0, 1, 2], { dtype: 'int32' })));
      };
      const g = trax.grad(loss, params.map((_, i) => i));
      return g(...params);
    });
  });

  test('random numbers and dropout equal the CPU backends for the same key', async () => {
    await agree('random', () => {
      const k = F.random.key(42);
      return [F.random.uniform(k, [7, 9]), F.random.normal(F.random.foldIn(k, 1), [33]),
        F.dropout(F.ones([5, 7]), F.random.foldIn(k, 2), 0.8)];
    });
  });

  test('tidy returns device storage: the live-buffer count stays flat', async () => {
    await trax.setBackend('webgpu');
    const w = trax.tensor([[1, 2], [3, 4]]);
    const before = trax.memory().liveBuffers;
    for (let i = 0; i < 20; i++) trax.tidy(() => F.sum(F.matmul(F.exp(w), w))).dispose();
    assert.equal(trax.memory().liveBuffers, before);
  });

  test('the pre-trained sort model decodes [3, 9, 14, 15] on webgpu, token for token as on the CPU', () => {
    const cli = join(root, 'dist/src/apps/cli/main.js');
    const args = [cli, 'predict', '--checkpoint', join(root, 'pretrained/sort-transformer.pkl.gz'), '--prompt', '0,15,9,14,3,0'];
    const cpu = spawnSync(process.execPath, [...args, '--backend', 'js'], { encoding: 'utf8' });
    const gpu = spawnSync(process.execPath, [...args, '--backend', 'webgpu'], { encoding: 'utf8', env: { ...process.env } });
    assert.equal(gpu.status, 0, gpu.stderr);
    const last = (r) => r.stdout.trim().split('\n').pop();
    assert.match(last(gpu), /^\[3, 9, 14, 15,/);
    assert.equal(last(gpu), last(cpu));
  });
});
