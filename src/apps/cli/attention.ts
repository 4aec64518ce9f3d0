// trax-ts attention: run a checkpoint's model on one input and draw every
// attention head's weights (trax.viz.captureAttention + attentionMapsSvg).
import { writeFileSync } from 'node:fs';
import { getTokenizer, type VocabType } from '../../data/tokenize.js';
import { attentionMapsSvg, captureAttention } from '../../viz/index.js';
import { parseIntList, type CommandSpec, type ParsedArgs } from './args.js';
import { MODELS, MODEL_FLAG_NAMES, QUICKSTART_CONFIG, applyModelFlags, modelFlags, resolveCheckpoint, say } from './common.js';

export const spec: CommandSpec = {
  name: 'attention',
  summary: 'Draw the attention weights of every layer and head for one input, as SVG.',
  usage: 'trax-ts attention --checkpoint PATH --input 0,3,14,15,9,0,3,9,14,15 [--svg FILE]',
  description: 'The model runs in eval mode on the whole input (for a trained toy task, give the prompt and the answer ' +
    'to see which positions each answer token reads from).',
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
  examples: ['trax-ts attention --checkpoint sort-transformer --input 0,3,14,15,9,0,3,9,14,15 --svg sort-attention.svg'],
};

export async function run(args: ParsedArgs): Promise<number> {
  const ck = resolveCheckpoint(args.need('checkpoint'), 'attention');
  if (ck.lmDir) args.fail('attention maps of trainLM directories are not supported yet; give a reverse/sort/copy checkpoint');
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
