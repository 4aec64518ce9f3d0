// trax-ts sample / trax-ts predict: decode from a checkpoint (Trax pickle or
// safetensors) with a predict-mode model, as the quick-start does: prompts
// as integers, or as text through a tokenizer (streamed as it is produced).
import type { Layer } from '../../layers/base.js';
import { getTokenizer, type VocabType } from '../../data/tokenize.js';
import type { Tokenizer } from '../../data/tokenizers/types.js';
import { ShapeDtype } from '../../shapes.js';
import { autoregressiveSample, autoregressiveSampleStream, beamSearch } from '../../decoding/decoding.js';
import { generateText } from '../lm/lm.js';
import { initFromFile } from '../../io/model_io.js';
import { NpyError } from '../../io/npy.js';
import { PickleError } from '../../io/pickle.js';
import { SafetensorsError } from '../../io/safetensors.js';
import { CheckpointError } from '../../io/trax_checkpoint.js';
import { parseIntList, type CommandSpec, type FlagSpec, type ParsedArgs } from './args.js';
import { MODELS, MODEL_FLAG_NAMES, QUICKSTART_CONFIG, applyModelFlags, modelFlags, resolveCheckpoint, say, type LMConfig, type ResolvedCheckpoint } from './common.js';

function flags(defaultTemperature: number): Record<string, FlagSpec> {
  return {
    checkpoint: { type: 'string', metavar: 'PATH', help: 'training directory, .pkl.gz or .safetensors file, or a shipped model (sort-transformer)' },
    prompt: { type: 'string', multiple: true, help: 'integers (0,3,14,15,9,0) or, with --tokenizer, text' },
    tokenizer: { type: 'string', choices: ['char', 'subword', 'bpe', 'sentencepiece'], help: 'read prompts as text and print text' },
    'vocab-file': { type: 'string', metavar: 'FILE', help: 'vocabulary file for subword/bpe/sentencepiece' },
    temperature: { type: 'number', min: 0, default: defaultTemperature, help: '0 decodes greedily; higher is more random' },
    'max-length': { type: 'int', min: 1, help: 'tokens to generate (default: the task\'s answer length for reverse/sort/copy models, else 100)' },
    length: { type: 'int', min: 1, help: 'same as --max-length' },
    'top-k': { type: 'int', min: 1, help: 'sample only from the k most likely tokens' },
    'top-p': { type: 'number', min: 0, max: 1, minExclusive: true, help: 'nucleus sampling: the smallest set of tokens with this much probability' },
    'beam-size': { type: 'int', min: 1, default: 1, help: 'beam search with this many beams (1: sampling)' },
    'eos-id': { type: 'int', min: 0, help: 'stop a row when it emits this id (default: never stop early)' },
    seed: { type: 'int', min: 0, help: 'random seed for sampling (default: random)' },
    json: { type: 'bool', help: 'print one JSON object per prompt' },
    ...modelFlags(false),
    help: { type: 'bool', short: 'h', help: 'show this help' },
  };
}

function makeSpec(name: 'sample' | 'predict'): CommandSpec {
  const greedy = name === 'predict';
  return {
    name,
    summary: greedy
      ? 'Greedy decoding (temperature 0) from a checkpoint: the quick-start\'s autoregressive_sample.'
      : 'Sample from a checkpoint with a temperature, top-k/top-p, beam search and a seed.',
    usage: `trax-ts ${name} --checkpoint PATH --prompt 0,3,14,15,9,0 [flags]`,
    description: 'The model is built in predict mode and loaded with initFromFile(weightsOnly, ShapeDtype([1,1], int32)). ' +
      'Its configuration comes from DIR/config.json (written by trax-ts train), from the safetensors metadata, or from ' +
      'the model flags (default: the quick-start\'s TransformerLM, d_model 32, d_ff 128, 2 layers, vocab 32).',
    flags: flags(greedy ? 0 : 1),
    groups: [
      ['Input', ['checkpoint', 'prompt', 'tokenizer', 'vocab-file']],
      ['Decoding', ['temperature', 'max-length', 'length', 'top-k', 'top-p', 'beam-size', 'eos-id', 'seed', 'json']],
      ['Model (when the checkpoint does not say)', MODEL_FLAG_NAMES],
    ],
    examples: greedy
      ? ['trax-ts predict --checkpoint sort-transformer --prompt 0,3,14,15,9,0', 'trax-ts predict --checkpoint ~/train_dir --prompt 0,4,6,8,10,0']
      : ['trax-ts sample --checkpoint ~/train_dir --prompt 0,4,6,8,10,0 --temperature 0.5 --seed 1',
        'trax-ts sample --checkpoint ~/train_dir --prompt 0,4,6,8,10,0 --beam-size 3',
        'trax-ts sample --checkpoint moby --prompt "Call me" --length 500 --temperature 0.8 --top-k 40 --seed 1'],
  };
}

export const sampleSpec = makeSpec('sample');
export const predictSpec = makeSpec('predict');

/** Builds the predict-mode model a checkpoint belongs to and loads its weights. */
export function loadPredictModel(ck: ResolvedCheckpoint, args: ParsedArgs, batch = 1, mode: 'predict' | 'eval' = 'predict', length = 1): { model: Layer; config: LMConfig } {
  const modelName = args.has('model') ? args.str('model')! : ck.model;
  const entry = MODELS[modelName];
  if (!entry) args.fail(`${ck.source} holds a ${modelName}, which the command line cannot build (known: ${Object.keys(MODELS).join(', ')})`);
  const config = applyModelFlags(args, ck.config ?? QUICKSTART_CONFIG);
  const model = entry.build(config, mode);
  try {
    initFromFile(model, ck.file, { weightsOnly: true, inputSignature: new ShapeDtype([batch, length], 'int32') });
  } catch (e) {
    // The hint is for weights that do not fit the default model, not for unreadable files.
    const unreadable = [CheckpointError, PickleError, NpyError, SafetensorsError].some((c) => e instanceof c);
    const hint = ck.config || unreadable ? '' : ' (the checkpoint does not record its configuration: give the model flags, e.g. --d-model, --n-layers, --vocab-size)';
    throw new Error(`${(e as Error).message}${hint}`);
  }
  return { model, config };
}

function tokenizerFor(args: ParsedArgs, ck: ResolvedCheckpoint): Tokenizer | null {
  const type = args.str('tokenizer') ?? ck.run?.tokenizer;
  if (!type) return null;
  const vocabFile = args.str('vocab-file') ?? ck.run?.vocabFile;
  if (type !== 'char' && !vocabFile) args.fail(`--tokenizer ${type} needs --vocab-file`);
  return getTokenizer({ vocabType: type as VocabType, vocabFile });
}

export async function run(args: ParsedArgs): Promise<number> {
  const command = args.command;
  const ckArg = args.need('checkpoint', `(e.g. trax-ts ${command} --checkpoint sort-transformer --prompt 0,3,14,15,9,0)`);
  const ck = resolveCheckpoint(ckArg, command);
  if (command === 'predict' && !args.has('prompt')) {
    args.fail('--prompt is required: the tokens to continue (e.g. --prompt 0,3,14,15,9,0, or text for a language model)');
  }
  const maxLength = args.num('length') ?? args.num('max-length') ?? ck.answerLength ?? 100;
  const temperature = args.num('temperature')!;
  const beams = args.num('beam-size')!;
  if (ck.lmDir) return generate(args, ck.lmDir, args.num('length') ?? args.num('max-length') ?? (command === 'sample' ? 200 : 100));
  const tok = tokenizerFor(args, ck);
  const prompts = args.all('prompt');
  const { model, config } = loadPredictModel(ck, args);
  const encoded = prompts.length === 0 ? [null] : prompts.map((p) => (tok ? tok.encode(p) : parseIntList(p, 'prompt', command)));
  for (const ids of encoded) {
    const bad = ids?.find((t) => t < 0 || t >= config.vocabSize);
    if (bad !== undefined) args.fail(`--prompt token ${bad} is outside the model's vocabulary (0..${config.vocabSize - 1})`);
    if (ids && ids.length + maxLength > config.maxLen) args.fail(`the prompt (${ids.length} tokens) plus --max-length ${maxLength} exceeds the model's max length ${config.maxLen}`);
  }
  const opts = {
    temperature, maxLength, eosId: args.num('eos-id') ?? -1,
    ...(args.has('top-k') ? { topK: args.num('top-k') } : {}),
    ...(args.has('top-p') ? { topP: args.num('top-p') } : {}),
    ...(args.has('seed') ? { seed: args.num('seed') } : {}),
  };
  for (let i = 0; i < encoded.length; i++) {
    const ids = encoded[i];
    const input = ids ? [ids] : null;
    if (beams > 1) {
      const found = await beamSearch(model, input, { nBeams: beams, maxLength, ...(args.has('eos-id') ? { eosId: args.num('eos-id') } : {}) });
      const rows = await Promise.all(found.map(async ([t, score]) => ({ tokens: Array.from(await t.data()), score })));
      if (args.bool('json')) say(JSON.stringify({ prompt: prompts[i] ?? null, beams: rows.map((r) => ({ ...r, ...(tok ? { text: tok.decode(r.tokens) } : {}) })) }));
      else {
        if (prompts[i] !== undefined) say(`prompt: ${prompts[i]}`);
        rows.forEach((r, b) => say(`  beam ${b + 1}: ${tok ? JSON.stringify(tok.decode(r.tokens)) : `[${r.tokens.join(', ')}]`}  (log-prob ${r.score.toFixed(4)})`));
      }
      continue;
    }
    if (tok && !args.bool('json')) {
      // Text streams to the terminal as it is produced.
      process.stdout.write(prompts[i] ?? '');
      const out: number[] = [];
      let shown = '';
      let n = 0;
      for await (const s of autoregressiveSampleStream(model, input, opts)) {
        out.push(s[0]);
        const text = tok.decode(out);
        // Hold back a trailing replacement character: a multi-byte character may be half done.
        const stable = text.endsWith('\uFFFD') ? text.slice(0, -1) : text;
        if (stable.length > shown.length && stable.startsWith(shown)) { process.stdout.write(stable.slice(shown.length)); shown = stable; }
        if (++n >= maxLength || s[0] === opts.eosId) break;
      }
      const final = tok.decode(out);
      if (final.startsWith(shown)) process.stdout.write(final.slice(shown.length));
      process.stdout.write('\n');
      continue;
    }
    const t = await autoregressiveSample(model, input, opts);
    const tokens = Array.from(await t.data());
    if (args.bool('json')) say(JSON.stringify({ prompt: prompts[i] ?? null, tokens, ...(tok ? { text: tok.decode(tokens) } : {}) }));
    else say(prompts.length > 1 ? `${prompts[i]} -> [${tokens.join(', ')}]` : `[${tokens.join(', ')}]`);
  }
  return 0;
}

/** A language model trained with --task lm (a trainLM directory): text streamed as it is sampled. */
async function generate(args: ParsedArgs, dir: string, length: number): Promise<number> {
  if (args.num('beam-size')! > 1) args.fail('--beam-size is not available for language models; use --temperature, --top-k, --top-p');
  for (const f of ['tokenizer', 'vocab-file', 'eos-id', ...MODEL_FLAG_NAMES]) {
    if (args.has(f)) args.fail(`--${f} does not apply to a language model directory: its lm.json fixes the tokenizer and model`);
  }
  const prompts = args.all('prompt');
  for (const prompt of prompts.length ? prompts : ['']) {
    const pieces: string[] = [];
    const stream = generateText({
      checkpoint: dir, prompt, length, temperature: args.num('temperature'),
      ...(args.has('top-k') ? { topK: args.num('top-k') } : {}),
      ...(args.has('top-p') ? { topP: args.num('top-p') } : {}),
      ...(args.has('seed') ? { seed: args.num('seed') } : {}),
    });
    if (args.bool('json')) {
      for await (const piece of stream) pieces.push(piece);
      say(JSON.stringify({ prompt, text: pieces.join('') }));
      continue;
    }
    // The first piece comes before the prompt is echoed, so a bad prompt fails cleanly.
    const it = stream[Symbol.asyncIterator]();
    const first = await it.next();
    process.stdout.write(prompt + (first.done ? '' : first.value));
    for (let r = await it.next(); !r.done; r = await it.next()) process.stdout.write(r.value);
    process.stdout.write('\n');
  }
  return 0;
}
