// Models that ship with the package, in <package root>/pretrained/: the
// quick-start's sort model, trained with trax-ts (scripts/train-sort-model.mjs)
// because the original lives in a cloud bucket that may be out of reach.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package_root.js';
import type { TransformerLMOptions } from '../models/transformer_lm.js';

export interface PretrainedModel {
  name: string;
  file: string;
  description: string;
  /** The model's constructor arguments (mode aside). */
  model: 'TransformerLM';
  config: TransformerLMOptions;
}

/** The folder the files live in. */
export const DIR = join(PACKAGE_ROOT, 'pretrained');

const MODELS: Record<string, PretrainedModel> = {
  'sort-transformer': {
    name: 'sort-transformer',
    file: 'sort-transformer.pkl.gz',
    description: 'Sorts four integers in 1..30: input [0, a1..a4, 0], greedy-decode 4 tokens (the quick-start\'s first model)',
    model: 'TransformerLM',
    config: { vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2, nHeads: 8, maxLen: 2048 },
  },
};

/** Names of the shipped models. */
export function list(): string[] {
  return Object.keys(MODELS);
}

function lookup(name: string): PretrainedModel {
  const m = Object.prototype.hasOwnProperty.call(MODELS, name) ? MODELS[name] : undefined;
  if (!m) {
    throw new Error(`trax.pretrained: no model named ${JSON.stringify(name)}; available: ${list().join(', ')}`);
  }
  return m;
}

/** Description and configuration of a shipped model. */
export function info(name: string): PretrainedModel {
  const m = lookup(name);
  return { ...m, config: { ...m.config } };
}

/** Absolute path of a shipped model's checkpoint (Trax pickle format, gzip). */
export function path(name: string): string {
  const p = join(DIR, lookup(name).file);
  if (!existsSync(p)) {
    throw new Error(`trax.pretrained: ${name} is registered but ${p} is missing; ` +
      'reinstall the package or rebuild it with `node scripts/train-sort-model.mjs`');
  }
  return p;
}
