// What the commands share: the model registry, the run configuration kept
// beside checkpoints (config.json), and finding a checkpoint and its model.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { basename, dirname, join } from 'node:path';
import type { Layer, Mode } from '../../layers/base.js';
import { TransformerLM, type TransformerLMShape } from '../../models/transformer_lm.js';
import * as pretrained from '../../pretrained/index.js';
import { LM_FILE } from '../lm/lm.js';
import { readModelConfig, fileWeightSummary } from '../../io/model_io.js';
import { readTraxCheckpointSync } from '../../io/trax_checkpoint.js';
import { UsageError, type FlagSpec, type ParsedArgs } from './args.js';

export interface ModelEntry {
  build(config: TransformerLMShape, mode: Mode): Layer;
  defaults: TransformerLMShape;
  description: string;
}

/** The quick-start's tiny model (Trax defaults for heads, max length and dropout). */
export const QUICKSTART_CONFIG: TransformerLMShape = { vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2, nHeads: 8, maxLen: 2048, dropout: 0.1 };

/** Models the command line can build, by Trax name. */
export const MODELS: Record<string, ModelEntry> = {
  TransformerLM: {
    build: (c, mode) => TransformerLM({ ...c, mode }),
    defaults: QUICKSTART_CONFIG,
    description: 'decoder-only Transformer language model (trax.models.TransformerLM)',
  },
};

export const MODEL_NAMES = Object.keys(MODELS);

/** Flags that set the model's hyperparameters (shared by train, show, sample). */
export function modelFlags(withDefaults: boolean): Record<string, FlagSpec> {
  const d = QUICKSTART_CONFIG;
  const dflt = <T>(v: T): T | undefined => (withDefaults ? v : undefined);
  return {
    model: { type: 'string', choices: MODEL_NAMES, default: dflt('TransformerLM'), help: 'model to build' },
    'vocab-size': { type: 'int', min: 2, default: dflt(d.vocabSize), help: 'vocabulary size (text tasks: the tokenizer\'s)' },
    'd-model': { type: 'int', min: 1, default: dflt(d.dModel), help: 'embedding and residual width' },
    'd-ff': { type: 'int', min: 1, default: dflt(d.dFF), help: 'feed-forward hidden width' },
    'n-layers': { type: 'int', min: 0, default: dflt(d.nLayers), help: 'number of decoder blocks' },
    'n-heads': { type: 'int', min: 1, default: dflt(d.nHeads), help: 'attention heads (must divide --d-model)' },
    'max-len': { type: 'int', min: 1, default: dflt(d.maxLen), help: 'longest sequence (size of the positional table)' },
    dropout: { type: 'number', min: 0, max: 0.99, default: dflt(d.dropout), help: 'dropout rate while training' },
  };
}

export const MODEL_FLAG_NAMES = ['model', 'vocab-size', 'd-model', 'd-ff', 'n-layers', 'n-heads', 'max-len', 'dropout'];

const FLAG_TO_KEY: Record<string, keyof TransformerLMShape> = {
  'vocab-size': 'vocabSize', 'd-model': 'dModel', 'd-ff': 'dFF', 'n-layers': 'nLayers',
  'n-heads': 'nHeads', 'max-len': 'maxLen', dropout: 'dropout',
};

/** base, with every model flag given on the command line applied over it. */
export function applyModelFlags(args: ParsedArgs, base: TransformerLMShape, onlyGiven = true): TransformerLMShape {
  const c = { ...base };
  for (const [flag, key] of Object.entries(FLAG_TO_KEY)) {
    if (!onlyGiven || args.has(flag)) {
      const v = args.num(flag);
      if (v !== undefined) c[key] = v;
    }
  }
  if (c.dModel % c.nHeads !== 0) args.fail(`--d-model ${c.dModel} must be divisible by --n-heads ${c.nHeads}`);
  return c;
}

/** What `trax-ts train` writes to <output-dir>/config.json. */
export interface RunConfig {
  format: 'trax-ts-run';
  version: 1;
  model: string;
  config: TransformerLMShape;
  task: string;
  /** Integers per example for the toy tasks. */
  length?: number;
  batchSize: number;
  seed: number;
  optimizer: string;
  lr: number;
  schedule: string;
  warmupSteps: number;
  /** Text tasks: how prompts become ids. */
  tokenizer?: string;
  vocabFile?: string;
}

/**
 * DIR/config.json, checked. When it is missing, empty or not JSON (a crash
 * while it was written by an older version) but DIR/model.pkl.gz carries the
 * run configuration, that one is used, with a warning.
 */
export function readRunConfig(dir: string): RunConfig | undefined {
  const p = join(dir, 'config.json');
  let c: RunConfig | undefined;
  let problem: string | null = null;
  if (!existsSync(p)) problem = 'missing';
  else {
    try {
      c = JSON.parse(readFileSync(p, 'utf8')) as RunConfig;
    } catch (e) {
      problem = `not valid JSON: ${(e as Error).message}`;
    }
  }
  if (problem !== null) {
    const stored = runConfigFromCheckpoint(join(dir, 'model.pkl.gz'));
    if (stored === undefined) {
      if (problem === 'missing') return undefined;
      throw new Error(`${p} is ${problem}`);
    }
    process.stderr.write(`warning: ${p} is ${problem}; using the run configuration stored in model.pkl.gz\n`);
    c = stored as RunConfig;
  }
  if (!c || typeof c !== 'object' || typeof c.config !== 'object') throw new Error(`${p} is not a trax-ts run configuration`);
  if (!modelEntry(c.model)) throw new Error(`${p}: field model ${JSON.stringify(c.model)} is not a model this command line can build (known: ${MODEL_NAMES.join(', ')})`);
  c.config = checkLMConfig(c.config, p, 'config');
  return c;
}

/** The run configuration a trax-ts train checkpoint carries (trax_ts.run_config), if any. */
function runConfigFromCheckpoint(ckpt: string): unknown {
  if (!existsSync(ckpt)) return undefined;
  try {
    return (readTraxCheckpointSync(ckpt).raw['trax_ts'] as { run_config?: unknown } | undefined)?.run_config;
  } catch {
    return undefined;
  }
}

/** A checkpoint to load, the model it belongs to, and where that came from. */
export interface ResolvedCheckpoint {
  file: string;
  model: string;
  config: TransformerLMShape | undefined;
  run?: RunConfig;
  source: string;
  /** Tokens an answer has (the toy tasks' n), the natural default for decoding. */
  answerLength?: number;
  /** A directory written by trainLM (lm.json + model.pkl.gz): text in, text out. */
  lmDir?: string;
}

function isDir(p: string): boolean {
  try { return statSync(p).isDirectory(); } catch { return false; }
}

/** Bounds on stored configuration values: far above any model this CLI trains, far below what would exhaust memory. */
const CONFIG_BOUNDS: Record<keyof TransformerLMShape, [number, number, boolean]> = {
  vocabSize: [1, 2 ** 24, true], dModel: [1, 2 ** 16, true], dFF: [1, 2 ** 18, true], nLayers: [0, 1024, true],
  nHeads: [1, 4096, true], maxLen: [1, 2 ** 20, true], dropout: [0, 0.99, false],
};

/** A registered model's entry, looked up as an own property (so 'constructor' or '__proto__' name nothing). */
export function modelEntry(name: unknown): ModelEntry | undefined {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(MODELS, name) ? MODELS[name] : undefined;
}

/**
 * A stored model configuration, checked before anything is built from it:
 * known keys only, each a number within bounds, with an error naming the
 * file and the field.
 */
export function checkLMConfig(x: unknown, file: string, field = 'config'): TransformerLMShape {
  if (!x || typeof x !== 'object' || Array.isArray(x)) throw new Error(`${file}: ${field} is not an object`);
  const o = x as Record<string, unknown>;
  const out: Record<string, number> = { ...QUICKSTART_CONFIG };
  for (const [k, v] of Object.entries(o)) {
    if (k === 'model') continue;
    if (!Object.prototype.hasOwnProperty.call(CONFIG_BOUNDS, k)) throw new Error(`${file}: ${field}.${k} is not a model setting (known: model, ${Object.keys(CONFIG_BOUNDS).join(', ')})`);
    const [lo, hi, int] = CONFIG_BOUNDS[k as keyof TransformerLMShape];
    if (typeof v !== 'number' || !(v >= lo && v <= hi) || (int && !Number.isInteger(v))) {
      throw new Error(`${file}: ${field}.${k} is ${JSON.stringify(v)}, expected ${int ? 'an integer' : 'a number'} in [${lo}, ${hi}]`);
    }
    out[k] = v;
  }
  const c = out as unknown as TransformerLMShape;
  if (c.dModel % c.nHeads !== 0) throw new Error(`${file}: ${field}.dModel ${c.dModel} is not divisible by ${field}.nHeads ${c.nHeads}`);
  return c;
}

/** TransformerLM's weight arrays and values for a configuration (checked against a file before building). */
export function lmWeightCounts(c: TransformerLMShape): { arrays: number; values: number; embedding: number } {
  const d = c.dModel, f = c.dFF;
  const block = 2 * d + 4 * (d * d + d) + 2 * d + d * f + f + f * d + d;
  return {
    arrays: 6 + 16 * c.nLayers,
    values: c.vocabSize * d + c.maxLen * d + c.nLayers * block + 2 * d + d * c.vocabSize + c.vocabSize,
    embedding: c.vocabSize * d,
  };
}

/**
 * Checks a configuration against the weights actually in a checkpoint file:
 * the number of arrays, the embedding's size, and no more values than the
 * file holds. Throws naming the file and the field that disagrees.
 */
export function checkConfigAgainstFile(c: TransformerLMShape, file: string, source: string): void {
  const w = fileWeightSummary(file);
  const want = lmWeightCounts(c);
  if (w.arrays !== want.arrays) {
    throw new Error(`${source}: config (nLayers ${c.nLayers}) needs ${want.arrays} weight arrays, but ${file} holds ${w.arrays}`);
  }
  if (w.first !== want.embedding) {
    throw new Error(`${source}: config (vocabSize ${c.vocabSize}, dModel ${c.dModel}) needs an embedding of ${want.embedding} values, but ${file} starts with ${w.first}`);
  }
  if (want.values > w.values) {
    throw new Error(`${source}: config needs ${want.values} weight values, but ${file} holds only ${w.values}`);
  }
}

function asLMConfig(x: unknown, file: string): TransformerLMShape | undefined {
  if (!x || typeof x !== 'object') return undefined;
  if (typeof (x as Record<string, unknown>)['vocabSize'] !== 'number') return undefined;
  return checkLMConfig(x, file);
}

/**
 * Finds what --checkpoint names: a shipped model ('sort-transformer'), a
 * training directory (its model.pkl.gz, or model.safetensors), or a file
 * (.pkl.gz or .safetensors); and the configuration to build its model with.
 */
export function resolveCheckpoint(arg: string, command: string): ResolvedCheckpoint {
  const name = arg.startsWith('pretrained:') ? arg.slice('pretrained:'.length) : arg;
  if (!existsSync(arg) && (pretrained.list().includes(name) || arg.startsWith('pretrained:'))) {
    let info: pretrained.PretrainedModel;
    try { info = pretrained.info(name); } catch (e) { throw new UsageError((e as Error).message, command); }
    return { file: pretrained.path(name), model: info.model, config: { ...QUICKSTART_CONFIG, ...info.config }, source: `pretrained model ${name}`, answerLength: 4 };
  }
  if (!existsSync(arg)) {
    throw new UsageError(`--checkpoint: no such file or directory: ${arg} (give a training directory, a .pkl.gz or .safetensors file, or one of: ${pretrained.list().join(', ')})`, command);
  }
  if (isDir(arg)) {
    if (existsSync(join(arg, LM_FILE))) {
      const file = join(arg, 'model.pkl.gz');
      if (!existsSync(file)) throw new UsageError(`--checkpoint: ${arg} has ${LM_FILE} but no model.pkl.gz yet (train it first)`, command);
      return { file, model: 'TransformerLM', config: readLMShape(arg), source: `language model in ${arg}`, lmDir: arg };
    }
    const run = readRunConfig(arg);
    const candidates = ['model.pkl.gz', 'model.safetensors'].map((f) => join(arg, f));
    const file = candidates.find((f) => existsSync(f));
    if (!file) throw new UsageError(`--checkpoint: ${arg} holds no model.pkl.gz or model.safetensors`, command);
    if (run) checkConfigAgainstFile(run.config, file, join(arg, 'config.json'));
    return { file, model: run?.model ?? 'TransformerLM', config: run?.config, run, source: `${basename(file)} in ${arg}`, answerLength: run?.length };
  }
  if (arg.endsWith('.safetensors')) {
    const stored = readModelConfig(arg) as { model?: unknown } | undefined;
    if (stored !== undefined && stored.model !== undefined && !modelEntry(stored.model)) {
      throw new Error(`${arg}: metadata config.model ${JSON.stringify(stored.model)} is not a model this command line can build (known: ${MODEL_NAMES.join(', ')})`);
    }
    const run = readRunConfig(dirname(arg));
    const config = asLMConfig(stored, arg) ?? run?.config ?? lmShapeBeside(arg);
    const source = stored !== undefined && asLMConfig(stored, arg) ? `${arg} (metadata config)` : run ? join(dirname(arg), 'config.json') : join(dirname(arg), LM_FILE);
    if (config) checkConfigAgainstFile(config, arg, source);
    return { file: arg, model: (stored?.model as string | undefined) ?? run?.model ?? 'TransformerLM', config, run, source: arg, answerLength: run?.length };
  }
  if (!/\.pkl(\.gz)?$/.test(arg)) {
    throw new UsageError(`--checkpoint: ${arg} is neither a Trax pickle (.pkl.gz) nor safetensors (.safetensors)`, command);
  }
  const run = readRunConfig(dirname(arg));
  const config = run?.config ?? lmShapeBeside(arg);
  if (config) checkConfigAgainstFile(config, arg, join(dirname(arg), run ? 'config.json' : LM_FILE));
  return { file: arg, model: run?.model ?? 'TransformerLM', config, run, source: arg, answerLength: run?.length };
}

/**
 * The model shape a language-model folder's lm.json records (written by
 * trainLM). Checked against the weights by loadLM, which names the field.
 */
export function readLMShape(dir: string): TransformerLMShape {
  const p = join(dir, LM_FILE);
  let c: Partial<TransformerLMShape> | undefined;
  try {
    c = (JSON.parse(readFileSync(p, 'utf8')) as { config?: Partial<TransformerLMShape> }).config;
  } catch (e) {
    throw new Error(`${p} is not valid JSON: ${(e as Error).message}`);
  }
  if (!c || typeof c !== 'object' || typeof c.vocabSize !== 'number') throw new Error(`${p} has no model configuration ("config" with vocabSize, dModel, ...)`);
  const { vocabSize, dModel, dFF, nLayers, nHeads, maxLen, dropout } = { ...QUICKSTART_CONFIG, ...c };
  return { vocabSize, dModel, dFF, nLayers, nHeads, maxLen, dropout };
}

/** The model shape of a language-model folder a checkpoint file sits in, if it does. */
function lmShapeBeside(file: string): TransformerLMShape | undefined {
  return existsSync(join(dirname(file), LM_FILE)) ? readLMShape(dirname(file)) : undefined;
}

/** What a run folder holds, from its config.json or lm.json: a toy-task model, a language model, or neither. */
export function runKind(dir: string): { kind: 'lm' } | { kind: 'task'; run: RunConfig | undefined } | { kind: 'none' } {
  if (existsSync(join(dir, LM_FILE))) return { kind: 'lm' };
  const run = readRunConfig(dir);
  if (run) return run.task === 'lm' ? { kind: 'lm' } : { kind: 'task', run };
  return existsSync(join(dir, 'model.pkl.gz')) ? { kind: 'task', run: undefined } : { kind: 'none' };
}

/** Prints to stdout without the trailing-newline bookkeeping of console.log. */
export function say(line = ''): void {
  process.stdout.write(line + '\n');
}

/** 93088 -> "93,088". */
export function commas(n: number): string {
  return n.toLocaleString('en-US');
}

/** Fails with a one-line usage error unless `file` can be created: its folder exists and it is not a folder itself. */
export function checkOutputFile(args: ParsedArgs, flag: string, file: string): void {
  const dir = dirname(resolve(file));
  if (!existsSync(dir)) args.fail(`--${flag} ${file}: folder ${dir} does not exist`);
  if (!isDir(dir)) args.fail(`--${flag} ${file}: ${dir} is a file, not a folder`);
  if (isDir(file)) args.fail(`--${flag} ${file} is a folder; give a file name`);
}

/** Fails with a one-line usage error when `dir` exists but is not a folder (or sits below a file). */
export function checkOutputDir(args: ParsedArgs, flag: string, dir: string): void {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(d)) {
      if (!isDir(d)) args.fail(d === resolve(dir) ? `--${flag} ${dir} is a file, not a folder` : `--${flag} ${dir}: ${d} is a file, not a folder`);
      return;
    }
    if (dirname(d) === d) return;
  }
}

/** A token as an axis label: whitespace made visible (space ␣, newline ↵, tab →). */
export function visibleToken(text: string): string {
  return text.replace(/ /g, '␣').replace(/\n/g, '↵').replace(/\t/g, '→').replace(/\r/g, '␍');
}
