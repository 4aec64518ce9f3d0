// What the commands share: the model registry, the run configuration kept
// beside checkpoints (config.json), and finding a checkpoint and its model.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { basename, dirname, join } from 'node:path';
import type { Layer, Mode } from '../../layers/base.js';
import { TransformerLM, type TransformerLMShape } from '../../models/transformer_lm.js';
import * as pretrained from '../../pretrained/index.js';
import { LM_FILE } from '../lm/lm.js';
import { readModelConfig } from '../../io/model_io.js';
import { UsageError, type FlagSpec, type ParsedArgs } from './args.js';

/** A TransformerLM's constructor arguments, as stored in config.json and safetensors. */
export type LMConfig = TransformerLMShape;

export interface ModelEntry {
  build(config: LMConfig, mode: Mode): Layer;
  defaults: LMConfig;
  description: string;
}

/** The quick-start's tiny model (Trax defaults for heads, max length and dropout). */
export const QUICKSTART_CONFIG: LMConfig = { vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2, nHeads: 8, maxLen: 2048, dropout: 0.1 };

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

const FLAG_TO_KEY: Record<string, keyof LMConfig> = {
  'vocab-size': 'vocabSize', 'd-model': 'dModel', 'd-ff': 'dFF', 'n-layers': 'nLayers',
  'n-heads': 'nHeads', 'max-len': 'maxLen', dropout: 'dropout',
};

/** base, with every model flag given on the command line applied over it. */
export function applyModelFlags(args: ParsedArgs, base: LMConfig, onlyGiven = true): LMConfig {
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
  config: LMConfig;
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

export function readRunConfig(dir: string): RunConfig | undefined {
  const p = join(dir, 'config.json');
  if (!existsSync(p)) return undefined;
  let c: RunConfig;
  try {
    c = JSON.parse(readFileSync(p, 'utf8')) as RunConfig;
  } catch (e) {
    throw new Error(`${p} is not valid JSON: ${(e as Error).message}`);
  }
  if (!c || typeof c !== 'object' || typeof c.config !== 'object') throw new Error(`${p} is not a trax-ts run configuration`);
  return c;
}

/** A checkpoint to load, the model it belongs to, and where that came from. */
export interface ResolvedCheckpoint {
  file: string;
  model: string;
  config: LMConfig | undefined;
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

function asLMConfig(x: unknown): LMConfig | undefined {
  if (!x || typeof x !== 'object') return undefined;
  const o = x as Record<string, unknown>;
  if (typeof o['vocabSize'] !== 'number') return undefined;
  return { ...QUICKSTART_CONFIG, ...(o as Partial<LMConfig>) };
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
    return { file, model: run?.model ?? 'TransformerLM', config: run?.config, run, source: `${basename(file)} in ${arg}`, answerLength: run?.length };
  }
  if (arg.endsWith('.safetensors')) {
    const stored = readModelConfig(arg) as { model?: string } | undefined;
    const run = readRunConfig(dirname(arg));
    return { file: arg, model: stored?.model ?? run?.model ?? 'TransformerLM', config: asLMConfig(stored) ?? run?.config ?? lmShapeBeside(arg), run, source: arg, answerLength: run?.length };
  }
  if (!/\.pkl(\.gz)?$/.test(arg)) {
    throw new UsageError(`--checkpoint: ${arg} is neither a Trax pickle (.pkl.gz) nor safetensors (.safetensors)`, command);
  }
  const run = readRunConfig(dirname(arg));
  return { file: arg, model: run?.model ?? 'TransformerLM', config: run?.config ?? lmShapeBeside(arg), run, source: arg, answerLength: run?.length };
}

/** The model shape a language-model folder's lm.json records (written by trainLM). */
export function readLMShape(dir: string): LMConfig {
  const p = join(dir, LM_FILE);
  let c: Partial<LMConfig> | undefined;
  try {
    c = (JSON.parse(readFileSync(p, 'utf8')) as { config?: Partial<LMConfig> }).config;
  } catch (e) {
    throw new Error(`${p} is not valid JSON: ${(e as Error).message}`);
  }
  const shape = asLMConfig(c);
  if (!shape) throw new Error(`${p} has no model configuration ("config" with vocabSize, dModel, ...)`);
  const { vocabSize, dModel, dFF, nLayers, nHeads, maxLen, dropout } = shape;
  return { vocabSize, dModel, dFF, nLayers, nHeads, maxLen, dropout };
}

/** The model shape of a language-model folder a checkpoint file sits in, if it does. */
function lmShapeBeside(file: string): LMConfig | undefined {
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
