// Language models on real text: trainLM trains a TransformerLM on a corpus
// (character, subword or byte-level BPE tokens) with the Trainer, reporting
// validation loss and bits per character and saving everything `sample`
// needs; generateText streams text from such a checkpoint directory.
import { setNumThreads, numThreads } from '../../backends/index.js';
import { Inputs } from '../../data/inputs.js';
import { CharVocab, loadText, lmFixedBatches, lmFixedStarts, lmWindows, splitIds, splitText, type LMBatch } from '../../data/text.js';
import { ByteLevelBPE, type BpeJSON } from '../../data/tokenizers/bpe.js';
import { SubwordTextEncoder } from '../../data/tokenizers/subword.js';
import { WordTokenizer, type WordVocabJSON } from '../../data/tokenizers/word.js';
import { describeChar } from '../../data/tokenizers/char.js';
import type { Layer, Mode, Weights } from '../../layers/base.js';
import { CrossEntropyLoss } from '../../layers/metrics.js';
import { TransformerLM, embeddingInitializerFor, type EmbeddingInitVersion, type TransformerLMShape } from '../../models/transformer_lm.js';
import { AdafactorOptimizer } from '../../optimizers/adafactor.js';
import { AdamOptimizer } from '../../optimizers/adam.js';
import type { Optimizer } from '../../optimizers/base.js';
import { ShapeDtype } from '../../shapes.js';
import * as random from '../../engine/random.js';
import { Tensor } from '../../engine/tensor.js';
import { autoregressiveSampleStream } from '../../decoding/decoding.js';
import { initFromBytes, initFromFile } from '../../io/model_io.js';
import { Trainer } from '../../training/trainer.js';
import { readTraxCheckpointSync, writeFileAtomicSync } from '../../io/trax_checkpoint.js';
import { lockRunFolder, releaseRunFolder, runFolderHolds } from '../../io/run_folder.js';
import { digestHex, fetchBytes, fs, path as paths } from '../../platform/host.js';

export type LMTokenizerKind = 'char' | 'subword' | 'bpe' | 'word';
export type LMOptimizerKind = 'adam' | 'adafactor';

export interface LMTrainOptions {
  /** A UTF-8 text file, or a folder of .txt files. Default: the bundled corpus. */
  text?: string;
  /** The bundled corpus (used when text is not given). */
  corpus?: 'moby-dick';
  /**
   * Default 'char': the sorted characters of the whole text (the anchor's
   * vocabulary). 'subword', 'bpe' and 'word' learn their vocabulary from the
   * training split; 'word' keeps the vocabSize - 1 most frequent words and
   * punctuation marks plus an unknown token.
   */
  tokenizer?: LMTokenizerKind;
  /** Vocabulary size for 'subword' (default 1024), 'bpe' (default 1024) and 'word' (default 4096, the unknown token included). */
  vocabSize?: number;
  /** The embedding's initializer: Trax master's U(+-sqrt(3/dModel)) (default) or Trax 1.3.4's N(0, 1). */
  embeddingInit?: EmbeddingInitVersion;
  /** Targets per training window (context length). Default 64. */
  seqLen?: number;
  batchSize?: number;
  dModel?: number;
  dFF?: number;
  nLayers?: number;
  nHeads?: number;
  /** Positional table size; also the longest prompt generation accepts. Default 2048 (Trax's). */
  maxLen?: number;
  dropout?: number;
  /** Total training steps (a resumed run continues up to this many). Default 2000. */
  steps?: number;
  /** Constant learning rate. Default 1e-3. */
  lr?: number;
  optimizer?: LMOptimizerKind;
  evalEvery?: number;
  /** Fixed validation (and training) batches per evaluation. Default 20. */
  evalBatches?: number;
  /** Where checkpoints, lm.json and metrics go; omit to train without saving. */
  outputDir?: string;
  /** Initialization and training-window seed. Default 0. */
  seed?: number;
  /** Tokens sampled at each evaluation (temperature 0.8, fixed seed); 0 for none. Default 200 characters' worth. */
  sampleLength?: number;
  /** Prompt of the samples shown at each evaluation. Default ''. */
  samplePrompt?: string;
  /** Native backend threads (default: leave as set). */
  threads?: number;
  /** Replay the training step through fastmath.jit (default true). */
  jit?: boolean;
  log?: (line: string) => void;
  onEval?: (record: LMEvalRecord) => void;
  /** Called after every training step with the step reached and its loss (progress displays). */
  onStep?: (step: number, loss: number) => void;
  /**
   * Stops training when aborted: after the step in progress, the checkpoint
   * is saved (with an outputDir) and trainLM rejects with the signal's reason.
   * A later call with the same outputDir resumes from that step.
   */
  signal?: AbortSignal;
}

export interface LMEvalRecord {
  step: number;
  /** Mean validation loss in nats per token over the fixed validation batches. */
  valLoss: number;
  /** The same loss per character of text covered by the targets (nats/char; equals valLoss for char models). */
  valLossPerChar: number;
  /** Validation bits per character (valLossPerChar / ln 2). */
  valBpc: number;
  /** Mean loss over fixed training batches (same number as validation). */
  trainLoss: number;
  trainBpc: number;
  /** Seconds since this call began (training, evaluation and samples). */
  elapsedS: number;
  /** Target tokens per second in training steps only, in this call. */
  tokensPerS: number | null;
  sample?: string;
}

export interface LMTrainResult {
  step: number;
  valLoss: number;
  valLossPerChar: number;
  valBpc: number;
  trainLoss: number;
  trainBpc: number;
  evals: LMEvalRecord[];
  /** Seconds for this call, evaluation included (not data or tokenizer preparation). */
  wallS: number;
  /** Seconds in training steps only. */
  trainS: number;
  tokensPerS: number;
  params: number;
  vocabSize: number;
  /** Whether training continued from a checkpoint in outputDir. */
  resumed: boolean;
  outputDir: string | null;
  config: LMConfig;
  /** The last evaluation's sample ('' when sampleLength is 0). */
  sample: string;
}

/** Everything lm.json records: the model, the data layout and the training setup. */
export interface LMConfig extends TransformerLMShape {
  tokenizer: LMTokenizerKind;
  /** Requested vocabulary size (subword/bpe/word), null for char. */
  targetVocabSize: number | null;
  /** Embedding initializer (absent in files from before the option: 'master'). */
  embeddingInit?: EmbeddingInitVersion;
  seqLen: number;
  batchSize: number;
  steps: number;
  lr: number;
  optimizer: LMOptimizerKind;
  evalEvery: number;
  evalBatches: number;
  seed: number;
}

interface LMFile {
  format: 'trax-ts-lm';
  version: 1;
  config: LMConfig;
  /** char: the characters in id order; subword: the vocab file text; bpe, word: their JSON. */
  vocab: string[] | string | BpeJSON | WordVocabJSON;
  data: { source: string; chars: number; sha256: string; trainTokens: number; validationTokens: number };
}

export const LM_FILE = 'lm.json';
export const LM_WEIGHTS = 'model.pkl.gz';

/** A tokenizer as the LM code uses it: ids as Int32Array, plus what lm.json stores. */
export interface LMTokenizer {
  readonly kind: LMTokenizerKind;
  readonly vocabSize: number;
  encode(text: string): Int32Array;
  decode(ids: ArrayLike<number>): string;
  /** Throws a clear error if the text cannot be encoded exactly. */
  checkEncodable(text: string, what: string): void;
  vocabData(): LMFile['vocab'];
}

class CharLMTokenizer implements LMTokenizer {
  readonly kind = 'char' as const;
  constructor(readonly vocab: CharVocab) {}
  get vocabSize(): number { return this.vocab.size; }
  encode(text: string): Int32Array { return this.vocab.encode(text); }
  decode(ids: ArrayLike<number>): string { return this.vocab.decode(ids); }
  checkEncodable(text: string, what: string): void {
    const known = new Set(this.vocab.chars);
    const bad = [...new Set(Array.from(text))].filter((c) => !known.has(c));
    if (bad.length) {
      throw new Error(`${what} has ${bad.length === 1 ? 'a character' : `${bad.length} characters`} outside the model's ` +
        `${this.vocab.size}-character vocabulary: ${bad.slice(0, 8).map(describeChar).join(', ')}${bad.length > 8 ? ', ...' : ''}`);
    }
  }
  vocabData(): string[] { return this.vocab.chars.slice(); }
}

class RoundTripTokenizer implements LMTokenizer {
  constructor(readonly kind: 'subword' | 'bpe', private readonly tok: SubwordTextEncoder | ByteLevelBPE) {}
  get vocabSize(): number { return this.tok.vocabSize; }
  encode(text: string): Int32Array { return Int32Array.from(this.tok.encode(text)); }
  decode(ids: ArrayLike<number>): string { return this.tok.decode(ids); }
  checkEncodable(text: string, what: string): void {
    // Subword escapes unknown characters and BPE works on bytes, so only a lossy round trip is an error.
    const back = this.decode(this.encode(text));
    if (back !== text) {
      const a = Array.from(text), b = Array.from(back);
      let i = 0;
      while (i < a.length && a[i] === b[i]) i++;
      throw new Error(`${what} cannot be represented by the model's ${this.kind} vocabulary` +
        (i < a.length ? `: character ${describeChar(a[i])} at ${i} does not survive encoding` : ''));
    }
  }
  vocabData(): string | BpeJSON {
    return this.tok instanceof SubwordTextEncoder ? this.tok.toVocabText() : this.tok.toJSON();
  }
}

class WordLMTokenizer implements LMTokenizer {
  readonly kind = 'word' as const;
  constructor(readonly tok: WordTokenizer) {}
  get vocabSize(): number { return this.tok.vocabSize; }
  encode(text: string): Int32Array { return this.tok.encodeWithEnds(text).ids; }
  decode(ids: ArrayLike<number>): string { return this.tok.decode(ids); }
  // Words outside the vocabulary become the unknown token: every text encodes.
  checkEncodable(_text: string, _what: string): void {}
  vocabData(): WordVocabJSON { return this.tok.toJSON(); }
}

function buildTokenizer(kind: LMTokenizerKind, text: string, trainText: string, targetSize: number): LMTokenizer {
  if (kind === 'char') return new CharLMTokenizer(CharVocab.fromText(text));
  if (kind === 'word') return new WordLMTokenizer(WordTokenizer.build(trainText, targetSize));
  if (kind === 'subword') return new RoundTripTokenizer('subword', SubwordTextEncoder.buildFromCorpus(trainText, targetSize));
  const merges = targetSize - 256;
  if (merges < 0) throw new RangeError(`bpe: vocabSize must be at least 256 (the byte alphabet), got ${targetSize}`);
  return new RoundTripTokenizer('bpe', ByteLevelBPE.train(trainText, { numMerges: merges }));
}

function tokenizerFromFile(f: LMFile, where: string): LMTokenizer {
  switch (f.config.tokenizer) {
    case 'char':
      if (!Array.isArray(f.vocab)) throw new Error(`${where}: a char model needs its character list in "vocab"`);
      return new CharLMTokenizer(new CharVocab(f.vocab));
    case 'subword':
      if (typeof f.vocab !== 'string') throw new Error(`${where}: a subword model needs its vocabulary text in "vocab"`);
      return new RoundTripTokenizer('subword', SubwordTextEncoder.fromVocabText(f.vocab));
    case 'bpe':
      return new RoundTripTokenizer('bpe', ByteLevelBPE.fromJSON(f.vocab as BpeJSON));
    case 'word':
      return new WordLMTokenizer(WordTokenizer.fromJSON(f.vocab as WordVocabJSON));
    default:
      throw new Error(`${where}: unknown tokenizer ${JSON.stringify((f.config as { tokenizer: unknown }).tokenizer)}`);
  }
}

function readLMFile(dir: string): LMFile {
  const path = paths.join(dir, LM_FILE);
  if (!fs.existsSync(dir)) throw new Error(`Checkpoint directory not found: ${dir}`);
  if (!fs.existsSync(path)) throw new Error(`${dir} has no ${LM_FILE}: it is not a language-model directory written by trainLM (train --task lm)`);
  return parseLMFile(fs.readFileSync(path, 'utf8'), path);
}

function parseLMFile(text: string, where: string): LMFile {
  let f: LMFile;
  try {
    f = JSON.parse(text) as LMFile;
  } catch (e) {
    throw new Error(`${where} is not valid JSON: ${(e as Error).message}`);
  }
  if (f?.format !== 'trax-ts-lm' || !f.config) throw new Error(`${where} is not a trax-ts language-model file`);
  return f;
}

const DEFAULTS = {
  tokenizer: 'char' as LMTokenizerKind, seqLen: 64, batchSize: 12, dModel: 128, dFF: 512, nLayers: 4, nHeads: 4,
  maxLen: 2048, dropout: 0, steps: 2000, lr: 1e-3, optimizer: 'adam' as LMOptimizerKind, evalEvery: 250, evalBatches: 20, seed: 0,
};

// Settings that must match a checkpoint being resumed (steps, evalEvery etc. may change).
const FIXED_ON_RESUME: (keyof LMConfig)[] = [
  'tokenizer', 'targetVocabSize', 'seqLen', 'batchSize', 'dModel', 'dFF', 'nLayers', 'nHeads', 'maxLen', 'dropout', 'optimizer', 'seed',
  'embeddingInit',
];

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`trainLM: ${name} must be an integer >= ${min}, got ${v}`);
}

function resolveConfig(opts: LMTrainOptions, stored: LMConfig | null, outputDir: string | null): LMConfig {
  const tokenizer = opts.tokenizer ?? stored?.tokenizer ?? DEFAULTS.tokenizer;
  if (!['char', 'subword', 'bpe', 'word'].includes(tokenizer)) throw new RangeError(`trainLM: tokenizer must be 'char', 'subword', 'bpe' or 'word', got ${JSON.stringify(tokenizer)}`);
  const targetVocabSize = tokenizer === 'char' ? null : (opts.vocabSize ?? stored?.targetVocabSize ?? (tokenizer === 'word' ? 4096 : 1024));
  if (tokenizer === 'char' && opts.vocabSize !== undefined) throw new RangeError('trainLM: vocabSize applies to subword, bpe and word tokenizers; char uses every character of the text');
  const embeddingInit = opts.embeddingInit ?? stored?.embeddingInit ?? 'master';
  if (embeddingInit !== 'master' && embeddingInit !== '1.3.4') throw new RangeError(`trainLM: embeddingInit must be 'master' or '1.3.4', got ${JSON.stringify(embeddingInit)}`);
  const pick = <K extends keyof typeof DEFAULTS>(k: K): (typeof DEFAULTS)[K] =>
    ((opts as Record<string, unknown>)[k] ?? (stored as Record<string, unknown> | null)?.[k] ?? DEFAULTS[k]) as (typeof DEFAULTS)[K];
  const cfg: LMConfig = {
    tokenizer, vocabSize: stored?.vocabSize ?? 0, targetVocabSize, embeddingInit,
    seqLen: pick('seqLen'), batchSize: pick('batchSize'), dModel: pick('dModel'), dFF: pick('dFF'), nLayers: pick('nLayers'),
    nHeads: pick('nHeads'), maxLen: pick('maxLen'), dropout: pick('dropout'), steps: pick('steps'), lr: pick('lr'),
    optimizer: pick('optimizer'), evalEvery: pick('evalEvery'), evalBatches: pick('evalBatches'), seed: pick('seed'),
  };
  checkInt('seqLen', cfg.seqLen, 1); checkInt('batchSize', cfg.batchSize, 1); checkInt('dModel', cfg.dModel, 1);
  checkInt('dFF', cfg.dFF, 1); checkInt('nLayers', cfg.nLayers, 0); checkInt('nHeads', cfg.nHeads, 1);
  checkInt('maxLen', cfg.maxLen, 2); checkInt('steps', cfg.steps, 0); checkInt('evalEvery', cfg.evalEvery, 1);
  checkInt('evalBatches', cfg.evalBatches, 1); checkInt('seed', cfg.seed, 0);
  if (targetVocabSize !== null) checkInt('vocabSize', targetVocabSize, tokenizer === 'word' ? 2 : 3);
  if (cfg.dModel % cfg.nHeads !== 0) throw new RangeError(`trainLM: dModel ${cfg.dModel} must be divisible by nHeads ${cfg.nHeads}`);
  if (cfg.seqLen + 1 > cfg.maxLen) throw new RangeError(`trainLM: windows of seqLen + 1 = ${cfg.seqLen + 1} tokens do not fit maxLen ${cfg.maxLen}`);
  if (!(cfg.lr > 0)) throw new RangeError(`trainLM: lr must be positive, got ${cfg.lr}`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new RangeError(`trainLM: dropout must be in [0, 1), got ${cfg.dropout}`);
  if (!['adam', 'adafactor'].includes(cfg.optimizer)) throw new RangeError(`trainLM: optimizer must be 'adam' or 'adafactor', got ${JSON.stringify(cfg.optimizer)}`);
  if (stored) {
    // Files from before embeddingInit existed were trained with master's initializer.
    const was = (k: keyof LMConfig): unknown => (k === 'embeddingInit' ? stored[k] ?? 'master' : stored[k]);
    const diff = FIXED_ON_RESUME.filter((k) => was(k) !== cfg[k]);
    if (diff.length) {
      throw new Error(`trainLM: ${outputDir} holds a model trained with ${diff.map((k) => `${k} ${JSON.stringify(was(k))}`).join(', ')}, ` +
        `but this run asks for ${diff.map((k) => `${k} ${JSON.stringify(cfg[k])}`).join(', ')}; use a fresh outputDir or the same settings to resume`);
    }
  }
  return cfg;
}

function makeOptimizer(cfg: LMConfig): Optimizer {
  // Adam with betas (0.9, 0.99), eps 1e-8 and no weight decay.
  // The Trainer owns weights and slots, so updates may overwrite them in place;
  // the norm statistics nobody reads here are skipped.
  const opt = cfg.optimizer === 'adam'
    ? new AdamOptimizer({ learning_rate: cfg.lr, b1: 0.9, b2: 0.99, eps: 1e-8, weightDecayRate: 0, inPlace: true })
    : new AdafactorOptimizer({ learning_rate: cfg.lr, inPlace: true });
  opt.computeStats = false;
  return opt;
}

function lmModel(cfg: LMConfig, mode: Mode): Layer {
  return TransformerLM({
    vocabSize: cfg.vocabSize, dModel: cfg.dModel, dFF: cfg.dFF, nLayers: cfg.nLayers, nHeads: cfg.nHeads,
    maxLen: cfg.maxLen, dropout: cfg.dropout, mode, embeddingInitializer: embeddingInitializerFor(cfg.embeddingInit ?? 'master'),
  });
}

function* cycle<T>(xs: readonly T[]): Generator<T, never, undefined> {
  for (;;) for (const x of xs) yield x;
}

/**
 * Characters of text covered by the weighted targets (columns 1..) of fixed
 * batches. With token ends (word models, whose decoding does not restore the
 * original spacing) a window starting at token s covers characters
 * ends[s] .. ends[s + seqLen]: its targets and the spaces before them. Other
 * tokenizers decode exactly, so the decoded targets are counted.
 */
async function targetChars(batches: LMBatch[], tok: LMTokenizer, ends?: { ends: Int32Array; starts: number[][] }): Promise<{ targets: number; chars: number }> {
  let targets = 0, chars = 0;
  if (ends) {
    const t = batches[0][0].shape[1] - 1;
    for (const row of ends.starts) {
      for (const st of row) {
        targets += t;
        chars += ends.ends[st + t] - ends.ends[st];
      }
    }
    return { targets, chars };
  }
  for (const [x] of batches) {
    const [b, t] = x.shape;
    const ids = await x.data() as Int32Array;
    for (let r = 0; r < b; r++) {
      const row = ids.subarray(r * t + 1, (r + 1) * t);
      targets += row.length;
      chars += tok.kind === 'char' ? row.length : Array.from(tok.decode(row)).length;
    }
  }
  return { targets, chars };
}

function sha256(text: string): string {
  return digestHex('sha256', text);
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/**
 * Trains a TransformerLM on text. With outputDir, the Trainer checkpoints to
 * outputDir/model.pkl.gz after each evaluation and lm.json records the
 * configuration and vocabulary; a second call with the same outputDir resumes
 * (unset options are taken from lm.json) and trains up to `steps`.
 */
export async function trainLM(opts: LMTrainOptions = {}): Promise<LMTrainResult> {
  // The run folder is locked while training (by trainLM and its Trainer) and
  // handed back when the call ends, so the same process or another may go on with it.
  const dir = opts.outputDir ? paths.resolve(opts.outputDir) : null;
  const held = dir ? runFolderHolds(dir) : 0;
  try {
    return await trainLMLocked(opts);
  } finally {
    if (dir) for (let n = runFolderHolds(dir); n > held; n--) releaseRunFolder(dir);
  }
}

async function trainLMLocked(opts: LMTrainOptions): Promise<LMTrainResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const outputDir = opts.outputDir ? paths.resolve(opts.outputDir) : null;
  if (opts.text !== undefined && opts.corpus !== undefined) throw new Error('trainLM: give either text (a file or folder) or corpus, not both');
  if (opts.corpus !== undefined && opts.corpus !== 'moby-dick') throw new Error(`trainLM: unknown corpus ${JSON.stringify(opts.corpus)}; the bundled one is 'moby-dick'`);
  if (opts.threads !== undefined) setNumThreads(opts.threads);

  const storedFile = outputDir && fs.existsSync(paths.join(outputDir, LM_FILE)) ? readLMFile(outputDir) : null;
  if (outputDir && !storedFile && fs.existsSync(paths.join(outputDir, LM_WEIGHTS))) {
    throw new Error(`trainLM: ${outputDir} has ${LM_WEIGHTS} but no ${LM_FILE}, so its vocabulary is unknown; use a fresh outputDir`);
  }
  const cfg = resolveConfig(opts, storedFile?.config ?? null, outputDir);
  const source = opts.text !== undefined ? paths.resolve(opts.text) : opts.corpus ?? (storedFile?.data.source ?? 'moby-dick');
  const text = loadText(source === 'moby-dick' ? undefined : source);
  if (text.length === 0) throw new Error(`Text corpus ${source} is empty`);
  const digest = sha256(text);
  if (storedFile && storedFile.data.sha256 !== digest) {
    throw new Error(`trainLM: ${outputDir} was trained on ${storedFile.data.source} (sha256 ${storedFile.data.sha256.slice(0, 12)}...), ` +
      `but ${source} differs (sha256 ${digest.slice(0, 12)}...); use a fresh outputDir for new text`);
  }

  // Tokenize: char ids cover the whole text; learned vocabularies see only the training split.
  const tPrep = performance.now();
  let tok: LMTokenizer;
  let trainIds: Int32Array, valIds: Int32Array;
  let trainEnds: Int32Array | undefined, valEnds: Int32Array | undefined;
  if (cfg.tokenizer === 'char') {
    tok = storedFile ? tokenizerFromFile(storedFile, paths.join(outputDir!, LM_FILE)) : buildTokenizer('char', text, text, 0);
    ({ train: trainIds, validation: valIds } = splitIds(tok.encode(text)));
  } else {
    const { train, validation } = splitText(text);
    tok = storedFile ? tokenizerFromFile(storedFile, paths.join(outputDir!, LM_FILE)) : buildTokenizer(cfg.tokenizer, text, train, cfg.targetVocabSize!);
    if (tok instanceof WordLMTokenizer) {
      ({ ids: trainIds, ends: trainEnds } = tok.tok.encodeWithEnds(train));
      ({ ids: valIds, ends: valEnds } = tok.tok.encodeWithEnds(validation));
    } else {
      trainIds = tok.encode(train);
      valIds = tok.encode(validation);
    }
  }
  cfg.vocabSize = tok.vocabSize;
  const need = cfg.seqLen + 2;
  if (trainIds.length < need || valIds.length < need) {
    throw new Error(`Text ${source} is too short: ${trainIds.length} training and ${valIds.length} validation tokens, ` +
      `but windows of seqLen ${cfg.seqLen} need at least ${need} in each (the last 10% is validation); use more text or a smaller seqLen`);
  }
  log(`lm: ${source === 'moby-dick' ? 'corpus moby-dick' : source}: ${fmtInt(Array.from(text).length)} characters; ` +
    `${cfg.tokenizer} vocabulary of ${cfg.vocabSize}; ${fmtInt(trainIds.length)} training / ${fmtInt(valIds.length)} validation tokens ` +
    `(${((performance.now() - tPrep) / 1000).toFixed(1)} s)`);

  if (outputDir && !storedFile) {
    fs.mkdirSync(outputDir, { recursive: true });
    lockRunFolder(outputDir, 'trainLM');
    const f: LMFile = {
      format: 'trax-ts-lm', version: 1, config: cfg, vocab: tok.vocabData(),
      data: { source, chars: Array.from(text).length, sha256: digest, trainTokens: trainIds.length, validationTokens: valIds.length },
    };
    writeFileAtomicSync(paths.join(outputDir, LM_FILE), new TextEncoder().encode(JSON.stringify(f, null, 1)));
  }

  // Streams: random training windows; fixed validation and training batches as the evaluation sets.
  const win = { seqLen: cfg.seqLen, batchSize: cfg.batchSize };
  const valBatches = lmFixedBatches(valIds, { ...win, seed: 1000, nBatches: cfg.evalBatches });
  const trainEvalBatches = lmFixedBatches(trainIds, { ...win, seed: 1001, nBatches: cfg.evalBatches });
  const startsOf = (n: number, seed: number): number[][] => lmFixedStarts(n, { ...win, seed, nBatches: cfg.evalBatches });
  const valCover = await targetChars(valBatches, tok, valEnds && { ends: valEnds, starts: startsOf(valIds.length, 1000) });
  const trainCover = await targetChars(trainEvalBatches, tok, trainEnds && { ends: trainEnds, starts: startsOf(trainIds.length, 1001) });
  const inputs = Inputs(() => lmWindows(trainIds, { ...win, seed: cfg.seed }), () => cycle(valBatches), () => cycle(trainEvalBatches));

  const resumed = outputDir !== null && fs.existsSync(paths.join(outputDir, LM_WEIGHTS));
  const trainer = new Trainer({
    model: (mode) => lmModel(cfg, mode),
    lossFn: CrossEntropyLoss(),
    optimizer: makeOptimizer(cfg),
    lrSchedule: () => cfg.lr,
    inputs,
    outputDir,
    randomSeed: cfg.seed,
    metrics: { loss: CrossEntropyLoss() },
    shouldSaveCheckpoints: outputDir !== null,
    log: () => undefined,
    jit: opts.jit ?? true,
  });
  log(`lm: TransformerLM d_model ${cfg.dModel}, d_ff ${cfg.dFF}, ${cfg.nLayers} layers, ${cfg.nHeads} heads, dropout ${cfg.dropout}; ` +
    `${cfg.optimizer} lr ${cfg.lr}; batch ${cfg.batchSize} x ${cfg.seqLen}; ${cfg.steps} steps` +
    `${resumed ? ` (resuming from ${paths.join(outputDir!, LM_WEIGHTS)})` : ''}; backend threads ${numThreads()}`);

  const sampleLength = opts.sampleLength ?? (cfg.tokenizer === 'char' ? 200 : 60);
  let predictModel: Layer | null = null;
  const samplePromptIds = opts.samplePrompt ? (tok.checkEncodable(opts.samplePrompt, 'samplePrompt'), tok.encode(opts.samplePrompt)) : new Int32Array(0);
  const sampleNow = async (): Promise<string> => {
    if (sampleLength <= 0) return '';
    if (!predictModel) {
      predictModel = lmModel(cfg, 'predict');
      predictModel.init(new ShapeDtype([1, 1], 'int32'));
    }
    predictModel.weights = trainer.modelWeights as Weights;
    const ids: number[] = [];
    for await (const id of sampleIds(predictModel, samplePromptIds, sampleLength,
      { temperature: 0.8, seed: 1, window: cfg.seqLen, maxLen: cfg.maxLen })) ids.push(id);
    return tok.decode(Int32Array.from([...samplePromptIds, ...ids])).slice(tok.decode(samplePromptIds).length);
  };

  const evals: LMEvalRecord[] = [];
  let startStep = 0;
  const t0 = performance.now();
  let trainS = 0;
  const perChar = (loss: number, c: { targets: number; chars: number }): number => (loss * c.targets) / c.chars;
  const bpc = (loss: number, c: { targets: number; chars: number }): number => perChar(loss, c) / Math.LN2;
  const evaluate = async (): Promise<LMEvalRecord> => {
    const r = await trainer.evaluate(cfg.evalBatches, { signal: opts.signal });
    const stepsDone = evals.length ? trainer.step - startStep : 0;
    const rec: LMEvalRecord = {
      step: trainer.step,
      valLoss: r['eval']['loss'], valLossPerChar: perChar(r['eval']['loss'], valCover), valBpc: bpc(r['eval']['loss'], valCover),
      trainLoss: r['train']['loss'], trainBpc: bpc(r['train']['loss'], trainCover),
      elapsedS: (performance.now() - t0) / 1000,
      tokensPerS: stepsDone > 0 ? (stepsDone * cfg.batchSize * cfg.seqLen) / trainS : null,
    };
    const sample = await sampleNow();
    if (sampleLength > 0) rec.sample = sample;
    rec.elapsedS = (performance.now() - t0) / 1000;
    evals.push(rec);
    const perTok = cfg.tokenizer === 'char' ? ' (' : ` nats/token (${rec.valLossPerChar.toFixed(4)} nats/char, `;
    log(`step ${String(rec.step).padStart(5)}: val loss ${rec.valLoss.toFixed(4)}${perTok}${rec.valBpc.toFixed(3)} bits/char), ` +
      `train loss ${rec.trainLoss.toFixed(4)}; ${rec.elapsedS.toFixed(1)} s` +
      (rec.tokensPerS !== null ? `, ${fmtInt(rec.tokensPerS)} tokens/s` : ''));
    if (rec.sample !== undefined) log(`  sample: ${JSON.stringify((opts.samplePrompt ?? '') + rec.sample).slice(0, 1000)}`);
    if (outputDir) fs.appendFileSync(paths.join(outputDir, 'lm_evals.jsonl'), JSON.stringify(rec) + '\n');
    opts.onEval?.(rec);
    return rec;
  };

  // The first evaluation (step 0, or the restored step) also waits for the Trainer's init or resume.
  const signal = opts.signal;
  signal?.throwIfAborted();
  await evaluate();
  startStep = trainer.step;
  const nParams = trainer.printNWeights();
  log(`lm: ${fmtInt(nParams)} parameters`);
  try {
    while (trainer.step < cfg.steps) {
      const n = Math.min(cfg.evalEvery - (trainer.step % cfg.evalEvery), cfg.steps - trainer.step);
      const ts = performance.now();
      try {
        for (let i = 0; i < n; i++) {
          signal?.throwIfAborted();
          const loss = await trainer.trainStep();
          opts.onStep?.(trainer.step, loss);
        }
      } finally {
        trainS += (performance.now() - ts) / 1000;
      }
      await evaluate();
      if (outputDir) trainer.saveState();
    }
  } catch (e) {
    // Stopped on request: keep the steps trained since the last evaluation.
    if (signal?.aborted && e === signal.reason && outputDir) trainer.saveState();
    throw e;
  }
  const last = evals.length ? evals[evals.length - 1] : await evaluate();
  const wallS = (performance.now() - t0) / 1000;
  const stepsDone = trainer.step - startStep;
  return {
    step: trainer.step, valLoss: last.valLoss, valLossPerChar: last.valLossPerChar, valBpc: last.valBpc, trainLoss: last.trainLoss, trainBpc: last.trainBpc,
    evals, wallS, trainS, tokensPerS: stepsDone > 0 ? (stepsDone * cfg.batchSize * cfg.seqLen) / trainS : 0,
    params: nParams, vocabSize: cfg.vocabSize, resumed, outputDir, config: cfg, sample: last.sample ?? '',
  };
}

interface SampleIdsOptions {
  temperature: number;
  topK?: number;
  topP?: number;
  seed: number;
  /**
   * Most tokens of context the model sees (its training seqLen): past it,
   * sampling restarts from the latest tokens so positions stay in the range
   * the model was trained on. Infinity keeps every token (Trax's behaviour).
   */
  window: number;
  maxLen: number;
}

/**
 * Samples `length` ids after a prompt from a predict-mode model, one at a
 * time. Each chunk is one autoregressiveSampleStream run whose cache starts
 * from the pad token plus the latest context; chunk i samples with seed
 * foldIn(key(seed), i), so a seed fixes the whole output.
 */
async function* sampleIds(model: Layer, prompt: Int32Array, length: number, o: SampleIdsOptions): AsyncGenerator<number, void, undefined> {
  const window = Math.min(o.window, o.maxLen - 1);
  // After a restart keep 3/4 of the window, so restarts are rare but each sample still sees a long context.
  const keep = Math.max(0, window - Math.max(1, Math.floor(window / 4)));
  let ctx = Array.from(prompt.subarray(Math.max(0, prompt.length - window)));
  const base = random.key(o.seed);
  let produced = 0;
  for (let chunk = 0; produced < length; chunk++) {
    // The prefill holds the pad plus ctx; every fed token takes one more position.
    const room = window - ctx.length + 1;
    const take = Math.min(room, length - produced);
    const inputs = ctx.length ? new Tensor(Int32Array.from(ctx), [1, ctx.length], 'int32') : null;
    const stream = autoregressiveSampleStream(model, inputs, {
      temperature: o.temperature, topK: o.topK, topP: o.topP, seed: random.foldIn(base, chunk), batchSize: 1,
    });
    let got = 0;
    for await (const s of stream) {
      ctx.push(s[0]);
      produced++;
      yield s[0];
      if (++got >= take) break;
    }
    ctx = ctx.slice(Math.max(0, ctx.length - keep));
  }
}

export interface GenerateOptions {
  /** A directory written by trainLM (lm.json + model.pkl.gz), or a model loaded by loadLM / loadLMFromBytes / loadLMFromUrl. */
  checkpoint: string | LoadedLM;
  prompt?: string;
  /** Tokens to generate (characters for a char model). Default 200. */
  length?: number;
  /** 0 is greedy. Default 1. */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /**
   * 'window' (default): the model sees at most its training seqLen tokens,
   * sliding over long outputs; 'full': every token stays in the cache, so
   * prompt + length must fit maxLen.
   */
  context?: 'window' | 'full';
  /** Weights file in the checkpoint directory. Default model.pkl.gz. */
  weights?: string;
  threads?: number;
}

export interface LoadedLM {
  config: LMConfig;
  tokenizer: LMTokenizer;
  /** Predict-mode model (batch 1) with the checkpoint's weights. */
  model: Layer;
  step: number | null;
}

/** Loads a trainLM directory for generation, checking that vocabulary, config and weights agree. */
function lmTokenizer(f: LMFile, where: string): LMTokenizer {
  const tokenizer = tokenizerFromFile(f, where);
  if (tokenizer.vocabSize !== f.config.vocabSize) {
    throw new Error(`Vocabulary mismatch in ${where}: it says vocabSize ${f.config.vocabSize}, but its ${f.config.tokenizer} vocabulary has ${tokenizer.vocabSize} entries`);
  }
  return tokenizer;
}

/**
 * loadLM without files: the contents of lm.json (text or UTF-8 bytes) and of
 * the weights (`.pkl.gz`, `.pkl` or safetensors bytes).
 */
export async function loadLMFromBytes(lmJson: string | Uint8Array, weights: Uint8Array | ArrayBuffer, names: { lmJson?: string; weights?: string } = {}): Promise<LoadedLM> {
  const where = names.lmJson ?? LM_FILE;
  const f = parseLMFile(typeof lmJson === 'string' ? lmJson : new TextDecoder().decode(lmJson), where);
  const tokenizer = lmTokenizer(f, where);
  const model = lmModel(f.config, 'predict');
  await initFromBytes(model, weights, { weightsOnly: true, inputSignature: new ShapeDtype([1, 1], 'int32'), name: names.weights ?? LM_WEIGHTS });
  return { config: f.config, tokenizer, model, step: null };
}

/** loadLM from URLs (fetched; in browsers relative to the page): lm.json and the weights. */
export async function loadLMFromUrl(lmJsonUrl: string | URL, weightsUrl: string | URL): Promise<LoadedLM> {
  const [j, w] = await Promise.all([fetchBytes(lmJsonUrl), fetchBytes(weightsUrl)]);
  return loadLMFromBytes(j, w, { lmJson: String(lmJsonUrl), weights: String(weightsUrl) });
}

export function loadLM(dir: string, weightsFile = LM_WEIGHTS): LoadedLM {
  const f = readLMFile(dir);
  const where = paths.join(dir, LM_FILE);
  const tokenizer = lmTokenizer(f, where);
  const cfg = f.config;
  const wpath = paths.join(dir, weightsFile);
  if (!fs.existsSync(wpath)) throw new Error(`${dir} has ${LM_FILE} but no weights (${weightsFile}); train first`);
  const ck = readTraxCheckpointSync(wpath);
  const emb = ck.flatWeights[0];
  if (!emb || emb.shape.length !== 2 || emb.shape[1] !== cfg.dModel) {
    throw new Error(`${wpath} does not hold a TransformerLM with d_model ${cfg.dModel} (first weight has shape [${emb?.shape ?? ''}])`);
  }
  if (emb.shape[0] !== cfg.vocabSize) {
    throw new Error(`Vocabulary mismatch: the model in ${wpath} has an embedding for ${emb.shape[0]} tokens, ` +
      `but the ${cfg.tokenizer} vocabulary in ${where} has ${cfg.vocabSize}; the weights and lm.json come from different runs`);
  }
  // The rest of lm.json must fit the weights too, before a model is built from it.
  const arrays = ck.flatWeights.length, values = ck.flatWeights.reduce((a, w) => a + w.data.length, 0);
  if (!Number.isInteger(cfg.nLayers) || cfg.nLayers < 0 || 6 + 16 * cfg.nLayers !== arrays) {
    throw new Error(`${where}: config.nLayers ${cfg.nLayers} does not fit ${wpath}, which holds ${arrays} weight arrays`);
  }
  for (const k of ['dFF', 'maxLen'] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] < 1 || cfg[k] * cfg.dModel > values) {
      throw new Error(`${where}: config.${k} ${cfg[k]} does not fit ${wpath}, which holds ${values} weight values`);
    }
  }
  const model = lmModel(cfg, 'predict');
  initFromFile(model, wpath, { weightsOnly: true, inputSignature: new ShapeDtype([1, 1], 'int32') });
  return { config: cfg, tokenizer, model, step: ck.step };
}

/**
 * Streams generated text from a trainLM checkpoint directory: one piece per
 * sampled token (a character for char models; for subword and BPE the newly
 * decoded suffix, held back while a multi-byte character is incomplete).
 */
export async function* generateText(opts: GenerateOptions): AsyncGenerator<string, void, undefined> {
  if (!opts || (typeof opts.checkpoint !== 'string' && !(opts.checkpoint && typeof opts.checkpoint === 'object' && 'model' in opts.checkpoint))) {
    throw new TypeError('generateText: checkpoint (a trainLM output directory, or a loaded LM) is required');
  }
  const length = opts.length ?? 200;
  if (!Number.isInteger(length) || length < 0) throw new RangeError(`generateText: length must be a non-negative integer, got ${length}`);
  const temperature = opts.temperature ?? 1;
  if (!(temperature >= 0)) throw new RangeError(`generateText: temperature must be >= 0, got ${temperature}`);
  if (opts.topK !== undefined && (!Number.isInteger(opts.topK) || opts.topK < 1)) throw new RangeError(`generateText: topK must be a positive integer, got ${opts.topK}`);
  if (opts.topP !== undefined && !(opts.topP > 0 && opts.topP <= 1)) throw new RangeError(`generateText: topP must be in (0, 1], got ${opts.topP}`);
  const context = opts.context ?? 'window';
  if (context !== 'window' && context !== 'full') throw new RangeError(`generateText: context must be 'window' or 'full', got ${JSON.stringify(context)}`);
  if (opts.threads !== undefined) setNumThreads(opts.threads);
  const { config: cfg, tokenizer: tok, model } = typeof opts.checkpoint === 'string' ? loadLM(opts.checkpoint, opts.weights) : opts.checkpoint;
  const prompt = opts.prompt ?? '';
  tok.checkEncodable(prompt, 'The prompt');
  const promptIds = tok.encode(prompt);
  // One position holds the start (pad) token.
  if (promptIds.length + 1 > cfg.maxLen) {
    throw new RangeError(`The prompt is ${promptIds.length} tokens; with the start token that exceeds the model's maxLen ${cfg.maxLen}`);
  }
  if (context === 'full' && promptIds.length + length > cfg.maxLen) {
    throw new RangeError(`Prompt (${promptIds.length} tokens) + length (${length}) = ${promptIds.length + length} exceeds the model's maxLen ${cfg.maxLen}; ` +
      `lower length or use context 'window'`);
  }
  const ids = sampleIds(model, promptIds, length, {
    temperature, topK: opts.topK, topP: opts.topP, seed: opts.seed ?? 0,
    window: context === 'full' ? Infinity : cfg.seqLen, maxLen: cfg.maxLen,
  });
  if (tok.kind === 'char') {
    for await (const id of ids) yield tok.decode([id]);
    return;
  }
  // Decode prompt + output together (subword joins words with implicit spaces) and emit only
  // the stable part: all but the newest token, minus an unfinished escape (subword's \10;
  // for a newline) or incomplete UTF-8 sequence (BPE), which later tokens may still change.
  const all = Array.from(promptIds);
  const base = tok.decode(promptIds);
  const tail = tok.kind === 'subword' ? /\\\d*$/ : tok.kind === 'bpe' ? /\uFFFD+$/ : /(?!)/;
  let emitted = '';
  const emit = (text: string): string => {
    if (!text.startsWith(emitted) || text.length === emitted.length) return '';
    const piece = text.slice(emitted.length);
    emitted = text;
    return piece;
  };
  for await (const id of ids) {
    all.push(id);
    const stable = tok.decode(all.slice(0, -1)).slice(base.length).replace(tail, '');
    const piece = emit(stable);
    if (piece) yield piece;
  }
  const final = tok.decode(all).slice(base.length);
  const piece = emit(final);
  if (piece) yield piece;
}
