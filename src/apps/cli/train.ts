// trax-ts train: a registered model (TransformerLM) on a built-in toy task
// or a text corpus, with Trax's Trainer: its log lines at each evaluation,
// its checkpoint (resumed when the output directory already has one), plus
// a progress bar and a loss sparkline.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { backendName } from '../../backends/index.js';
import { Inputs } from '../../data/inputs.js';
import { copyIntsTask, reverseIntsTask, sortIntsTask, type IntsTaskOptions, type IntsBatch } from '../../data/tasks.js';
import { CrossEntropyLoss } from '../../layers/metrics.js';
import * as lr from '../../training/lr_schedules.js';
import * as optimizers from '../../optimizers/index.js';
import type { Optimizer } from '../../optimizers/base.js';
import { ShapeDtype } from '../../shapes.js';
import { Trainer, stepLine } from '../../training/trainer.js';
import { MetricsWriter } from '../../training/metrics_writer.js';
import { readTraxCheckpointSync } from '../../io/trax_checkpoint.js';
import { LM_FILE, loadLM, trainLM, type LMConfig as LMRunConfig, type LMTrainOptions } from '../lm/lm.js';
import { sparkline } from '../../viz/index.js';
import type { CommandSpec, ParsedArgs } from './args.js';
import {
  MODELS, MODEL_FLAG_NAMES, QUICKSTART_CONFIG, applyModelFlags, checkOutputDir, commas, runKind, modelFlags, readRunConfig, say,
  type LMConfig, type RunConfig,
} from './common.js';
import { INTERRUPTED_EXIT, onInterrupt } from './interrupt.js';
import { Progress, formatDuration } from './progress.js';

export const INT_TASKS: Record<string, { make: (b: number, o: IntsTaskOptions) => Generator<IntsBatch, never, undefined>; what: string }> = {
  reverse: { make: reverseIntsTask, what: '[0, a1..an, 0, an..a1]: reverse n integers' },
  sort: { make: sortIntsTask, what: '[0, a1..an, 0, sorted]: sort n integers' },
  copy: { make: copyIntsTask, what: '[0, a1..an, 0, a1..an]: copy n integers' },
};

// Dropout may change on resume; these fix the weights' shapes.
const CONFIG_FLAGS: Record<string, keyof LMConfig> = {
  '--vocab-size': 'vocabSize', '--d-model': 'dModel', '--d-ff': 'dFF', '--n-layers': 'nLayers', '--n-heads': 'nHeads', '--max-len': 'maxLen',
};

export const OPTIMIZERS = ['adafactor', 'adam', 'sgd', 'momentum', 'rmsprop', 'sm3'] as const;
export const SCHEDULES = ['constant', 'warmup', 'rsqrt', 'cosine', 'multifactor'] as const;

export const spec: CommandSpec = {
  name: 'train',
  summary: 'Train a model on a built-in task (reverse, sort, copy) or a text corpus, with Trax\'s Trainer.',
  usage: 'trax-ts train [--task reverse|sort|copy|lm] [--output-dir DIR] [--steps N] [flags]',
  description: 'Checkpoints go to DIR/model.pkl.gz (Trax trainer_lib format) at every evaluation, with DIR/config.json ' +
    '(the model and task) and DIR/metrics.jsonl; DIR/model.safetensors is written at the end. If DIR already has ' +
    'a checkpoint, training resumes from its step and continues until --steps in total (use --fresh to start over). ' +
    'With --task lm, trax.supervised.trainLM trains on the text (its vocabulary goes to DIR/lm.json); model and ' +
    'training flags that are not given take trainLM\'s defaults (d_model 128, 4 layers, adam, 2000 steps).',
  flags: {
    task: { type: 'string', choices: [...Object.keys(INT_TASKS), 'lm'], default: 'reverse', help: 'what to learn; lm trains a language model on --text or --corpus' },
    length: { type: 'int', min: 1, default: 4, help: 'integers per example (reverse/sort/copy)' },
    text: { type: 'string', metavar: 'FILE', help: 'text file (or folder of .txt files) for --task lm' },
    corpus: { type: 'string', choices: ['moby-dick'], help: 'built-in text corpus for --task lm' },
    tokenizer: { type: 'string', choices: ['char', 'subword', 'bpe', 'word'], help: 'tokenizer for --task lm, built from the text (default char; --vocab-size sets the size of subword/bpe/word vocabularies; word: the most frequent words and punctuation plus <unk>)' },
    'embedding-init': { type: 'string', choices: ['master', '1.3.4'], help: '--task lm: embedding initializer, Trax master\'s U(+-sqrt(3/d_model)) (default) or Trax 1.3.4\'s N(0, 1)' },
    'seq-len': { type: 'int', min: 1, help: 'training window length in tokens for --task lm (default 64)' },
    'sample-prompt': { type: 'string', help: '--task lm: prompt of the sample printed at each evaluation' },
    ...modelFlags(true),
    steps: { type: 'int', min: 0, default: 2400, help: 'train until this step (in total, counting resumed steps)' },
    'batch-size': { type: 'int', min: 1, default: 16, help: 'examples per batch' },
    'eval-every': { type: 'int', min: 1, default: 800, help: 'evaluate, log and checkpoint every N steps' },
    'eval-steps': { type: 'int', min: 0, default: 2, help: 'batches per evaluation (0: checkpoint without evaluating)' },
    optimizer: { type: 'string', choices: OPTIMIZERS, default: 'adafactor', help: 'optimizer' },
    lr: { type: 'number', min: 0, minExclusive: true, default: 0.001, help: 'learning rate (peak rate for warm-up schedules)' },
    schedule: { type: 'string', choices: SCHEDULES, default: 'constant', help: 'learning-rate schedule: constant, warmup (linear ramp), rsqrt (ramp, then 1/sqrt decay), cosine (ramp, then cosine to 0 at --steps), multifactor (Trax\'s default: constant * linear_warmup * rsqrt_decay)' },
    'warmup-steps': { type: 'int', min: 0, default: 400, help: 'warm-up steps for warmup/rsqrt/cosine/multifactor' },
    'clip-grad-norm': { type: 'number', min: 0, minExclusive: true, help: 'clip gradients to this global norm' },
    seed: { type: 'int', min: 0, default: 1, help: 'random seed for initialization, dropout and the data' },
    'output-dir': { type: 'string', metavar: 'DIR', default: 'train_dir', help: 'where checkpoints and logs go' },
    fresh: { type: 'bool', help: 'delete DIR\'s checkpoint and start from step 0 (the quick-start\'s rm -f model.pkl.gz)' },
    safetensors: { type: 'bool', default: true, help: 'also write DIR/model.safetensors at the end (--no-safetensors to skip)' },
    'log-every': { type: 'int', min: 1, help: 'without a terminal: a progress line every N steps (default: a tenth of the run)' },
    quiet: { type: 'bool', short: 'q', help: 'no progress bar or progress lines (evaluation lines still print)' },
    help: { type: 'bool', short: 'h', help: 'show this help' },
  },
  groups: [
    ['Task', ['task', 'length', 'text', 'corpus', 'tokenizer', 'seq-len', 'sample-prompt', 'embedding-init']],
    ['Model', MODEL_FLAG_NAMES],
    ['Training', ['steps', 'batch-size', 'eval-every', 'eval-steps', 'optimizer', 'lr', 'schedule', 'warmup-steps', 'clip-grad-norm', 'seed']],
    ['Output', ['output-dir', 'fresh', 'safetensors', 'log-every', 'quiet', 'help']],
  ],
  examples: [
    'trax-ts train --task reverse --output-dir ~/train_dir --steps 2400 --eval-every 800',
    'trax-ts train --task sort --optimizer adam --lr 0.002 --schedule rsqrt --warmup-steps 500 --batch-size 64',
    'trax-ts train --task reverse --output-dir ~/train_dir --steps 4000   # resumes at the saved step',
    'trax-ts train --task lm --corpus moby-dick --tokenizer char --steps 2000 --output-dir moby',
  ],
};

function makeOptimizer(name: string, clip: number | undefined): Optimizer {
  const o = { learningRate: 0, ...(clip !== undefined ? { clipGradNorm: clip } : {}) };
  switch (name) {
    case 'adafactor': return optimizers.Adafactor(o);
    case 'adam': return optimizers.Adam(o);
    case 'sgd': return optimizers.SGD(o);
    case 'momentum': return optimizers.Momentum(o);
    case 'rmsprop': return optimizers.RMSProp(o);
    default: return optimizers.SM3(o);
  }
}

function makeSchedule(name: string, value: number, warmupSteps: number, steps: number): lr.LRSchedule {
  switch (name) {
    case 'constant': return lr.constant(value);
    case 'warmup': return lr.warmup(warmupSteps, value);
    case 'rsqrt': return lr.warmupAndRsqrtDecay(warmupSteps, value);
    case 'cosine':
      return lr.multifactor({ factors: 'constant * linear_warmup * cosine_decay', constant: value, warmupSteps: Math.max(1, warmupSteps), stepsPerCycle: Math.max(1, 2 * (steps - warmupSteps)) });
    default: return lr.multifactor({ constant: value, warmupSteps: Math.max(1, warmupSteps) });
  }
}

/** The run configuration these flags describe, checked against a resumed one. */
function runConfigFrom(args: ParsedArgs, stored: RunConfig | undefined): RunConfig {
  const base = stored?.config ?? QUICKSTART_CONFIG;
  const config: LMConfig = applyModelFlags(args, base, stored !== undefined);
  const pick = <T>(flag: string, storedValue: T | undefined, value: T): T => (stored && !args.has(flag) && storedValue !== undefined ? storedValue : value);
  const run: RunConfig = {
    format: 'trax-ts-run', version: 1,
    model: pick('model', stored?.model, args.str('model')!),
    config,
    task: pick('task', stored?.task, args.str('task')!),
    length: pick('length', stored?.length, args.num('length')!),
    batchSize: pick('batch-size', stored?.batchSize, args.num('batch-size')!),
    seed: pick('seed', stored?.seed, args.num('seed')!),
    optimizer: pick('optimizer', stored?.optimizer, args.str('optimizer')!),
    lr: pick('lr', stored?.lr, args.num('lr')!),
    schedule: pick('schedule', stored?.schedule, args.str('schedule')!),
    warmupSteps: pick('warmup-steps', stored?.warmupSteps, args.num('warmup-steps')!),
  };
  if (stored) {
    // The data streams and the weights' shapes must be the same to resume.
    const fixed: [string, unknown, unknown][] = [
      ['--model', stored.model, run.model], ['--task', stored.task, run.task], ['--length', stored.length, run.length],
      ['--batch-size', stored.batchSize, run.batchSize], ['--seed', stored.seed, run.seed], ['--optimizer', stored.optimizer, run.optimizer],
      ...Object.entries(CONFIG_FLAGS).map(([flag, k]): [string, unknown, unknown] => [flag, stored.config[k], run.config[k]]),
    ];
    for (const [flag, was, now] of fixed) {
      if (was !== now) {
        args.fail(`${flag} ${String(now)} does not match the checkpoint being resumed (${flag} ${String(was)}); ` +
          'use --fresh to start over, or another --output-dir');
      }
    }
  }
  return run;
}

export async function run(args: ParsedArgs): Promise<number> {
  if (args.str('task') === 'lm' || args.has('text') || args.has('corpus')) return trainText(args);
  for (const f of ['tokenizer', 'seq-len', 'sample-prompt', 'embedding-init']) if (args.has(f)) args.fail(`--${f} applies to --task lm only`);
  checkOutputDir(args, 'output-dir', args.str('output-dir')!);
  const dir = resolve(args.str('output-dir')!);
  const ckpt = join(dir, 'model.pkl.gz');
  if (args.bool('fresh')) {
    for (const f of ['model.pkl.gz', 'model.safetensors', 'metrics.jsonl', 'config.json']) rmSync(join(dir, f), { force: true });
  }
  if (runKind(dir).kind === 'lm') args.fail(`${dir} holds a language model (--task lm); train it with --task lm or use another --output-dir`);
  const resuming = existsSync(ckpt);
  const stored = resuming ? readRunConfig(dir) : undefined;
  const cfg = runConfigFrom(args, stored);
  const steps = args.num('steps')!;
  const evalEvery = args.num('eval-every')!;
  const evalSteps = args.num('eval-steps')!;
  const task = INT_TASKS[cfg.task];
  const width = 2 * cfg.length! + 2;
  if (cfg.config.maxLen < width) args.fail(`--max-len ${cfg.config.maxLen} is shorter than the task's sequences (${width} tokens for --length ${cfg.length})`);
  if (cfg.config.vocabSize < 3) args.fail('--vocab-size must be at least 3 for the integer tasks (values are 1..vocab-2)');
  const startStep = resuming ? (readTraxCheckpointSync(ckpt).step ?? 0) : 0;

  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  const entry = MODELS[cfg.model];
  const taskOpts = { length: cfg.length, vocab: cfg.config.vocabSize };
  const inputs = Inputs(
    () => task.make(cfg.batchSize, { ...taskOpts, seed: cfg.seed }),
    // Evaluation draws from its own stream so it measures unseen examples.
    () => task.make(cfg.batchSize, { ...taskOpts, seed: cfg.seed + 1_000_003 }),
  );
  say(`trax-ts train: ${cfg.model} on the ${cfg.task} task (${task.what}, n=${cfg.length}), backend ${backendName()}`);
  say(`  d_model ${cfg.config.dModel}, d_ff ${cfg.config.dFF}, ${cfg.config.nLayers} layers, ${cfg.config.nHeads} heads, ` +
    `vocab ${cfg.config.vocabSize}, max_len ${cfg.config.maxLen}, dropout ${cfg.config.dropout}`);
  say(`  ${cfg.optimizer}, lr ${cfg.lr} (${cfg.schedule}), batch ${cfg.batchSize}, seed ${cfg.seed}`);
  say(resuming ? `  resuming from step ${startStep} in ${dir}` : `  output dir ${dir}`);
  if (startStep >= steps) {
    say(`Already at step ${startStep} (--steps ${steps}): nothing to train. Give a larger --steps to continue.`);
    return 0;
  }

  const quiet = args.bool('quiet');
  const progress = quiet ? null : new Progress({ total: steps, start: startStep, every: args.num('log-every') });
  const log = (line: string): void => (progress ? progress.println(line) : say(line));
  const schedule = makeSchedule(cfg.schedule, cfg.lr, cfg.warmupSteps, steps);
  const trainer = new Trainer({
    model: (mode) => entry.build(cfg.config, mode),
    lossFn: CrossEntropyLoss(),
    optimizer: makeOptimizer(cfg.optimizer, args.num('clip-grad-norm')),
    lrSchedule: schedule,
    inputs,
    outputDir: dir,
    randomSeed: cfg.seed,
    log,
  });
  const losses: number[] = [];
  const t0 = performance.now();
  let segStart = performance.now(), segSteps = 0;
  const metrics = new MetricsWriter(dir);
  const interrupt = onInterrupt();
  const stopping = (): boolean => interrupt.signal.aborted;
  try {
    while (trainer.step < steps && !stopping()) {
      const loss = await trainer.trainStep();
      losses.push(loss);
      segSteps++;
      progress?.update(trainer.step, loss);
      const step = trainer.step;
      if (step % evalEvery === 0 || step === steps) {
        log('');
        log(stepLine(step, `Ran ${segSteps} train steps in ${((performance.now() - segStart) / 1000).toFixed(2)} secs`));
        for (const [metric, value] of [['training/loss', loss], ['training/learning_rate', schedule(step)]] as const) {
          metrics.record(step, 'train', metric, value);
        }
        if (evalSteps > 0) {
          try {
            await trainer.evaluate(evalSteps, { signal: interrupt.signal });
          } catch (e) {
            if (e !== interrupt.signal.reason) throw e;
          }
        }
        trainer.saveState();
        segStart = performance.now();
        segSteps = 0;
      }
    }
    if (stopping()) {
      trainer.saveState();
      log(`Interrupted: saved step ${trainer.step} to ${ckpt}; run the same command again to resume.`);
    }
  } finally {
    interrupt.dispose();
    progress?.done();
  }
  const secs = (performance.now() - t0) / 1000;
  if (args.bool('safetensors')) {
    trainer.evalModel.saveToFile(join(dir, 'model.safetensors'), {
      weightsOnly: true, config: { model: cfg.model, ...cfg.config }, inputSignature: new ShapeDtype([1, 1], 'int32'),
    });
  }
  const trained = trainer.step - startStep;
  say('');
  say(`Trained ${commas(trained)} steps in ${formatDuration(secs)} (${(trained / secs).toFixed(1)} steps/s); step ${trainer.step}.`);
  if (losses.length > 1) say(`loss ${losses[0].toFixed(3)} ${sparkline(losses, { width: 40 })} ${losses[losses.length - 1].toFixed(3)}`);
  say(`Checkpoint: ${ckpt}${args.bool('safetensors') ? ` (and model.safetensors)` : ''}`);
  say(`Next: trax-ts predict --checkpoint ${dir} --prompt ${examplePrompt(cfg)}`);
  return stopping() ? INTERRUPTED_EXIT : 0;
}

/** The configuration trainLM recorded in dir/lm.json, if any. */
function readLMConfigFile(dir: string): LMRunConfig | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, LM_FILE), 'utf8')) as { config?: LMRunConfig }).config;
  } catch {
    return undefined;
  }
}

function examplePrompt(cfg: RunConfig): string {
  const n = cfg.length ?? 4;
  const vals = Array.from({ length: n }, (_, i) => Math.min(cfg.config.vocabSize - 2, 2 * i + 4));
  return [0, ...vals, 0].join(',');
}

/** --task lm: trainLM on a text file or the bundled corpus (it keeps its vocabulary in DIR/lm.json). */
async function trainText(args: ParsedArgs): Promise<number> {
  if (args.has('task') && args.str('task') !== 'lm') args.fail(`--text and --corpus go with --task lm, not --task ${args.str('task')}`);
  if (!args.has('text') && !args.has('corpus')) args.fail('--task lm needs --text FILE or --corpus moby-dick');
  if (args.has('text') && args.has('corpus')) args.fail('give either --text or --corpus, not both');
  if (args.has('length')) args.fail('--length applies to the integer tasks; use --seq-len for --task lm');
  const optimizer = args.str('optimizer')!;
  if (args.has('optimizer') && optimizer !== 'adam' && optimizer !== 'adafactor') args.fail(`--task lm trains with adam or adafactor, not ${optimizer}`);
  if (args.has('schedule') && args.str('schedule') !== 'constant') args.fail('--task lm uses a constant learning rate (--schedule constant)');
  for (const f of ['warmup-steps', 'clip-grad-norm', 'model']) if (args.has(f)) args.fail(`--${f} does not apply to --task lm`);
  const tokenizer = (args.str('tokenizer') ?? 'char') as LMTrainOptions['tokenizer'];
  if (tokenizer === 'char' && args.has('vocab-size')) args.fail('--vocab-size sets subword/bpe/word vocabularies; a char vocabulary is the text\'s characters');
  checkOutputDir(args, 'output-dir', args.str('output-dir')!);
  const dir = resolve(args.str('output-dir')!);
  const kind = runKind(dir);
  if (kind.kind === 'task' && !args.bool('fresh')) {
    args.fail(`${dir} holds a ${kind.run?.task ?? 'reverse/sort/copy'}-task model, not a language model; use another --output-dir (or --fresh to replace it)`);
  }
  if (args.bool('fresh')) {
    for (const f of ['model.pkl.gz', 'lm.json', 'metrics.jsonl', 'lm_evals.jsonl', 'model.safetensors', 'config.json']) rmSync(join(dir, f), { force: true });
  }
  const opts: LMTrainOptions = {
    ...(args.has('text') ? { text: args.str('text') } : { corpus: 'moby-dick' as const }),
    tokenizer,
    outputDir: dir,
    seed: args.num('seed'),
    log: (line: string) => say(line),
  };
  const numeric: [string, keyof LMTrainOptions][] = [
    ['vocab-size', 'vocabSize'], ['seq-len', 'seqLen'], ['batch-size', 'batchSize'], ['d-model', 'dModel'], ['d-ff', 'dFF'],
    ['n-layers', 'nLayers'], ['n-heads', 'nHeads'], ['max-len', 'maxLen'], ['dropout', 'dropout'], ['steps', 'steps'], ['lr', 'lr'],
    ['eval-every', 'evalEvery'], ['eval-steps', 'evalBatches'],
  ];
  for (const [flag, key] of numeric) if (args.has(flag)) (opts as Record<string, unknown>)[key] = args.num(flag);
  if (args.has('optimizer')) opts.optimizer = optimizer as LMTrainOptions['optimizer'];
  if (args.has('sample-prompt')) opts.samplePrompt = args.str('sample-prompt');
  if (args.has('embedding-init')) opts.embeddingInit = args.str('embedding-init') as LMTrainOptions['embeddingInit'];
  if (args.bool('quiet')) opts.sampleLength = 0;
  say(`trax-ts train: language model on ${args.has('text') ? args.str('text') : 'the moby-dick corpus'} (${tokenizer} tokens), backend ${backendName()}; output dir ${dir}`);
  // The bar starts with the first step, once the corpus is tokenized and the
  // model is built or resumed (evaluation lines print above it).
  let progress: Progress | null = null;
  const log = (line: string): void => (progress ? progress.println(line) : say(line));
  opts.log = log;
  let firstStep = -1;
  if (!args.bool('quiet')) {
    opts.onStep = (step, loss) => {
      if (!progress) {
        firstStep = step - 1;
        const stored = readLMConfigFile(dir);
        progress = new Progress({
          total: opts.steps ?? stored?.steps ?? step, start: firstStep, every: args.num('log-every'),
          tokensPerStep: (stored?.batchSize ?? 1) * (stored?.seqLen ?? 1),
        });
      }
      progress.update(step, loss);
    };
  }
  const interrupt = onInterrupt();
  opts.signal = interrupt.signal;
  const t0 = performance.now();
  let result;
  try {
    result = await trainLM(opts);
  } catch (e) {
    if (e !== interrupt.signal.reason) throw e;
    (progress as Progress | null)?.done();
    const saved = existsSync(join(dir, 'model.pkl.gz')) ? readTraxCheckpointSync(join(dir, 'model.pkl.gz')).step : null;
    say(saved === null ? 'Interrupted before the first step: nothing to save.'
      : `Interrupted: saved step ${saved} to ${join(dir, 'model.pkl.gz')}; run the same command again to resume.`);
    return INTERRUPTED_EXIT;
  } finally {
    interrupt.dispose();
  }
  (progress as Progress | null)?.done();
  progress = null;
  const secs = (performance.now() - t0) / 1000;
  if (args.bool('safetensors')) {
    const { model, config } = loadLM(dir);
    model.saveToFile(join(dir, 'model.safetensors'), {
      weightsOnly: true, inputSignature: new ShapeDtype([1, 1], 'int32'),
      config: { model: 'TransformerLM', vocabSize: config.vocabSize, dModel: config.dModel, dFF: config.dFF, nLayers: config.nLayers, nHeads: config.nHeads, maxLen: config.maxLen, dropout: config.dropout },
    });
  }
  say('');
  const perChar = tokenizer === 'char' ? ' (' : ` nats/token (${result.valLossPerChar.toFixed(4)} nats/char, `;
  say(`Done: step ${result.step}, validation loss ${result.valLoss.toFixed(4)}${perChar}${result.valBpc.toFixed(3)} bits/char), ` +
    `${commas(result.params)} weights, ${formatDuration(secs)}${result.resumed ? ' (resumed)' : ''}.`);
  if (result.evals.length > 1) {
    const v = result.evals.map((e) => e.valLoss);
    say(`validation loss ${v[0].toFixed(3)} ${sparkline(v, { width: 40 })} ${v[v.length - 1].toFixed(3)}`);
  }
  say(`Checkpoint: ${join(dir, 'model.pkl.gz')}${args.bool('safetensors') ? ' (and model.safetensors)' : ''}, vocabulary ${join(dir, 'lm.json')}`);
  say(`Next: trax-ts sample --checkpoint ${dir} --prompt "Call me" --length 500 --temperature 0.8 --top-k 40 --seed 1`);
  return 0;
}
