// trax-ts attention: run a checkpoint's model on one input and draw every
// attention head's weights (trax.viz.captureAttention + attentionMapsSvg).
import { writeFileSync } from 'node:fs';
import { getTokenizer, type VocabType } from '../../data/tokenize.js';
import { attentionMapsSvg, captureAttention } from '../../viz/index.js';
import type { Mode } from '../../layers/base.js';
import { TransformerLM } from '../../models/transformer_lm.js';
import { LM_FILE, loadLM } from '../lm/lm.js';
import { parseIntList, type CommandSpec, type ParsedArgs } from './args.js';
import { MODELS, MODEL_FLAG_NAMES, QUICKSTART_CONFIG, applyModelFlags, checkOutputFile, visibleToken, modelFlags, resolveCheckpoint, say } from './common.js';

export const spec: CommandSpec = {
  name: 'attention',
  summary: 'Draw the attention weights of every layer and head for one input, as SVG.',
  usage: 'trax-ts attention --checkpoint PATH --input 0,3,14,15,9,0,3,9,14,15 [--svg FILE]',
  description: 'The model runs in eval mode on the whole input (for a trained toy task, give the prompt and the answer ' +
    'to see which positions each answer token reads from). For a language-model folder (train --task lm), --input is text.',
  flags: {
    checkpoint: { type: 'string', metavar: 'PATH', help: 'training directory, .pkl.gz or .safetensors file, or a shipped model (sort-transformer)' },
    input: { type: 'string', help: 'token ids (0,3,14,15,9,0) or, with --tokenizer, text' },
    tokenizer: { type: 'string', choices: ['char', 'subword', 'bpe', 'sentencepiece'], help: 'read --input as text' },
    'vocab-file': { type: 'string', metavar: 'FILE', help: 'vocabulary file for subword/bpe/sentencepiece' },
    svg: { type: 'string', metavar: 'FILE', default: 'attention.svg', help: 'where to write the drawing' },
    ...modelFlags(false),
    help: { type: 'bool', short: 'h', help: 'show this help' },
  },
  groups: [['Model (when the checkpoint does not say)', MODEL_FLAG_NAMES]],
  examples: ['trax-ts attention --checkpoint sort-transformer --input 0,3,14,15,9,0,3,9,14,15 --svg sort-attention.svg',
    'trax-ts attention --checkpoint moby --input "Call me Ishmael. Some years ago" --svg moby-attention.svg'],
};

export async function run(args: ParsedArgs): Promise<number> {
  checkOutputFile(args, 'svg', args.str('svg')!);
  const ck = resolveCheckpoint(args.need('checkpoint'), 'attention');
  if (ck.lmDir) return lmAttention(args, ck.lmDir, ck.file);
  const text = args.need('input', '(token ids like 0,3,14,15,9,0, or text with --tokenizer)');
  const type = args.str('tokenizer') ?? ck.run?.tokenizer;
  const tok = type ? getTokenizer({ vocabType: type as VocabType, vocabFile: args.str('vocab-file') ?? ck.run?.vocabFile }) : null;
  const ids = tok ? tok.encode(text) : parseIntList(text, 'input', 'attention');
  const modelName = args.has('model') ? args.str('model')! : ck.model;
  const entry = MODELS[modelName];
  const config = applyModelFlags(args, ck.config ?? QUICKSTART_CONFIG);
  const bad = ids.find((t) => t < 0 || t >= config.vocabSize);
  if (bad !== undefined) args.fail(`--input token ${bad} is outside the model's vocabulary (0..${config.vocabSize - 1})`);
  // The model is built in 'viz' mode, which records the attention probabilities.
  const maps = await captureAttention((mode) => entry.build(config, mode), [ids], { checkpoint: ck.file });
  const out = args.str('svg')!;
  writeFileSync(out, attentionMapsSvg(maps, {
    title: `${modelName} attention, ${ck.source}`,
    ...(tok ? { tokenLabel: (id: number) => tok.decode([id]) } : {}),
  }));
  say(`Wrote ${out}: ${maps.length} attention layers x ${config.nHeads} heads over ${ids.length} tokens`);
  return 0;
}

/** A language-model folder: --input is text, read with the folder's own tokenizer. */
async function lmAttention(args: ParsedArgs, dir: string, file: string): Promise<number> {
  for (const f of ['tokenizer', 'vocab-file', ...MODEL_FLAG_NAMES]) {
    if (args.has(f)) args.fail(`--${f} does not apply to a language-model folder (${dir} records its tokenizer and model in ${LM_FILE})`);
  }
  const text = args.need('input', '(text for a language model, e.g. --input "Call me Ishmael")');
  const lm = loadLM(dir);
  const cfg = lm.config;
  lm.tokenizer.checkEncodable(text, '--input');
  const ids = Array.from(lm.tokenizer.encode(text));
  if (ids.length === 0) args.fail('--input is empty');
  if (ids.length > cfg.maxLen) args.fail(`--input is ${ids.length} tokens, longer than the model's max length ${cfg.maxLen}`);
  const build = (mode: Mode) => TransformerLM({
    vocabSize: cfg.vocabSize, dModel: cfg.dModel, dFF: cfg.dFF, nLayers: cfg.nLayers, nHeads: cfg.nHeads, maxLen: cfg.maxLen, dropout: cfg.dropout, mode,
  });
  const maps = await captureAttention(build, [ids], { checkpoint: file });
  const out = args.str('svg')!;
  writeFileSync(out, attentionMapsSvg(maps, {
    title: `TransformerLM attention, language model in ${dir}`,
    tokenLabel: (id: number) => visibleToken(lm.tokenizer.decode([id])),
    maxWidth: 1600,
  }));
  say(`Wrote ${out}: ${maps.length} attention layers x ${cfg.nHeads} heads over ${ids.length} tokens`);
  return 0;
}
