// TransformerLM: the printed tree and flat weights of the quick-start model,
// the upstream copy-task checkpoint decoding as Trax does, and predict-mode
// logits equal to eval-mode logits (master's causal mask inside a chunk).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as trax from '../dist/src/index.js';
import { availableBackends, withBackend } from './helpers/backends.mjs';

const { models, layers, supervised } = trax;
const { ShapeDtype } = trax.shapes;

const here = dirname(fileURLToPath(import.meta.url));
const LM = join(here, 'fixtures', 'trax', 'transformerlm_copy.pkl.gz');
const LM_CONFIG = { vocabSize: 13, dModel: 64, dFF: 128, nHeads: 2, nLayers: 2, maxLen: 256 };
const PROMPT = [[0, 3, 7, 5, 3, 2, 4, 0]];

// Reference section 3.6, v1.3.4 (the quick-start era), written out in full.
const QUICKSTART_TREE = `Serial[
  ShiftRight(1)
  Embedding_32_32
  Dropout
  PositionalEncoding
  Serial[
    Branch_out2[
      None
      Serial[
        LayerNorm
        Serial[
          Branch_out3[
            [Dense_32, SplitIntoHeads]
            [Dense_32, SplitIntoHeads]
            [Dense_32, SplitIntoHeads]
          ]
          DotProductCausalAttention_in3
          MergeHeads
          Dense_32
        ]
        Dropout
      ]
    ]
    Add_in2
  ]
  Serial[
    Branch_out2[
      None
      Serial[
        LayerNorm
        Dense_128
        Relu
        Dropout
        Dense_32
        Dropout
      ]
    ]
    Add_in2
  ]
  Serial[
    Branch_out2[
      None
      Serial[
        LayerNorm
        Serial[
          Branch_out3[
            [Dense_32, SplitIntoHeads]
            [Dense_32, SplitIntoHeads]
            [Dense_32, SplitIntoHeads]
          ]
          DotProductCausalAttention_in3
          MergeHeads
          Dense_32
        ]
        Dropout
      ]
    ]
    Add_in2
  ]
  Serial[
    Branch_out2[
      None
      Serial[
        LayerNorm
        Dense_128
        Relu
        Dropout
        Dense_32
        Dropout
      ]
    ]
    Add_in2
  ]
  LayerNorm
  Dense_32
  LogSoftmax
]`;

/** Flat weight shapes in reference section 3.4 order. */
function lmShapes({ vocab, d, dff, nLayers, maxLen }) {
  const s = [[vocab, d], [maxLen, d]];
  for (let b = 0; b < nLayers; b++) {
    s.push([d], [d]);
    for (let k = 0; k < 4; k++) s.push([d, d], [d]);
    s.push([d], [d], [d, dff], [dff], [dff, d], [d]);
  }
  s.push([d], [d], [d, vocab], [vocab]);
  return s;
}

function loadLm(mode) {
  const m = models.TransformerLM({ ...LM_CONFIG, mode });
  m.initFromFile(LM, { weightsOnly: true, inputSignature: new ShapeDtype([1, 1], 'int32') });
  return m;
}

function maxAbsDiff(a, b) {
  assert.deepEqual(a.shape, b.shape);
  let m = 0;
  for (let i = 0; i < a.size; i++) m = Math.max(m, Math.abs(a.dataSync()[i] - b.dataSync()[i]));
  return m;
}

test('quick-start TransformerLM prints the v1.3.4 tree exactly', () => {
  const m = models.TransformerLM({ vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2 });
  assert.equal(String(m), QUICKSTART_TREE);
});

test('quick-start TransformerLM: 38 flat weights, 93,088 parameters, section 3.4 order', () => {
  const m = models.TransformerLM({ vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2 });
  m.init(new ShapeDtype([2, 10], 'int32'));
  const [fw, fs] = layers.flattenWeightsAndState(m.weights, m.state);
  assert.equal(fw.length, 38);
  assert.equal(fw.reduce((s, w) => s + w.size, 0), 93088);
  assert.equal(fw[1].size, 65536); // the trainable 2048 x 32 positional table
  assert.deepEqual(fw.map((w) => w.shape), lmShapes({ vocab: 32, d: 32, dff: 128, nLayers: 2, maxLen: 2048 }));
  assert.equal(fs.length, 7); // one rate per Dropout (reference 3.5)
});

test('predict-mode state layout: 14 entries for 2 layers', () => {
  const m = models.TransformerLM({ vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2, mode: 'predict' });
  m.init(new ShapeDtype([1, 1], 'int32'));
  const [, fs] = layers.flattenWeightsAndState(m.weights, m.state);
  assert.equal(fs.length, 14);
  assert.deepEqual(fs[2].shape, [8, 2048, 4]); // K cache (B*H, 2048, Dh)
});

test('upstream checkpoint: predict-mode greedy decoding copies the prompt', async () => {
  const m = loadLm('predict');
  const out = await supervised.autoregressiveSample(m, PROMPT, { maxLength: 6, temperature: 0 });
  assert.deepEqual(out.shape, [1, 6]);
  assert.deepEqual(Array.from(out.dataSync()), [3, 7, 5, 3, 2, 4]);
  // The state is restored afterwards, so a second run gives the same tokens.
  const again = await supervised.autoregressiveSample(m, PROMPT, { maxLength: 6, temperature: 0 });
  assert.deepEqual(Array.from(again.dataSync()), [3, 7, 5, 3, 2, 4]);
});

test('upstream checkpoint: eval mode with evalMode gives the same tokens', async () => {
  const m = loadLm('eval');
  const out = await supervised.autoregressiveSample(m, PROMPT, { maxLength: 6, temperature: 0, evalMode: true });
  assert.deepEqual(Array.from(out.dataSync()), [3, 7, 5, 3, 2, 4]);
});

test('upstream checkpoint: beam search gives the three upstream beams in order', async () => {
  const m = loadLm('predict');
  const beams = await supervised.beamSearch(m, PROMPT, { nBeams: 3, maxLength: 6 });
  assert.equal(beams.length, 3);
  assert.deepEqual(beams.map(([t]) => Array.from(t.dataSync())), [[3, 7, 5, 3, 2, 4], [3, 7, 5, 3, 2, 2], [3, 7, 5, 3, 3, 2]]);
  assert.ok(beams[0][1] > beams[1][1] && beams[1][1] > beams[2][1]);
  assert.ok(beams[0][1] < 0 && beams[0][1] > -0.1);
});

for (const backend of availableBackends) test(`predict-mode logits equal eval-mode logits, token by token and after a multi-token chunk [${backend}]`, () => withBackend(backend, () => {
  const cfg = { vocabSize: 13, dModel: 64, dFF: 128, nHeads: 2, nLayers: 2, maxLen: 64 };
  const evalM = models.TransformerLM({ ...cfg, mode: 'eval', outputLogSoftmax: false });
  const seq = [[5, 3, 9, 1, 12, 7, 2, 8, 4, 11], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]];
  const L = seq[0].length;
  const x = trax.tensor(seq, { dtype: 'int32' });
  evalM.init(new ShapeDtype([2, L], 'int32'));
  const want = evalM.apply(x); // (2, L, 13), computed on the right-shifted input
  // Predict mode does not shift: feed [0, x_0, ..., x_{L-2}] instead.
  const shifted = seq.map((r) => [0, ...r.slice(0, L - 1)]);

  const predictM = models.TransformerLM({ ...cfg, mode: 'predict', outputLogSoftmax: false });
  const run = (chunks) => {
    predictM.init(new ShapeDtype([2, 1], 'int32'));
    predictM.weights = evalM.weights;
    const outs = [];
    let pos = 0;
    for (const len of chunks) {
      const piece = trax.tensor(shifted.map((r) => r.slice(pos, pos + len)), { dtype: 'int32' });
      outs.push(predictM.apply(piece));
      pos += len;
    }
    return trax.fastmath.concat(outs, 1);
  };
  const oneByOne = run(Array(L).fill(1));
  assert.ok(maxAbsDiff(oneByOne, want) < 1e-5, `token by token differs by ${maxAbsDiff(oneByOne, want)}`);
  const chunked = run([4, ...Array(L - 4).fill(1)]);
  assert.ok(maxAbsDiff(chunked, want) < 1e-5, `chunk of 4 then tokens differs by ${maxAbsDiff(chunked, want)}`);
  const twoChunks = run([6, 4]);
  assert.ok(maxAbsDiff(twoChunks, want) < 1e-5, `two chunks differ by ${maxAbsDiff(twoChunks, want)}`);
}));

test('TransformerLM rejects bad configurations with clear errors', () => {
  assert.throws(() => models.TransformerLM({ vocabSize: 0 }), /vocabSize must be a positive integer/);
  assert.throws(() => models.TransformerLM({ vocabSize: 8, dModel: 30, nHeads: 8 }), /divisible by nHeads/);
  assert.throws(() => models.TransformerLM({ vocabSize: 8, mode: 'serve' }), /mode must be/);
});
