// Language models on text: a short char-level run learns far below the
// text's unigram entropy and resumes from its checkpoint; generation is
// reproducible with a seed, top-k 1 is greedy; bad inputs give clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as trax from '../dist/src/index.js';

const { trainLM, generateText } = trax.supervised;

// A few KB of English-like text from a small grammar, fixed by an LCG seed.
function makeText(nSentences = 160) {
  let s = 12345;
  const rnd = (n) => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return (s >>> 8) % n; };
  const pick = (xs) => xs[rnd(xs.length)];
  const subj = ['the cat', 'a dog', 'the old sailor', 'my friend', 'the whale', 'a small bird'];
  const verb = ['sat on', 'looked at', 'ran to', 'jumped over', 'sang to', 'swam past'];
  const obj = ['the mat', 'the ship', 'a red box', 'the sea', 'the green hill', 'a tall tree'];
  const end = ['.', '.', '!', '?'];
  const lines = [];
  for (let i = 0; i < nSentences; i++) {
    const w = `${pick(subj)} ${pick(verb)} ${pick(obj)}${pick(end)}`;
    lines.push(w[0].toUpperCase() + w.slice(1));
  }
  return lines.join('\n') + '\n';
}

function unigramEntropyNats(text) {
  const counts = new Map();
  const chars = Array.from(text);
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) { const p = n / chars.length; h -= p * Math.log(p); }
  return h;
}

const dir = mkdtempSync(join(tmpdir(), 'trax-lm-test-'));
const textFile = join(dir, 'grammar.txt');
const text = makeText();
writeFileSync(textFile, text);
const out = join(dir, 'run');
const SMALL = {
  text: textFile, tokenizer: 'char', dModel: 32, dFF: 64, nLayers: 2, nHeads: 2, maxLen: 64,
  seqLen: 32, batchSize: 8, lr: 3e-3, evalEvery: 100, evalBatches: 4, sampleLength: 40, seed: 0,
};
const quiet = () => {};

async function collect(opts) {
  let s = '';
  for await (const piece of generateText(opts)) s += piece;
  return s;
}

test('lm: a short char-level run learns far below the unigram entropy, then resumes', async () => {
  const h1 = unigramEntropyNats(text);
  const evals = [];
  const r = await trainLM({ ...SMALL, steps: 200, outputDir: out, log: quiet, onEval: (e) => evals.push(e) });
  assert.equal(r.step, 200);
  assert.equal(r.resumed, false);
  assert.deepEqual(evals.map((e) => e.step), [0, 100, 200]);
  assert.ok(evals[0].valLoss > 0.9 * h1, `initial loss ${evals[0].valLoss} should be near or above the unigram entropy ${h1}`);
  assert.ok(r.valLoss < 0.6 * h1, `validation loss ${r.valLoss.toFixed(3)} nats should be well below the unigram entropy ${h1.toFixed(3)}`);
  assert.ok(Math.abs(r.valBpc - r.valLoss / Math.LN2) < 1e-9, 'char-level bits per character is loss / ln 2');
  assert.equal(typeof r.sample, 'string');
  assert.equal(Array.from(r.sample).length, 40);

  // Same outputDir: continues from the checkpoint up to the new step count, with the stored settings.
  const r2 = await trainLM({ outputDir: out, steps: 250, log: quiet });
  assert.equal(r2.resumed, true);
  assert.equal(r2.step, 250);
  assert.equal(r2.evals[0].step, 200);
  assert.ok(Math.abs(r2.evals[0].valLoss - r.valLoss) < 1e-5, 'the resumed model starts where the first run ended');
  assert.ok(r2.valLoss < 0.6 * h1);

  // Resuming with a different model shape is refused.
  await assert.rejects(trainLM({ outputDir: out, dModel: 64, steps: 300, log: quiet }), /dModel 32.*dModel 64/s);
});

test('lm: generation is reproducible with a seed; top-k 1 is greedy', async () => {
  const opts = { checkpoint: out, prompt: 'The cat ', length: 60, temperature: 0.8, topK: 10, seed: 1 };
  const a = await collect(opts);
  const b = await collect(opts);
  assert.equal(Array.from(a).length, 60);
  assert.equal(a, b);
  const c = await collect({ ...opts, seed: 2 });
  assert.notEqual(a, c, 'another seed gives another sample');
  const greedy = await collect({ ...opts, temperature: 0 });
  const top1 = await collect({ ...opts, temperature: 1.5, topK: 1, seed: 7 });
  assert.equal(top1, greedy);
  const nucleus = await collect({ ...opts, topK: undefined, topP: 0.9 });
  assert.equal(Array.from(nucleus).length, 60);
  // Output longer than the training context slides over it; 'full' keeps all tokens within maxLen.
  assert.equal(Array.from(await collect({ ...opts, length: 150 })).length, 150);
  assert.equal(Array.from(await collect({ ...opts, context: 'full', length: 50 })).length, 50);
});

test('lm: bad inputs give clear errors', async () => {
  await assert.rejects(trainLM({ ...SMALL, text: join(dir, 'missing.txt'), steps: 1, log: quiet }), /not found.*missing\.txt/);
  const empty = join(dir, 'empty.txt');
  writeFileSync(empty, '');
  await assert.rejects(trainLM({ ...SMALL, text: empty, steps: 1, log: quiet }), /empty/);
  const tiny = join(dir, 'tiny.txt');
  writeFileSync(tiny, 'Call me Ishmael.');
  await assert.rejects(trainLM({ ...SMALL, text: tiny, steps: 1, log: quiet }), /too short/);

  await assert.rejects(collect({ checkpoint: out, prompt: 'Call me Ishmael \u00e9', length: 5 }),
    (e) => /outside the model's \d+-character vocabulary/.test(e.message) && /U\+00E9/.test(e.message) && /"I"/.test(e.message));
  await assert.rejects(collect({ checkpoint: out, prompt: 'the cat '.repeat(10), length: 5 }), /80 tokens.*maxLen 64/);
  await assert.rejects(collect({ checkpoint: out, prompt: 'the cat ', length: 60, context: 'full' }), /8 tokens\) \+ length \(60\) = 68 exceeds the model's maxLen 64/);
  await assert.rejects(collect({ checkpoint: join(dir, 'nowhere'), length: 5 }), /not found/);

  // lm.json with one character fewer than the checkpoint's embedding.
  const bad = join(dir, 'mismatch');
  cpSync(out, bad, { recursive: true });
  const f = JSON.parse(readFileSync(join(bad, 'lm.json'), 'utf8'));
  f.vocab = f.vocab.slice(0, -1);
  f.config.vocabSize -= 1;
  writeFileSync(join(bad, 'lm.json'), JSON.stringify(f));
  await assert.rejects(collect({ checkpoint: bad, length: 5 }), /Vocabulary mismatch.*embedding for (\d+) tokens.*has \d+/);
});

test('lm: subword model reports bits per character and streams clean text', async () => {
  const sub = join(dir, 'sub');
  const r = await trainLM({ ...SMALL, tokenizer: 'subword', vocabSize: 120, steps: 30, evalEvery: 30, sampleLength: 0, outputDir: sub, log: quiet });
  assert.ok(r.vocabSize > 50 && r.vocabSize < 200, `vocab ${r.vocabSize}`);
  // A token covers more than one character, so bits per character < loss / ln 2.
  assert.ok(r.valBpc < r.valLoss / Math.LN2, `bpc ${r.valBpc} vs loss ${r.valLoss}`);
  const pieces = [];
  for await (const p of generateText({ checkpoint: sub, prompt: 'The cat', length: 40, temperature: 0.8, seed: 3 })) pieces.push(p);
  const s = pieces.join('');
  assert.ok(s.length > 0);
  // A complete escape (\10; for a newline) is decoded; a lone backslash piece followed by digits
  // without ';' is not an escape and stays as text, as in Trax's _unescape_token.
  assert.doesNotMatch(s, /\\\d+;/, 'newline escapes are decoded, not shown');
});

test('lm: word model trains, samples readable text with unknown words marked, and resumes', async () => {
  const wd = join(dir, 'word');
  const evals = [];
  const r = await trainLM({ ...SMALL, tokenizer: 'word', vocabSize: 16, seqLen: 16, steps: 60, evalEvery: 30, sampleLength: 20,
    outputDir: wd, log: quiet, onEval: (e) => evals.push(e) });
  assert.equal(r.vocabSize, 16);
  assert.equal(r.config.tokenizer, 'word');
  assert.ok(r.valLoss < evals[0].valLoss - 0.5, `loss ${evals[0].valLoss} -> ${r.valLoss}`);
  // Per character: a word token covers several characters (and the space before it).
  assert.ok(r.valLossPerChar < r.valLoss / 2, `per char ${r.valLossPerChar} vs per token ${r.valLoss}`);
  assert.ok(Math.abs(r.valBpc - r.valLossPerChar / Math.LN2) < 1e-9);
  // The vocabulary comes from the training split: the 15 most frequent tokens plus <unk>.
  const lm = JSON.parse(readFileSync(join(wd, 'lm.json'), 'utf8'));
  assert.equal(lm.vocab.tokens[0], '<unk>');
  assert.equal(lm.vocab.tokens.length, 16);
  assert.ok(lm.vocab.tokens.includes('the') && lm.vocab.tokens.includes('.'));
  // Samples are words of the vocabulary and <unk>, separated by spaces.
  const s = await collect({ checkpoint: wd, prompt: 'The cat sat on the', length: 25, temperature: 1, seed: 2 });
  const words = s.split(/[\s.!?]+/).filter(Boolean);
  assert.ok(words.length >= 10, s);
  for (const w of words) assert.ok(w === '<unk>' || lm.vocab.tokens.includes(w), `${JSON.stringify(w)} in ${JSON.stringify(s)}`);
  assert.match(s + r.sample, /<unk>/, 'rare words are marked');
  const again = await collect({ checkpoint: wd, prompt: 'The cat sat on the', length: 25, temperature: 1, seed: 2 });
  assert.equal(again, s);
  // Resumes with the stored vocabulary.
  const r2 = await trainLM({ outputDir: wd, steps: 90, log: quiet });
  assert.equal(r2.resumed, true);
  assert.equal(r2.step, 90);
  assert.ok(Math.abs(r2.evals[0].valLoss - r.valLoss) < 1e-5);
  await assert.rejects(trainLM({ outputDir: wd, tokenizer: 'word', vocabSize: 20, steps: 100, log: quiet }), /targetVocabSize 16.*targetVocabSize 20/s);
});

test('lm: one measure across tokenizers: char loss per character equals its loss; per-character values are comparable', async () => {
  const base = { ...SMALL, steps: 0, sampleLength: 0, log: quiet };
  const c = await trainLM({ ...base, tokenizer: 'char' });
  assert.equal(c.valLossPerChar, c.valLoss);
  // An untrained model predicts about uniformly: per token ~ ln(vocab), and per character that
  // divided by characters per token, which the word and BPE models each count from their own windows.
  for (const [kind, vocabSize] of [['word', 30], ['bpe', 300], ['subword', 120]]) {
    const r = await trainLM({ ...base, tokenizer: kind, vocabSize });
    assert.ok(r.valLossPerChar < r.valLoss, `${kind}: ${r.valLossPerChar} per char vs ${r.valLoss} per token`);
    assert.ok(r.valLossPerChar > r.valLoss / 12, `${kind}: a token covers fewer than 12 characters of this text`);
  }
  await assert.rejects(trainLM({ ...base, tokenizer: 'word', vocabSize: 1 }), /vocabSize must be an integer >= 2/);
  await assert.rejects(trainLM({ ...base, embeddingInit: '1.2' }), /embeddingInit must be 'master' or '1.3.4'/);
});

test('lm: embeddingInit 1.3.4 gives the embedding N(0, 1) and is kept on resume', async () => {
  const e = join(dir, 'emb134');
  await trainLM({ ...SMALL, steps: 1, evalEvery: 1, sampleLength: 0, embeddingInit: '1.3.4', outputDir: e, log: quiet });
  const f = JSON.parse(readFileSync(join(e, 'lm.json'), 'utf8'));
  assert.equal(f.config.embeddingInit, '1.3.4');
  // The checkpoint's embedding (after one small step) still has std about 1, not sqrt(1/dModel).
  const emb = trax.layers.flattenWeightsAndState(trax.supervised.loadLM(e).model.weights, [])[0][0];
  const std = Math.sqrt(Array.from(emb.dataSync()).reduce((a, v) => a + v * v, 0) / emb.size);
  assert.ok(Math.abs(std - 1) < 0.15, `embedding std ${std}`);
  const m = trax.layers.flattenWeightsAndState(trax.supervised.loadLM(out).model.weights, [])[0][0];
  const mstd = Math.sqrt(Array.from(m.dataSync()).reduce((a, v) => a + v * v, 0) / m.size);
  assert.ok(mstd < 0.5, `master-initialized embedding std ${mstd} (sqrt(1/32) = 0.18 at the start)`);
  await assert.rejects(trainLM({ outputDir: e, embeddingInit: 'master', steps: 2, log: quiet }), /embeddingInit "1.3.4".*embeddingInit "master"/s);
  const r = await trainLM({ outputDir: e, steps: 2, log: quiet });
  assert.equal(r.config.embeddingInit, '1.3.4');
});

test('lm: cleanup', () => {
  rmSync(dir, { recursive: true, force: true });
});
