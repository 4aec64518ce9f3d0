// Tokenizers: upstream Trax vectors, round-trips, edge cases, training, pipeline API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ByteTextEncoder, CharVocab, SubwordTextEncoder, SentencePieceProcessor, BertTokenizer, ByteLevelBPE,
  subwordTokenize, wtf8Encode, wtf8Decode,
} from '../dist/src/data/tokenizers/index.js';
import { Tokenize, tokenize, detokenize, vocabSize, getTokenizer } from '../dist/src/data/tokenize.js';
import { loadText } from '../dist/src/data/text.js';

const here = dirname(fileURLToPath(import.meta.url));
const FIX = join(here, 'fixtures', 'trax');
const SUBWORD = join(FIX, 'en_8k.subword');
const SPM = join(FIX, 'sentencepiece.model');
const BERT = join(FIX, 'bert_uncased_vocab.txt');
const CAT = 'I have a cat.';

/** Deterministic English-like text with punctuation, numbers, newlines and odd spacing. */
function generatedText(nWords, seed = 1) {
  const words = ['the', 'whale', 'ship', 'sea', 'Ahab', 'captain', 'white', 'and', 'of', 'a', 'to', 'in', 'harpoon',
    'Queequeg', 'Ishmael', 'deck', 'boat', 'wind', 'sailed', 'north', 'it', 'was', 'that', 'his', 'long', 'voyage',
    'Nantucket', 'oil', "don't", "it's", 'twenty-three', 'co-operate', 'e.g.', 'under_score', 'back\\slash'];
  const punct = [',', '.', ';', ':', '!', '?', ' --', ' (aside)', '"', "'"];
  let x = (seed * 2654435761) >>> 0 || 1;
  const rnd = (n) => {
    // xorshift32: an LCG's low bits repeat too soon for `x % n`.
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
  const out = [];
  for (let i = 0; i < nWords; i++) {
    let w = words[rnd(words.length)];
    if (rnd(12) === 0) w = w[0].toUpperCase() + w.slice(1);
    if (rnd(25) === 0) w = String(rnd(100000));
    out.push(w);
    const r = rnd(40);
    if (r < 5) out.push(punct[rnd(punct.length)]);
    out.push(r === 6 ? '\n' : r === 7 ? '\n\n' : r === 8 ? '  ' : r === 9 ? '\t' : ' ');
  }
  return out.join('');
}

/** Moby-Dick, as shipped in the package's data/ folder. */
function mobyDick() {
  return loadText('moby-dick');
}

const LONG = generatedText(20000);
const MOBY = mobyDick();
const NON_ASCII = 'Crème brûlée, naïve façade — Ελληνικά, русский, 日本語のテキスト, 한국어, emoji 😀🐳👍🏽, '
  + 'combining e\u0301, math 𝔘𝔫𝔦, ZWJ 👩‍👩‍👧, tab\tnewline\nNUL\u0000end, ﬁ ligature, ½, Ⅻ';

// ---------------------------------------------------------------- char / byte

test('ByteTextEncoder: Trax char vocab (UTF-8 bytes, 256 ids)', () => {
  const enc = new ByteTextEncoder(0);
  assert.equal(enc.vocabSize, 256);
  assert.deepEqual(enc.encode(CAT), [73, 32, 104, 97, 118, 101, 32, 97, 32, 99, 97, 116, 46]);
  assert.deepEqual(enc.encode('é'), [0xc3, 0xa9]);
  assert.deepEqual(enc.encode(''), []);
  assert.equal(enc.decode([]), '');
  for (const text of [CAT, LONG, NON_ASCII, MOBY].filter((t) => t !== null)) {
    assert.equal(enc.decode(enc.encode(text)), text);
  }
});

test('ByteTextEncoder: reserved ids offset and decode', () => {
  const enc = new ByteTextEncoder(2);
  assert.equal(enc.vocabSize, 258);
  assert.deepEqual(enc.encode('A'), [67]);
  assert.equal(enc.decode([0, 67, 1]), '<pad>A<EOS>');
  assert.equal(enc.decode(enc.encode(NON_ASCII)), NON_ASCII);
});

test('ByteTextEncoder: invalid UTF-8 decodes to U+FFFD without throwing', () => {
  const enc = new ByteTextEncoder(0);
  assert.equal(enc.decode([0xff]), '\ufffd');
  assert.equal(enc.decode([0x61, 0xc3]), 'a\ufffd'); // truncated 2-byte sequence
  assert.equal(enc.decode([0xe6, 0x97, 0x41]), '\ufffdA'); // maximal subpart replaced once
  assert.equal(enc.decode([0xed, 0xa0, 0x80]), '\ufffd\ufffd\ufffd'); // encoded surrogate is invalid UTF-8
  assert.equal(enc.decode([0xef, 0xbb, 0xbf, 0x41]), '\ufeffA'); // BOM kept, as Python does
  assert.throws(() => enc.decode([256]), /outside the vocabulary/);
  assert.throws(() => enc.decode([-1]), /outside the vocabulary/);
});

test('CharVocab: sorted corpus characters, JSON, clear errors', () => {
  const v = CharVocab.fromText('hello world! é😀');
  assert.deepEqual(v.chars, [' ', '!', 'd', 'e', 'h', 'l', 'o', 'r', 'w', 'é', '😀']);
  assert.equal(v.vocabSize, 11);
  assert.deepEqual(v.encode('hello'), [4, 3, 5, 5, 6]);
  assert.equal(v.decode(v.encode('hello world! é😀')), 'hello world! é😀');
  const back = CharVocab.fromJSON(JSON.stringify(v));
  assert.deepEqual(back.chars, v.chars);
  assert.deepEqual(back.encode('world'), v.encode('world'));
  assert.throws(() => CharVocab.fromText('abc').encode('abé'), { message: "character 'é' (U+00E9) is not in the vocabulary" });
  assert.throws(() => CharVocab.fromText('abc').encode('\n'), { message: "character '\\n' (U+000A) is not in the vocabulary" });
  assert.throws(() => v.decode([11]), RangeError);
  assert.throws(() => CharVocab.fromJSON('{"type":"other"}'), /not a CharVocab/);
  assert.equal(CharVocab.fromText('').vocabSize, 0);
  const big = CharVocab.fromText(LONG);
  assert.equal(big.decode(big.encode(LONG)), LONG);
});

// ---------------------------------------------------------------- subword

test('SubwordTextEncoder: upstream vector with en_8k.subword', () => {
  const enc = SubwordTextEncoder.load(SUBWORD);
  assert.equal(enc.vocabSize, 8183);
  assert.deepEqual(enc.encode(CAT), [139, 96, 12, 2217, 2, 21]);
  assert.equal(enc.decode([139, 96, 12, 2217, 2, 21]), CAT);
  assert.equal(enc.idToToken(0), '<pad>');
  assert.equal(enc.idToToken(1), '<EOS>');
});

test('SubwordTextEncoder: tokenizer splits on letter/number runs', () => {
  assert.deepEqual(subwordTokenize('Dude - that\'s so cool.'), ['Dude', ' - ', 'that', "'", 's', 'so', 'cool', '.']);
  assert.deepEqual(subwordTokenize(' leading'), [' ', 'leading']);
  assert.deepEqual(subwordTokenize('trailing '), ['trailing', ' ']);
  assert.deepEqual(subwordTokenize('日本語 abc123 x'), ['日本語', 'abc123', 'x']);
  assert.deepEqual(subwordTokenize(''), []);
});

test('SubwordTextEncoder: lossless round-trips, including escapes and non-ASCII', () => {
  const enc = SubwordTextEncoder.load(SUBWORD);
  for (const text of [LONG, NON_ASCII, MOBY, '', ' ', '  two  spaces  ', 'under_score back\\slash \\123; _u',
    'a\nb\r\nc', '\u3013 lone \ud800 surrogate'].filter((t) => t !== null)) {
    assert.equal(enc.decode(enc.encode(text)), text, JSON.stringify(text.slice(0, 60)));
  }
  // Out-of-range ids decode to nothing, as upstream.
  assert.equal(enc.decode([139, 99999, -5]), 'I');
});

test('SubwordTextEncoder: build from a corpus, store, load, round-trip', () => {
  const corpus = generatedText(5000, 7);
  const enc = SubwordTextEncoder.buildFromCorpus(corpus, 300);
  assert.equal(enc.idToToken(0), '<pad>_');
  assert.equal(enc.idToToken(1), '<EOS>_');
  assert.ok(enc.vocabSize > 60 && enc.vocabSize < 600, `vocab size ${enc.vocabSize}`);
  for (const text of [corpus, LONG, NON_ASCII, 'never seen wørds 123']) {
    assert.equal(enc.decode(enc.encode(text)), text);
  }
  // Frequent words become single subtokens.
  assert.equal(enc.encode('the').length, 1);
  const text = enc.toVocabText();
  assert.ok(text.startsWith("'<pad>_'\n'<EOS>_'\n"));
  const back = SubwordTextEncoder.fromVocabText(text);
  assert.equal(back.vocabSize, enc.vocabSize);
  assert.deepEqual(back.encode(LONG), enc.encode(LONG));
  const dir = mkdtempSync(join(tmpdir(), 'subword-'));
  try {
    const p = join(dir, 'vocab.subword');
    enc.store(p);
    assert.deepEqual(SubwordTextEncoder.load(p).encode(corpus.slice(0, 2000)), enc.encode(corpus.slice(0, 2000)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // A bigger target gives a bigger vocabulary.
  const bigger = SubwordTextEncoder.buildFromCorpus(corpus, 1000);
  assert.ok(bigger.vocabSize > enc.vocabSize);
  assert.throws(() => SubwordTextEncoder.buildToTargetSize(0, new Map([['a', 1]]), 1, 10), /Target size/);
  assert.throws(() => SubwordTextEncoder.buildToTargetSize(10, new Map([['a', 1]]), 5, 1), /Lower bound/);
});

test('SubwordTextEncoder: vocab file parsing (quotes optional)', () => {
  const enc = SubwordTextEncoder.fromVocabText('<pad>\n<EOS>\n"a_"\nb_\n\'ab_\'\n');
  assert.equal(enc.vocabSize, 5);
  assert.deepEqual(enc.encode('a b ab'), [2, 3, 4]);
  assert.equal(enc.decode([2, 3, 4]), 'a b ab');
});

// ---------------------------------------------------------------- sentencepiece

test('SentencePiece: upstream vector with the T5 model', () => {
  const sp = SentencePieceProcessor.load(SPM);
  assert.equal(sp.vocabSize, 32000);
  assert.equal(sp.model.trainerSpec.modelType, 1);
  assert.equal(sp.unkId, 2);
  assert.equal(sp.idToToken(2), '<unk>');
  assert.equal(sp.model.trainerSpec.eosId, 1);
  assert.equal(sp.model.trainerSpec.padId, 0);
  assert.equal(sp.model.normalizerSpec.name, 'nmt_nfkc');
  assert.deepEqual(sp.encode(CAT), [27, 43, 3, 9, 1712, 5]);
  assert.equal(sp.decode([27, 43, 3, 9, 1712, 5]), CAT);
});

test('SentencePiece: more T5 vectors checked against the sentencepiece library', () => {
  const sp = SentencePieceProcessor.load(SPM);
  const cases = [
    // Two segmentations tie exactly; the library's float/double mix picks this one.
    ['x\u2034', [3, 226, 17774, 7079], 'x\u2032\u2032\u2032'],
    ['\uff26\uff35\uff2c\uff2c\u3000\uff57\uff49\uff44\uff54\uff48 \u00bd \u338f', [27645, 9400, 209, 2, 357, 9147], 'FULL width 1 \u2047 2 kg'],
    ['tab\tnew\nNUL\u0000bell\u0007 nb\u00a0sp', [3808, 126, 445, 4254, 2, 7708, 3, 29, 115, 3, 7, 102], 'tab new NUL \u2047 bell nb sp'],
    ["Der Fuchs springt \u00fcber den Hund. C'est d\u00e9j\u00e0 l'\u00e9t\u00e9!",
      [660, 377, 2295, 7, 2141, 17, 510, 177, 14587, 5, 205, 31, 222, 4315, 3, 40, 31, 8436, 55],
      "Der Fuchs springt \u00fcber den Hund. C'est d\u00e9j\u00e0 l'\u00e9t\u00e9!"],
    ['\ud83d\ude00\ud83d\udc33 \u65e5\u672c\u8a9e', [3, 2, 3, 2], ' \u2047   \u2047 '],
  ];
  for (const [text, ids, decoded] of cases) {
    assert.deepEqual(sp.encode(text), ids, JSON.stringify(text));
    assert.equal(sp.decode(ids), decoded);
  }
});

test('SentencePiece: normalization and round-trip on normalized text', () => {
  const sp = SentencePieceProcessor.load(SPM);
  assert.equal(sp.normalize('  Hello\t\tworld  \n'), '\u2581Hello\u2581world');
  assert.equal(sp.normalize('ﬁve ①'), '\u2581five\u25811'); // NFKC via the precompiled charsmap
  assert.equal(sp.normalize(''), '');
  assert.equal(sp.normalize('   '), '');
  assert.deepEqual(sp.encode(''), []);
  assert.equal(sp.decode([]), '');
  const norm = (t) => sp.normalize(t).replaceAll('\u2581', ' ').replace(/^ /, '');
  // The T5 vocabulary lacks a few characters (backslash, ï, braces); they would come back as the unk surface.
  for (const text of [LONG.replaceAll('\\', '/'), 'Crème brûlée, façade', '  spaced\tout  ']) {
    const ids = sp.encode(text);
    assert.ok(!ids.includes(2));
    assert.equal(sp.decode(ids), norm(text));
  }
  if (MOBY) {
    let checked = 0;
    for (const line of MOBY.split('\n').slice(0, 5000)) {
      const ids = sp.encode(line);
      if (ids.includes(2)) continue;
      assert.equal(sp.decode(ids), norm(line));
      checked++;
    }
    assert.ok(checked > 1000);
  }
});

test('SentencePiece: unknown characters, control ids, out-of-range ids', () => {
  const sp = SentencePieceProcessor.load(SPM);
  const ids = sp.encode(NON_ASCII);
  assert.ok(ids.includes(2), 'some characters are unknown to the T5 vocabulary');
  assert.ok(ids.every((i) => Number.isInteger(i) && i >= 0 && i < 32000));
  // A run of unknown characters becomes one unk id.
  assert.deepEqual(sp.encode('😀🐳'), [3, 2]);
  assert.equal(sp.decode([3, 2]), ' \u2047 ');
  assert.equal(sp.decode([0, 27, 1]), 'I'); // <pad> and </s> print nothing
  assert.equal(sp.decode([27, 40000]), 'I \u2047 ');
  assert.throws(() => sp.decode([-1]), RangeError);
  assert.throws(() => SentencePieceProcessor.fromBytes(new Uint8Array([0x0a, 0x05, 0x01])), /truncated/);
});

// A 320-piece SentencePiece BPE model (5 KB) with byte_fallback, a user-defined
// '<sep>' and the identity normalizer, trained by the sentencepiece 0.1.97 trainer
// on a small generated English corpus. Expected ids come from that library.
const TINY_BPE_MODEL = [
  'Cg4KBTx1bms+FQAAAAAYAgoMCgM8cz4VAAAAABgDCg0KBDwvcz4VAAAAABgDCg4KBTxzZXA+FQAAAAAYBAoPCgY8MHgwMD4VAAAA',
  'ABgGCg8KBjwweDAxPhUAAAAAGAYKDwoGPDB4MDI+FQAAAAAYBgoPCgY8MHgwMz4VAAAAABgGCg8KBjwweDA0PhUAAAAAGAYKDwoG',
  'PDB4MDU+FQAAAAAYBgoPCgY8MHgwNj4VAAAAABgGCg8KBjwweDA3PhUAAAAAGAYKDwoGPDB4MDg+FQAAAAAYBgoPCgY8MHgwOT4V',
  'AAAAABgGCg8KBjwweDBBPhUAAAAAGAYKDwoGPDB4MEI+FQAAAAAYBgoPCgY8MHgwQz4VAAAAABgGCg8KBjwweDBEPhUAAAAAGAYK',
  'DwoGPDB4MEU+FQAAAAAYBgoPCgY8MHgwRj4VAAAAABgGCg8KBjwweDEwPhUAAAAAGAYKDwoGPDB4MTE+FQAAAAAYBgoPCgY8MHgx',
  'Mj4VAAAAABgGCg8KBjwweDEzPhUAAAAAGAYKDwoGPDB4MTQ+FQAAAAAYBgoPCgY8MHgxNT4VAAAAABgGCg8KBjwweDE2PhUAAAAA',
  'GAYKDwoGPDB4MTc+FQAAAAAYBgoPCgY8MHgxOD4VAAAAABgGCg8KBjwweDE5PhUAAAAAGAYKDwoGPDB4MUE+FQAAAAAYBgoPCgY8',
  'MHgxQj4VAAAAABgGCg8KBjwweDFDPhUAAAAAGAYKDwoGPDB4MUQ+FQAAAAAYBgoPCgY8MHgxRT4VAAAAABgGCg8KBjwweDFGPhUA',
  'AAAAGAYKDwoGPDB4MjA+FQAAAAAYBgoPCgY8MHgyMT4VAAAAABgGCg8KBjwweDIyPhUAAAAAGAYKDwoGPDB4MjM+FQAAAAAYBgoP',
  'CgY8MHgyND4VAAAAABgGCg8KBjwweDI1PhUAAAAAGAYKDwoGPDB4MjY+FQAAAAAYBgoPCgY8MHgyNz4VAAAAABgGCg8KBjwweDI4',
  'PhUAAAAAGAYKDwoGPDB4Mjk+FQAAAAAYBgoPCgY8MHgyQT4VAAAAABgGCg8KBjwweDJCPhUAAAAAGAYKDwoGPDB4MkM+FQAAAAAY',
  'BgoPCgY8MHgyRD4VAAAAABgGCg8KBjwweDJFPhUAAAAAGAYKDwoGPDB4MkY+FQAAAAAYBgoPCgY8MHgzMD4VAAAAABgGCg8KBjww',
  'eDMxPhUAAAAAGAYKDwoGPDB4MzI+FQAAAAAYBgoPCgY8MHgzMz4VAAAAABgGCg8KBjwweDM0PhUAAAAAGAYKDwoGPDB4MzU+FQAA',
  'AAAYBgoPCgY8MHgzNj4VAAAAABgGCg8KBjwweDM3PhUAAAAAGAYKDwoGPDB4Mzg+FQAAAAAYBgoPCgY8MHgzOT4VAAAAABgGCg8K',
  'BjwweDNBPhUAAAAAGAYKDwoGPDB4M0I+FQAAAAAYBgoPCgY8MHgzQz4VAAAAABgGCg8KBjwweDNEPhUAAAAAGAYKDwoGPDB4M0U+',
  'FQAAAAAYBgoPCgY8MHgzRj4VAAAAABgGCg8KBjwweDQwPhUAAAAAGAYKDwoGPDB4NDE+FQAAAAAYBgoPCgY8MHg0Mj4VAAAAABgG',
  'Cg8KBjwweDQzPhUAAAAAGAYKDwoGPDB4NDQ+FQAAAAAYBgoPCgY8MHg0NT4VAAAAABgGCg8KBjwweDQ2PhUAAAAAGAYKDwoGPDB4',
  'NDc+FQAAAAAYBgoPCgY8MHg0OD4VAAAAABgGCg8KBjwweDQ5PhUAAAAAGAYKDwoGPDB4NEE+FQAAAAAYBgoPCgY8MHg0Qj4VAAAA',
  'ABgGCg8KBjwweDRDPhUAAAAAGAYKDwoGPDB4NEQ+FQAAAAAYBgoPCgY8MHg0RT4VAAAAABgGCg8KBjwweDRGPhUAAAAAGAYKDwoG',
  'PDB4NTA+FQAAAAAYBgoPCgY8MHg1MT4VAAAAABgGCg8KBjwweDUyPhUAAAAAGAYKDwoGPDB4NTM+FQAAAAAYBgoPCgY8MHg1ND4V',
  'AAAAABgGCg8KBjwweDU1PhUAAAAAGAYKDwoGPDB4NTY+FQAAAAAYBgoPCgY8MHg1Nz4VAAAAABgGCg8KBjwweDU4PhUAAAAAGAYK',
  'DwoGPDB4NTk+FQAAAAAYBgoPCgY8MHg1QT4VAAAAABgGCg8KBjwweDVCPhUAAAAAGAYKDwoGPDB4NUM+FQAAAAAYBgoPCgY8MHg1',
  'RD4VAAAAABgGCg8KBjwweDVFPhUAAAAAGAYKDwoGPDB4NUY+FQAAAAAYBgoPCgY8MHg2MD4VAAAAABgGCg8KBjwweDYxPhUAAAAA',
  'GAYKDwoGPDB4NjI+FQAAAAAYBgoPCgY8MHg2Mz4VAAAAABgGCg8KBjwweDY0PhUAAAAAGAYKDwoGPDB4NjU+FQAAAAAYBgoPCgY8',
  'MHg2Nj4VAAAAABgGCg8KBjwweDY3PhUAAAAAGAYKDwoGPDB4Njg+FQAAAAAYBgoPCgY8MHg2OT4VAAAAABgGCg8KBjwweDZBPhUA',
  'AAAAGAYKDwoGPDB4NkI+FQAAAAAYBgoPCgY8MHg2Qz4VAAAAABgGCg8KBjwweDZEPhUAAAAAGAYKDwoGPDB4NkU+FQAAAAAYBgoP',
  'CgY8MHg2Rj4VAAAAABgGCg8KBjwweDcwPhUAAAAAGAYKDwoGPDB4NzE+FQAAAAAYBgoPCgY8MHg3Mj4VAAAAABgGCg8KBjwweDcz',
  'PhUAAAAAGAYKDwoGPDB4NzQ+FQAAAAAYBgoPCgY8MHg3NT4VAAAAABgGCg8KBjwweDc2PhUAAAAAGAYKDwoGPDB4Nzc+FQAAAAAY',
  'BgoPCgY8MHg3OD4VAAAAABgGCg8KBjwweDc5PhUAAAAAGAYKDwoGPDB4N0E+FQAAAAAYBgoPCgY8MHg3Qj4VAAAAABgGCg8KBjww',
  'eDdDPhUAAAAAGAYKDwoGPDB4N0Q+FQAAAAAYBgoPCgY8MHg3RT4VAAAAABgGCg8KBjwweDdGPhUAAAAAGAYKDwoGPDB4ODA+FQAA',
  'AAAYBgoPCgY8MHg4MT4VAAAAABgGCg8KBjwweDgyPhUAAAAAGAYKDwoGPDB4ODM+FQAAAAAYBgoPCgY8MHg4ND4VAAAAABgGCg8K',
  'BjwweDg1PhUAAAAAGAYKDwoGPDB4ODY+FQAAAAAYBgoPCgY8MHg4Nz4VAAAAABgGCg8KBjwweDg4PhUAAAAAGAYKDwoGPDB4ODk+',
  'FQAAAAAYBgoPCgY8MHg4QT4VAAAAABgGCg8KBjwweDhCPhUAAAAAGAYKDwoGPDB4OEM+FQAAAAAYBgoPCgY8MHg4RD4VAAAAABgG',
  'Cg8KBjwweDhFPhUAAAAAGAYKDwoGPDB4OEY+FQAAAAAYBgoPCgY8MHg5MD4VAAAAABgGCg8KBjwweDkxPhUAAAAAGAYKDwoGPDB4',
  'OTI+FQAAAAAYBgoPCgY8MHg5Mz4VAAAAABgGCg8KBjwweDk0PhUAAAAAGAYKDwoGPDB4OTU+FQAAAAAYBgoPCgY8MHg5Nj4VAAAA',
  'ABgGCg8KBjwweDk3PhUAAAAAGAYKDwoGPDB4OTg+FQAAAAAYBgoPCgY8MHg5OT4VAAAAABgGCg8KBjwweDlBPhUAAAAAGAYKDwoG',
  'PDB4OUI+FQAAAAAYBgoPCgY8MHg5Qz4VAAAAABgGCg8KBjwweDlEPhUAAAAAGAYKDwoGPDB4OUU+FQAAAAAYBgoPCgY8MHg5Rj4V',
  'AAAAABgGCg8KBjwweEEwPhUAAAAAGAYKDwoGPDB4QTE+FQAAAAAYBgoPCgY8MHhBMj4VAAAAABgGCg8KBjwweEEzPhUAAAAAGAYK',
  'DwoGPDB4QTQ+FQAAAAAYBgoPCgY8MHhBNT4VAAAAABgGCg8KBjwweEE2PhUAAAAAGAYKDwoGPDB4QTc+FQAAAAAYBgoPCgY8MHhB',
  'OD4VAAAAABgGCg8KBjwweEE5PhUAAAAAGAYKDwoGPDB4QUE+FQAAAAAYBgoPCgY8MHhBQj4VAAAAABgGCg8KBjwweEFDPhUAAAAA',
  'GAYKDwoGPDB4QUQ+FQAAAAAYBgoPCgY8MHhBRT4VAAAAABgGCg8KBjwweEFGPhUAAAAAGAYKDwoGPDB4QjA+FQAAAAAYBgoPCgY8',
  'MHhCMT4VAAAAABgGCg8KBjwweEIyPhUAAAAAGAYKDwoGPDB4QjM+FQAAAAAYBgoPCgY8MHhCND4VAAAAABgGCg8KBjwweEI1PhUA',
  'AAAAGAYKDwoGPDB4QjY+FQAAAAAYBgoPCgY8MHhCNz4VAAAAABgGCg8KBjwweEI4PhUAAAAAGAYKDwoGPDB4Qjk+FQAAAAAYBgoP',
  'CgY8MHhCQT4VAAAAABgGCg8KBjwweEJCPhUAAAAAGAYKDwoGPDB4QkM+FQAAAAAYBgoPCgY8MHhCRD4VAAAAABgGCg8KBjwweEJF',
  'PhUAAAAAGAYKDwoGPDB4QkY+FQAAAAAYBgoPCgY8MHhDMD4VAAAAABgGCg8KBjwweEMxPhUAAAAAGAYKDwoGPDB4QzI+FQAAAAAY',
  'BgoPCgY8MHhDMz4VAAAAABgGCg8KBjwweEM0PhUAAAAAGAYKDwoGPDB4QzU+FQAAAAAYBgoPCgY8MHhDNj4VAAAAABgGCg8KBjww',
  'eEM3PhUAAAAAGAYKDwoGPDB4Qzg+FQAAAAAYBgoPCgY8MHhDOT4VAAAAABgGCg8KBjwweENBPhUAAAAAGAYKDwoGPDB4Q0I+FQAA',
  'AAAYBgoPCgY8MHhDQz4VAAAAABgGCg8KBjwweENEPhUAAAAAGAYKDwoGPDB4Q0U+FQAAAAAYBgoPCgY8MHhDRj4VAAAAABgGCg8K',
  'BjwweEQwPhUAAAAAGAYKDwoGPDB4RDE+FQAAAAAYBgoPCgY8MHhEMj4VAAAAABgGCg8KBjwweEQzPhUAAAAAGAYKDwoGPDB4RDQ+',
  'FQAAAAAYBgoPCgY8MHhENT4VAAAAABgGCg8KBjwweEQ2PhUAAAAAGAYKDwoGPDB4RDc+FQAAAAAYBgoPCgY8MHhEOD4VAAAAABgG',
  'Cg8KBjwweEQ5PhUAAAAAGAYKDwoGPDB4REE+FQAAAAAYBgoPCgY8MHhEQj4VAAAAABgGCg8KBjwweERDPhUAAAAAGAYKDwoGPDB4',
  'REQ+FQAAAAAYBgoPCgY8MHhERT4VAAAAABgGCg8KBjwweERGPhUAAAAAGAYKDwoGPDB4RTA+FQAAAAAYBgoPCgY8MHhFMT4VAAAA',
  'ABgGCg8KBjwweEUyPhUAAAAAGAYKDwoGPDB4RTM+FQAAAAAYBgoPCgY8MHhFND4VAAAAABgGCg8KBjwweEU1PhUAAAAAGAYKDwoG',
  'PDB4RTY+FQAAAAAYBgoPCgY8MHhFNz4VAAAAABgGCg8KBjwweEU4PhUAAAAAGAYKDwoGPDB4RTk+FQAAAAAYBgoPCgY8MHhFQT4V',
  'AAAAABgGCg8KBjwweEVCPhUAAAAAGAYKDwoGPDB4RUM+FQAAAAAYBgoPCgY8MHhFRD4VAAAAABgGCg8KBjwweEVFPhUAAAAAGAYK',
  'DwoGPDB4RUY+FQAAAAAYBgoPCgY8MHhGMD4VAAAAABgGCg8KBjwweEYxPhUAAAAAGAYKDwoGPDB4RjI+FQAAAAAYBgoPCgY8MHhG',
  'Mz4VAAAAABgGCg8KBjwweEY0PhUAAAAAGAYKDwoGPDB4RjU+FQAAAAAYBgoPCgY8MHhGNj4VAAAAABgGCg8KBjwweEY3PhUAAAAA',
  'GAYKDwoGPDB4Rjg+FQAAAAAYBgoPCgY8MHhGOT4VAAAAABgGCg8KBjwweEZBPhUAAAAAGAYKDwoGPDB4RkI+FQAAAAAYBgoPCgY8',
  'MHhGQz4VAAAAABgGCg8KBjwweEZEPhUAAAAAGAYKDwoGPDB4RkU+FQAAAAAYBgoPCgY8MHhGRj4VAAAAABgGCgsKBOKWgXcVAAAA',
  'gAoJCgJ0aBUAAIC/CgkKAmluFQAAAMAKCwoE4paBcxUAAEDACgkKAmhpFQAAgMAKCQoCY2EVAACgwAoMCgXiloFjYRUAAMDACgsK',
  'BOKWgW4VAADgwAoJCgJvbhUAAADBCgkKAmF0FQAAEMEKDAoF4paBdGgVAAAgwQoLCgTiloFhFQAAMMEKCQoCaWwVAABAwQoLCgTi',
  'loFvFQAAUMEKCQoCaGEVAABgwQoJCgJjaxUAAHDBCgkKAmRlFQAAgMEKDAoF4paBZGUVAACIwQoOCgfiloFkZWNrFQAAkMEKCgoD',
  'ZsOpFQAAmMEKCwoE4paBbBUAAKDBCgoKA29uZxUAAKjBCg8KCOKWgWNhZsOpFQAAsMEKDgoH4paBbG9uZxUAALjBCgkKAmJvFQAA',
  'wMEKDAoF4paBYm8VAADIwQoOCgfiloFib2F0FQAA0MEKDQoG4paB5pelFQAA2MEKEAoJ4paB5pel5pysFQAA4MEKCgoDaW5kFQAA',
  '6MEKDgoH4paBd2luZBUAAPDBCgoKA2HDrxUAAPjBCgkKAmVhFQAAAMIKCQoCaXQVAAAEwgoKCgPiloEVAAAIwgoICgFhFQAADMIK',
  'CAoBdBUAABDCCggKAW8VAAAUwgoICgFpFQAAGMIKCAoBbhUAABzCCggKAWUVAAAgwgoICgFoFQAAJMIKCAoBcxUAACjCCggKAWQV',
  'AAAswgoICgF3FQAAMMIKCAoBbBUAADTCCggKAWMVAAA4wgoICgFwFQAAPMIKCAoBLhUAAEDCCggKAWcVAABEwgoICgF2FQAASMIK',
  'CAoBZhUAAEzCCggKAXIVAABQwgoICgFrFQAAVMIKCQoCw6kVAABYwgoICgFiFQAAXMIKCgoD5pelFQAAYMIKCgoD5pysFQAAZMIK',
  'CQoCw68VAABowgoICgF5FQAAbMISNgoVL3RtcC9zbWFsbF9jb3JwdXMudHh0Eg0vdG1wL3RpbnlfYnBlGAIgwAL6AQU8c2VwPpgC',
  'ARoMCghpZGVudGl0eRIA',
].join('');

test('SentencePiece: BPE model with byte fallback and user-defined symbols', () => {
  const sp = SentencePieceProcessor.fromBytes(Buffer.from(TINY_BPE_MODEL, 'base64'));
  assert.equal(sp.vocabSize, 320);
  assert.equal(sp.model.trainerSpec.modelType, 2);
  assert.equal(sp.model.trainerSpec.byteFallback, true);
  assert.equal(sp.model.normalizerSpec.precompiledCharsmap.length, 0);
  const cases = [
    ['the whale sailed north <sep> café 日本', [270, 300, 260, 274, 305, 300, 263, 295, 272, 300, 303, 267, 297, 312, 261, 294, 3, 282, 288],
      'the whale sailed north <sep> café 日本'],
    ['Zebra ünïcode 😀!', [294, 94, 300, 315, 312, 295, 294, 199, 192, 299, 318, 306, 297, 276, 294, 244, 163, 156, 132, 37], 'Zebra ünïcode 😀!'],
    ['  two  spaces ', [294, 296, 304, 297, 263, 307, 295, 306, 300, 302], 'two spaces'],
    ['', [], ''],
  ];
  for (const [text, ids, decoded] of cases) {
    assert.deepEqual(sp.encode(text), ids);
    assert.equal(sp.decode(ids), decoded);
  }
  // Invalid UTF-8 from byte pieces: one U+FFFD per byte, as the library does.
  assert.equal(sp.decode([sp.pieceToId('<0xF0>')]), '\ufffd');
  assert.equal(sp.decode([234, 155, 270, 199, 173]), '\ufffd\ufffd thé');
});

// ---------------------------------------------------------------- bert

test('BERT WordPiece: upstream vector (uncased)', () => {
  const bert = BertTokenizer.load(BERT, { doLowerCase: true });
  assert.equal(bert.vocabSize, 30522);
  assert.deepEqual(bert.encode(CAT), [1045, 2031, 1037, 4937, 1012]);
  assert.equal(bert.decode([1045, 2031, 1037, 4937, 1012]), 'i have a cat .');
});

test('BERT WordPiece: accents, punctuation, CJK, wordpieces, [UNK]', () => {
  const bert = BertTokenizer.load(BERT, { doLowerCase: true });
  assert.deepEqual(bert.tokenize('Héllo, naïve $5^'), ['hello', ',', 'naive', '$', '5', '^']);
  assert.deepEqual(bert.tokenize('日本'), ['日', '本']);
  assert.deepEqual(bert.tokenize('unaffable'), ['una', '##ffa', '##ble']);
  assert.equal(bert.decode(bert.encode('unaffable')), 'unaffable');
  assert.deepEqual(bert.tokenize('x'.repeat(201)), ['[UNK]']);
  assert.deepEqual(bert.tokenize('😀'), ['[UNK]']);
  assert.deepEqual(bert.tokenize('a\u0000b\ufffdc \u200b d'), ['abc', 'd']);
  assert.deepEqual(bert.encode(''), []);
  assert.equal(bert.decode([]), '');
  const ids = bert.encode(NON_ASCII + LONG);
  assert.ok(ids.length > 1000 && ids.every((i) => i >= 0 && i < 30522));
  assert.throws(() => bert.decode([30522]), RangeError);
  // Cased mode keeps 'I', which this uncased vocabulary lacks.
  const cased = BertTokenizer.load(BERT, { doLowerCase: false });
  assert.deepEqual(cased.tokenize(CAT), ['[UNK]', 'have', 'a', 'cat', '.']);
});

// ---------------------------------------------------------------- byte-level BPE

test('ByteLevelBPE: trains quickly and round-trips any string', () => {
  const corpus = generatedText(60000, 3) + (MOBY ?? '');
  const t0 = performance.now();
  const bpe = ByteLevelBPE.train(corpus, { numMerges: 1500 });
  const ms = performance.now() - t0;
  assert.ok(ms < 20000, `training took ${ms} ms`);
  assert.ok(bpe.vocabSize > 256 && bpe.vocabSize <= 256 + 1500);
  const ids = bpe.encode(LONG);
  assert.ok(ids.length < wtf8Encode(LONG).length / 2, 'merges compress the text');
  for (const text of [LONG, NON_ASCII, '', ' ', '\n\n\n', 'lone \ud800 high, lone \udc00 low, \udbff\udfff pair', '\ud83d',
    'x'.repeat(5000), MOBY].filter((t) => t !== null)) {
    assert.equal(bpe.decode(bpe.encode(text)), text, JSON.stringify(text.slice(0, 40)));
  }
  assert.equal(bpe.idToToken(' '.charCodeAt(0)), '\u0120'); // GPT-2's 'Ġ'
  // Invalid byte sequences from arbitrary ids decode with U+FFFD.
  assert.equal(bpe.decode([0xff, 0x41]), '\ufffdA');
  assert.throws(() => bpe.decode([bpe.vocabSize]), RangeError);
});

test('ByteLevelBPE: JSON save/load gives the same encoding', () => {
  const bpe = ByteLevelBPE.train(generatedText(8000, 5), { numMerges: 400 });
  const json = bpe.toJSON();
  assert.equal(json.type, 'byte-bpe');
  assert.equal(json.merges.length, bpe.merges.length);
  assert.equal(Object.keys(json.vocab).length, bpe.vocabSize);
  const back = ByteLevelBPE.fromJSON(JSON.stringify(json));
  assert.equal(back.vocabSize, bpe.vocabSize);
  assert.deepEqual(back.encode(LONG), bpe.encode(LONG));
  assert.throws(() => ByteLevelBPE.fromJSON('{"type":"byte-bpe","merges":["zz_unknown x"]}'), /unknown token/);
  assert.throws(() => ByteLevelBPE.fromJSON('{}'), /not a byte-level BPE/);
});

test('ByteLevelBPE: merges are applied by rank', () => {
  const bpe = new ByteLevelBPE([[97, 98], [256, 99], [97, 97]]); // ab, abc, aa
  assert.deepEqual(bpe.encode('abc'), [257]);
  assert.deepEqual(bpe.encode('aaa'), [258, 97]);
  assert.deepEqual(bpe.encode('aab'), [97, 256]); // 'ab' outranks 'aa'
  assert.deepEqual(bpe.encode('aaab'), [258, 256]);
  assert.equal(bpe.decode([257, 258]), 'abcaa');
});

test('wtf8 helpers are inverse on lone surrogates', () => {
  const s = 'a\ud800b\udfffc😀';
  assert.equal(wtf8Decode(wtf8Encode(s)), s);
  assert.equal(wtf8Decode([0xc0, 0x80]), '\ufffd\ufffd'); // overlong NUL rejected
});

// ---------------------------------------------------------------- Trax API

test('Tokenize: stream of tuples with keys, dicts, strings', () => {
  const opts = { vocabType: 'subword', vocabDir: FIX, vocabFile: 'en_8k.subword' };
  const stream = [[CAT, CAT, 7], ['a', 'b']];
  const out = [...Tokenize({ ...opts, keys: [0] })(stream)];
  assert.ok(out[0][0] instanceof Int32Array);
  assert.deepEqual(Array.from(out[0][0]), [139, 96, 12, 2217, 2, 21]);
  assert.equal(out[0][1], CAT);
  assert.equal(out[0][2], 7);
  assert.equal(out[1][1], 'b');
  const all = [...Tokenize(opts)([[CAT, 3, CAT]])][0];
  assert.deepEqual(Array.from(all[2]), [139, 96, 12, 2217, 2, 21]);
  assert.equal(all[1], 3);
  const dicts = [...tokenize([{ inputs: CAT, targets: 'x', id: 5 }], { ...opts, keys: ['inputs'] })];
  assert.deepEqual(Array.from(dicts[0].inputs), [139, 96, 12, 2217, 2, 21]);
  assert.equal(dicts[0].targets, 'x');
  assert.equal(dicts[0].id, 5);
  const shifted = [...Tokenize({ ...opts, nReservedIds: 2 })([CAT])];
  assert.deepEqual(Array.from(shifted[0]), [141, 98, 14, 2219, 4, 23]);
});

test('Tokenize: async streams and lazy generators', async () => {
  async function* src() {
    yield CAT;
    yield [CAT, 'x'];
  }
  const gen = Tokenize({ vocabType: 'char' })(src());
  const got = [];
  for await (const ex of gen) got.push(ex);
  assert.deepEqual(Array.from(got[0]), Array.from(new TextEncoder().encode(CAT)));
  assert.deepEqual(Array.from(got[1][1]), [120]);
  // Sync generators are consumed lazily.
  let pulled = 0;
  function* infinite() {
    for (;;) {
      pulled++;
      yield 'ab';
    }
  }
  const it = Tokenize({ vocabType: 'char' })(infinite());
  it.next();
  it.next();
  assert.equal(pulled, 2);
});

test('detokenize and vocabSize for every vocab type', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bpe-'));
  try {
    ByteLevelBPE.train(generatedText(3000), { numMerges: 100 }).save(join(dir, 'bpe.json'));
    const cases = [
      [{ vocabType: 'char' }, 256],
      [{ vocabType: 'subword', vocabDir: FIX, vocabFile: 'en_8k.subword' }, 8183],
      [{ vocabType: 'sentencepiece', vocabDir: FIX, vocabFile: 'sentencepiece.model' }, 32000],
      [{ vocabType: 'bert-lowercase', vocabDir: FIX, vocabFile: 'bert_uncased_vocab.txt' }, 30522],
      [{ vocabType: 'bpe', vocabDir: dir, vocabFile: 'bpe.json' }, null],
    ];
    for (const [opts, size] of cases) {
      if (size !== null) assert.equal(vocabSize(opts), size);
      assert.equal(vocabSize({ ...opts, nReservedIds: 3 }), vocabSize(opts) + 3);
      const [ids] = [...tokenize([CAT], { ...opts, nReservedIds: 3 })];
      const expected = opts.vocabType === 'bert-lowercase' ? 'i have a cat .' : CAT;
      // Reserved ids (pad 0, EOS 1) are dropped before decoding.
      assert.equal(detokenize([0, ...ids, 1, 0], { ...opts, nReservedIds: 3 }), expected);
      assert.equal(detokenize(ids, { ...opts, nReservedIds: 3 }), expected);
    }
    // bert-lowercase and bert differ only in casing.
    assert.deepEqual(Array.from([...tokenize(['Cat'], { vocabType: 'bert', vocabDir: FIX, vocabFile: 'bert_uncased_vocab.txt' })][0]), [100]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tokenizer loading is cached per type and path', () => {
  const a = getTokenizer({ vocabType: 'subword', vocabDir: FIX, vocabFile: 'en_8k.subword' });
  const b = getTokenizer({ vocabType: 'subword', vocabFile: SUBWORD });
  assert.equal(a, b);
  assert.equal(getTokenizer({ vocabType: 'char' }), getTokenizer({ vocabType: 'char' }));
});

test('bad inputs give clear errors', () => {
  const missing = join(FIX, 'no_such_vocab.subword');
  assert.throws(() => vocabSize({ vocabType: 'subword', vocabDir: FIX, vocabFile: 'no_such_vocab.subword' }),
    (e) => e.message.includes(missing) && /not found/.test(e.message) && /gs:\/\/trax-ml/.test(e.message));
  assert.throws(() => vocabSize({ vocabType: 'subword' }), /vocabFile is required/);
  assert.throws(() => vocabSize({ vocabType: 'words' }), /vocabType must be one of/);
  assert.throws(() => tokenize('just a string', { vocabType: 'char' }), /not a string/);
  assert.throws(() => tokenize(42, { vocabType: 'char' }), /iterable/);
  assert.throws(() => Tokenize({ vocabType: 'char', nReservedIds: -1 }), /nReservedIds/);
  assert.throws(() => detokenize([1.5], { vocabType: 'char' }), /not an integer/);
  // A file that is not a SentencePiece model.
  const dir = mkdtempSync(join(tmpdir(), 'badspm-'));
  try {
    writeFileSync(join(dir, 'bad.model'), 'not a protobuf at all');
    assert.throws(() => vocabSize({ vocabType: 'sentencepiece', vocabDir: dir, vocabFile: 'bad.model' }), /protobuf|pieces|SentencePiece/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
