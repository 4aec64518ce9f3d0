// Word-level tokenizer: words, punctuation and line breaks; a vocabulary of
// the most frequent tokens plus <unk>; readable decoding; exact offsets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WordTokenizer, wordTokenize, WORD_UNK } from '../dist/src/data/tokenizers/index.js';

test('wordTokenize: words with inner apostrophes, single punctuation marks, line breaks; code-point ends', () => {
  const { tokens, ends } = wordTokenize('Call me  Ishmael. Don\'t—ever!\n\n"Whale\'s" 3.5 x_1 🐋ok');
  assert.deepEqual(tokens, ['Call', 'me', 'Ishmael', '.', "Don't", '—', 'ever', '!', '\n', '\n', '"', "Whale's", '"', '3', '.', '5', 'x_1', '🐋', 'ok']);
  // Ends count code points: the whale emoji is one character (two UTF-16 units).
  const text = 'Call me  Ishmael. Don\'t—ever!\n\n"Whale\'s" 3.5 x_1 🐋ok';
  assert.equal(ends[ends.length - 1], Array.from(text).length);
  assert.equal(ends[2], 'Call me  Ishmael'.length);
  assert.equal(ends[17], Array.from(text).length - 2);
});

test('WordTokenizer.build: the vocabSize - 1 most frequent tokens after <unk>, ties in code-point order', () => {
  const tok = WordTokenizer.build('b a a c c c, d. b c\nzz', 5);
  assert.equal(tok.vocabSize, 5);
  // c x4, then a, b x2 (ties by code point), then the rest tie at 1: '\n' sorts first.
  assert.deepEqual(tok.tokens, [WORD_UNK, 'c', 'a', 'b', '\n']);
  assert.deepEqual(tok.encode('a zz c'), [2, 0, 1]);
  assert.deepEqual(tok.unknownWords('a zz c d zz'), ['zz', 'd']);
  assert.throws(() => WordTokenizer.build('a b', 1), /vocabSize must be an integer >= 2/);
});

test('WordTokenizer.decode: readable spacing, line breaks kept, unknown words marked', () => {
  const text = 'Call me Ishmael. Some years ago, never mind how long (precisely)—having "little money".\nThe sperm-whale and/or I.';
  const tok = WordTokenizer.build(text, 1000);
  assert.equal(tok.decode(tok.encode(text)), text);
  const small = WordTokenizer.build(text, 10);
  const s = small.decode(small.encode('Call me Ishmael.'));
  assert.match(s, /<unk>/);
  assert.equal(s.split(' ').length, 3, s);
  assert.ok(s.endsWith('.'), s);
  // Decoding only appends: every prefix of ids decodes to a prefix of the whole.
  const ids = tok.encode(text);
  const whole = tok.decode(ids);
  for (let i = 0; i <= ids.length; i++) assert.ok(whole.startsWith(tok.decode(ids.slice(0, i))), `prefix ${i}`);
  assert.throws(() => tok.decode([tok.vocabSize]), /outside the vocabulary/);
});

test('WordTokenizer JSON round trip and bad vocabularies', () => {
  const tok = WordTokenizer.build('the cat sat on the mat .', 4);
  const back = WordTokenizer.fromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
  assert.deepEqual(back.tokens, tok.tokens);
  assert.deepEqual(back.encode('the mat'), tok.encode('the mat'));
  assert.throws(() => new WordTokenizer({ tokens: ['the', 'cat'] }), /first being <unk>/);
  assert.throws(() => new WordTokenizer({ tokens: [WORD_UNK, 'a', 'a'] }), /"a" appears twice/);
  // @ts-expect-error: deliberately missing tokens
  assert.throws(() => new WordTokenizer({}), /"tokens" must list/);
});
