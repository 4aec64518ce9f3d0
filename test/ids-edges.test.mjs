// Ids are checked, never wrapped; and the backends' edge cases follow one
// rule each, enforced in the shared op layer (checked on every backend).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as trax from '../dist/src/index.js';
import { ShapeDtype } from '../dist/src/shapes.js';
import { describeBackends } from './helpers/backends.mjs';
import { webgpu } from './helpers/webgpu.mjs';
import { dotProductAttention as attn } from '../dist/src/engine/fused.js';

const fm = trax.fastmath;
const T = (v, opts) => trax.tensor(v, opts);
const zeros = (shape) => T(new Float32Array(shape.reduce((a, b) => a * b, 1)), { shape });

test('item 11: int32 conversion of out-of-range or non-finite values is an error', () => {
  for (const v of [2 ** 31, 1e20, NaN, -Infinity, -(2 ** 31) - 1]) {
    assert.throws(() => T([1, v], { dtype: 'int32' }), (e) => e instanceof RangeError && e.message.includes(`${v} cannot be converted to int32`));
    // (-2**31 - 1 rounds to -2**31 in float32, which is in range.)
    if (Math.fround(v) !== -(2 ** 31)) {
      assert.throws(() => T(Float32Array.of(v), { dtype: 'int32', shape: [1] }), /cannot be converted to int32/);
      assert.throws(() => fm.cast(T([v]), 'int32'), /cast to int32: .* cannot be converted/);
    }
  }
  assert.deepEqual(T([2 ** 31 - 1, -(2 ** 31), 1.9, -1.9], { dtype: 'int32' }).arraySync(), [2 ** 31 - 1, -(2 ** 31), 1, -1]);
});

describeBackends('ids and edge cases', () => {
  test('item 11: take in raise mode rejects ids beyond int32 instead of wrapping them to row 0', () => {
    const x = T([[1, 2], [3, 4]]);
    for (const id of [2 ** 32, 2 ** 31, 2 ** 40, -(2 ** 32)]) {
      assert.throws(() => fm.take(x, [id]), (/** @type {Error} */ e) => e.message.includes(`index ${id} is out of range [0, 2)`));
    }
    assert.deepEqual(fm.take(x, [2 ** 32, -(2 ** 40)], 0, 'clip').arraySync(), [[3, 4], [1, 2]]);
    assert.throws(() => fm.softmaxCrossEntropy(T([[0, 0]]), T([2 ** 32])), /target 4294967296 is out of range \[0, 2\)/);
  });

  test('item 11: an embedding id out of range names the layer and the id; TransformerLM refuses a prompt holding 999', async () => {
    const e = trax.layers.Embedding(32, 4);
    e.init(new ShapeDtype([1, 1], 'int32'));
    for (const id of [999, 32, -5, 2 ** 31, 2 ** 40]) {
      assert.throws(() => e.apply(T([[id]])), (/** @type {Error} */ err) => /Embedding_32_4/.test(err.message) && err.message.includes(`id ${id} is out of range [0, 32)`));
    }
    const lm = trax.models.TransformerLM({ vocabSize: 32, dModel: 8, dFF: 16, nLayers: 1, nHeads: 2, maxLen: 16, mode: 'predict' });
    lm.init(new ShapeDtype([1, 1], 'int32'));
    await assert.rejects(trax.supervised.autoregressiveSample(lm, [[0, 999]], { maxLength: 2, temperature: 0 }),
      (/** @type {Error} */ err) => /Embedding_32_8/.test(err.message) && /id 999 is out of range/.test(err.message));
  });

  test('item 12: attention over 0 keys gives zeros (and zero gradients)', () => {
    const q = T(Float32Array.from({ length: 8 }, (_, i) => i), { shape: [1, 2, 4] });
    const out = attn(q, zeros([1, 0, 4]), zeros([1, 0, 4]));
    assert.deepEqual([...out.shape], [1, 2, 4]);
    assert.deepEqual([...out.dataSync()], new Array(8).fill(0));
    const [, g] = trax.valueAndGrad((qq) => fm.sum(attn(qq, zeros([1, 0, 4]), zeros([1, 0, 4]))))(q);
    assert.deepEqual([...g.dataSync()], new Array(8).fill(0));
  });

  test('item 12: LayerNorm over 0 columns (or 0 rows) gives an empty result', () => {
    const y = fm.layerNorm(zeros([3, 0]), zeros([0]), zeros([0]));
    assert.deepEqual([...y.shape], [3, 0]);
    assert.deepEqual([...fm.layerNorm(zeros([0, 4]), T([1, 1, 1, 1]), zeros([4])).shape], [0, 4]);
  });

  test('item 12: an attention offset of NaN (or any non-integer) is rejected', () => {
    const x = zeros([1, 2, 4]);
    for (const offset of [NaN, 1.5, Infinity]) {
      assert.throws(() => attn(x, x, x, { causal: true, offset }), new RegExp(`attention: offset must be an integer, got ${offset}`));
    }
  });

  test('item 12: a 0-row embedding table takes no ids, in either mode; no ids give an empty result', () => {
    assert.throws(() => fm.embeddingLookup(zeros([0, 4]), T([0], { dtype: 'int32' })), /embedding: the table has no rows/);
    assert.throws(() => fm.embeddingLookup(zeros([0, 4]), T([0], { dtype: 'int32' }), 'clip'), /embedding: the table has no rows/);
    assert.deepEqual([...fm.embeddingLookup(zeros([0, 4]), T(new Int32Array(0), { shape: [0] })).shape], [0, 4]);
  });

  test('item 12: a forged or detached tensor is refused before any kernel reads it', () => {
    const forged = T([1, 2, 3]);
    /** @type {number[]} */ (forged.shape).push(4);
    assert.throws(() => fm.take(forged, [0]), /forged or detached tensor/);
    const detached = T([1, 2, 3]);
    // Only a host backend's storage can be detached (transferred away) under a tensor.
    const storage = /** @type {Float32Array} */ (detached.storage);
    structuredClone(storage.buffer, { transfer: [storage.buffer] });
    assert.throws(() => fm.layerNorm(detached, T([1, 1, 1]), zeros([3])), /layerNorm: .*forged or detached tensor/);
    assert.throws(() => fm.matmul(detached, T([[1], [1], [1]])), /forged or detached tensor/);
  });
});

// The same shape rules on a device backend, where values stay on the device.
describe('edge cases [webgpu]', { skip: webgpu.backend ? false : webgpu.reason }, () => {
  before(async () => { await trax.setBackend('webgpu'); });
  after(async () => { await trax.setBackend('js'); });

  test('item 12: attention over 0 keys gives zeros; LayerNorm over 0 columns is empty', async () => {
    const q = T(Float32Array.from({ length: 8 }, (_, i) => i), { shape: [1, 2, 4] });
    const out = attn(q, zeros([1, 0, 4]), zeros([1, 0, 4]));
    assert.deepEqual([...out.shape], [1, 2, 4]);
    assert.deepEqual([...await out.data()], new Array(8).fill(0));
    const [, g] = trax.valueAndGrad((qq) => fm.sum(attn(qq, zeros([1, 0, 4]), zeros([1, 0, 4]))))(q);
    assert.deepEqual([...await g.data()], new Array(8).fill(0));
    assert.deepEqual([...fm.layerNorm(zeros([3, 0]), zeros([0]), zeros([0])).shape], [3, 0]);
  });

  test('item 12: non-integer offsets, ids into a 0-row table and forged tensors are refused', () => {
    const x = zeros([1, 2, 4]);
    assert.throws(() => attn(x, x, x, { causal: true, offset: NaN }), /attention: offset must be an integer, got NaN/);
    assert.throws(() => fm.embeddingLookup(zeros([0, 4]), T([0], { dtype: 'int32' }), 'clip'), /embedding: the table has no rows/);
    const forged = T([1, 2, 3]);
    /** @type {number[]} */ (forged.shape).push(4);
    assert.throws(() => fm.take(forged, [0]), /forged or detached tensor/);
  });
});
