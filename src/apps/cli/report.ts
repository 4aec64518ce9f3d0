// trax-ts report: one HTML page about a training directory (model summary and
// diagram, training curves, sample decodes, attention maps), written by
// trax.viz.writeReport from the directory's config, checkpoint and metrics.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Rng } from '../../data/rng.js';
import { loadLM } from '../lm/lm.js';
import { writeReport, type ReportOptions } from '../../viz/index.js';
import type { CommandSpec, ParsedArgs } from './args.js';
import { MODELS, QUICKSTART_CONFIG, checkOutputFile, readRunConfig, say, visibleToken, type RunConfig } from './common.js';
import { INT_TASKS } from './train.js';

export const spec: CommandSpec = {
  name: 'report',
  summary: 'Write an HTML report (model, training curves, sample decodes, attention maps) for a training directory.',
  usage: 'trax-ts report --output-dir DIR [--samples N] [--file report.html]',
  flags: {
    'output-dir': { type: 'string', metavar: 'DIR', help: 'the training directory (as given to trax-ts train)' },
    samples: { type: 'int', min: 0, max: 50, default: 4, help: 'fresh task examples to decode in the report (reverse/sort/copy runs)' },
    prompt: { type: 'string', help: 'language models: a prompt to continue in the report' },
    title: { type: 'string', help: 'report title (default: the directory name)' },
    file: { type: 'string', metavar: 'NAME', default: 'report.html', help: 'file name inside DIR' },
    help: { type: 'bool', short: 'h', help: 'show this help' },
  },
  positionals: [{ name: 'DIR', help: 'same as --output-dir' }],
  examples: ['trax-ts report --output-dir ~/train_dir', 'trax-ts report moby --prompt "Call me"'],
};

/** Fresh examples of a toy task (their own seed), split into prompt and expected answer. */
async function taskSamples(run: RunConfig, n: number): Promise<{ prompt: number[]; target: number[] }[]> {
  const task = INT_TASKS[run.task];
  if (!task || n === 0) return [];
  const len = run.length ?? 4;
  const rng = new Rng(run.seed + 7919);
  const out: { prompt: number[]; target: number[] }[] = [];
  for (let i = 0; i < n; i++) {
    const [x] = task.make(1, { length: len, vocab: run.config.vocabSize, seed: rng.int(0, 2 ** 30) }).next().value;
    const row = Array.from(await x.data());
    out.push({ prompt: row.slice(0, len + 2), target: row.slice(len + 2) });
  }
  return out;
}

export async function run(args: ParsedArgs): Promise<number> {
  const given = args.str('output-dir') ?? args.positionals[0];
  if (!given) args.fail('--output-dir is required (the directory trax-ts train wrote)');
  const dir = resolve(given);
  if (!existsSync(dir)) args.fail(`--output-dir: no such directory: ${dir}`);
  if (!existsSync(join(dir, 'metrics.jsonl')) && !existsSync(join(dir, 'model.pkl.gz'))) {
    args.fail(`--output-dir: ${dir} has no metrics.jsonl or model.pkl.gz; is it a training directory?`);
  }
  checkOutputFile(args, 'file', join(dir, args.str('file')!));
  const opts: ReportOptions = { fileName: args.str('file')!, ...(args.has('title') ? { title: args.str('title') } : {}) };
  if (existsSync(join(dir, 'lm.json'))) {
    const lm = loadLM(dir);
    const cfg = lm.config;
    const { TransformerLM } = await import('../../models/transformer_lm.js');
    opts.model = (mode) => TransformerLM({ vocabSize: cfg.vocabSize, dModel: cfg.dModel, dFF: cfg.dFF, nLayers: cfg.nLayers, nHeads: cfg.nHeads, maxLen: cfg.maxLen, dropout: cfg.dropout, mode });
    opts.tokenLabel = (id) => visibleToken(lm.tokenizer.decode([id]));
    opts.decodeText = (ids) => lm.tokenizer.decode(ids);
    if (args.has('prompt')) {
      lm.tokenizer.checkEncodable(args.str('prompt')!, 'The prompt');
      opts.samples = [Array.from(lm.tokenizer.encode(args.str('prompt')!))];
      opts.decodeLength = 64;
    }
  } else {
    const runCfg = readRunConfig(dir);
    if (args.has('prompt')) args.fail('--prompt applies to language-model directories; reverse/sort/copy reports decode fresh task examples (--samples)');
    const entry = MODELS[runCfg?.model ?? 'TransformerLM'];
    const config = runCfg?.config ?? QUICKSTART_CONFIG;
    opts.model = (mode) => entry.build(config, mode);
    if (runCfg) {
      opts.samples = await taskSamples(runCfg, args.num('samples')!);
      opts.decodeLength = runCfg.length;
    }
  }
  const path = await writeReport(dir, opts);
  say(`Wrote ${path}`);
  return 0;
}
