// Models that ship with the package, in <package root>/pretrained/: the
// quick-start's sort model, trained with trax-ts (scripts/train-sort-model.mjs)
// because the original lives in a cloud bucket that may be out of reach, and
// a small character-level language model of Moby-Dick
// (scripts/train-char-lm.mjs). Node reads them by path; browsers fetch them
// by URL. In a bundled app the app names the file itself, as a URL relative
// to its own module (the README's "In the browser" example), so that its
// bundler copies only the models it uses.
import { fs, packageFileUrl, packageRoot, path as paths } from '../platform/host.js';
import type { TransformerLMOptions } from '../models/transformer_lm.js';

export interface PretrainedModel {
  name: string;
  file: string;
  description: string;
  /** The model's constructor arguments (mode aside). */
  model: 'TransformerLM';
  config: TransformerLMOptions;
}

/** The folder the files live in (Node). */
export function dir(): string {
  return paths.join(packageRoot(), 'pretrained');
}

const MODELS: Record<string, PretrainedModel> = {
  'sort-transformer': {
    name: 'sort-transformer',
    file: 'sort-transformer.pkl.gz',
    description: 'Sorts four integers in 1..30: input [0, a1..a4, 0], greedy-decode 4 tokens (the quick-start\'s first model)',
    model: 'TransformerLM',
    config: { vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2, nHeads: 8, maxLen: 2048 },
  },
  'moby-dick-char': {
    name: 'moby-dick-char',
    file: 'moby-dick-char/model.pkl.gz',
    description: 'Character-level language model of Moby-Dick (a trainLM directory: lm.json + model.pkl.gz); ' +
      'use with trax.supervised.generateText',
    model: 'TransformerLM',
    config: { vocabSize: 83, dModel: 128, dFF: 512, nLayers: 2, nHeads: 4, maxLen: 256 },
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

/**
 * Absolute path of a shipped model's checkpoint (Trax pickle format, gzip), in
 * Node. For a language model (moby-dick-char), its trainLM directory.
 */
export function path(name: string): string {
  const m = lookup(name);
  const p = paths.join(dir(), m.file);
  if (!fs.existsSync(p)) {
    throw new Error(`trax.pretrained: ${name} is registered but ${p} is missing; ` +
      `reinstall the package or rebuild it with \`node scripts/${name === 'sort-transformer' ? 'train-sort-model' : 'train-char-lm'}.mjs\``);
  }
  return m.file.endsWith('/model.pkl.gz') ? paths.dirname(p) : p;
}

/**
 * URL of a shipped model's checkpoint inside the installed package, for
 * model.initFromFile(url) (Node, or pages that load the package's modules
 * unbundled). `part` 'lm.json' gives a language model's vocabulary and
 * configuration file instead of its weights. Bundled apps write the URL
 * themselves (see the header): this one points into the package folder.
 */
export function url(name: string, part?: 'lm.json'): URL {
  const m = lookup(name);
  if (part !== undefined && !(part === 'lm.json' && m.file.endsWith('/model.pkl.gz'))) {
    throw new Error(`trax.pretrained.url: ${name} has no ${JSON.stringify(part)} file`);
  }
  const file = part ? m.file.replace(/model\.pkl\.gz$/, part) : m.file;
  // The platform layer knows where the package is (Node: its folder; browsers: this module's URL).
  return packageFileUrl(`pretrained/${file}`);
}
