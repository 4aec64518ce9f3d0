// trax-ts quickstart: the TransformerLM quick-start end to end, in three acts:
// decode with the shipped sort model, train the reverse task with Trainer and
// decode from its checkpoint, then look inside the model.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { backendName } from '../../backends/index.js';
import { Inputs } from '../../data/inputs.js';
import { reverseIntsTask } from '../../data/tasks.js';
import { CrossEntropyLoss } from '../../layers/metrics.js';
import type { Mode } from '../../layers/base.js';
import { TransformerLM } from '../../models/transformer_lm.js';
import { Adafactor } from '../../optimizers/index.js';
import * as pretrained from '../../pretrained/index.js';
import { ShapeDtype } from '../../shapes.js';
import * as lr from '../../training/lr_schedules.js';
import { autoregressiveSample } from '../../decoding/decoding.js';
import { Trainer } from '../../training/trainer.js';
import type { CommandSpec, ParsedArgs } from './args.js';
import { commas, say, checkOutputDir } from './common.js';
import { formatDuration } from './progress.js';
import { formatWeights, weightRows } from './show.js';

export const spec: CommandSpec = {
  name: 'quickstart',
  summary: 'Run the TransformerLM quick-start end to end: a pre-trained sort model, training the reverse task, and a look inside the model.',
  usage: 'trax-ts quickstart [--epochs 3] [--steps-per-epoch 800] [--output-dir DIR]',
  description: 'Act 1 decodes [0, 3, 14, 15, 9, 0] with the sort model that ships with trax-ts. Act 2 trains the ' +
    'quick-start\'s tiny TransformerLM to reverse four integers with Trainer (Adafactor, lr 0.001, batch 16), exactly ' +
    'as the notebook does, then decodes [0, 4, 6, 8, 10, 0] from the saved checkpoint. Act 3 prints the model\'s ' +
    'layers and weights.',
  flags: {
    epochs: { type: 'int', min: 1, default: 3, help: 'training epochs in act 2' },
    'steps-per-epoch': { type: 'int', min: 1, default: 800, help: 'train steps per epoch' },
    'eval-steps': { type: 'int', min: 0, default: 2, help: 'evaluation batches after each epoch' },
    'batch-size': { type: 'int', min: 1, default: 16, help: 'examples per batch' },
    seed: { type: 'int', min: 0, default: 1, help: 'random seed for initialization and data' },
    'output-dir': { type: 'string', metavar: 'DIR', help: 'where act 2 trains (default: a new temporary directory); an existing model.pkl.gz there is removed first, as in the notebook' },
    acts: { type: 'string', default: '1,2,3', help: 'which acts to run, e.g. 1,3' },
    help: { type: 'bool', short: 'h', help: 'show this help' },
  },
  examples: ['trax-ts quickstart', 'trax-ts quickstart --epochs 1 --steps-per-epoch 200   # a shorter run'],
};

function heading(n: number, title: string): void {
  say('');
  say(`=== Act ${n}: ${title} ${'='.repeat(Math.max(3, 64 - title.length))}`);
  say('');
}

function show(tokens: number[]): string {
  return `[[${tokens.join(', ')}]]`;
}

/** The quick-start's model: the tiny TransformerLM, as a function of the mode. */
function tinyTransformerLM(mode: Mode = 'train') {
  return TransformerLM({ dModel: 32, dFF: 128, nLayers: 2, vocabSize: 32, mode });
}

async function act1(): Promise<boolean> {
  heading(1, 'a pre-trained model sorts four numbers');
  say('model = TransformerLM({dModel: 32, dFF: 128, nLayers: 2, vocabSize: 32, mode: \'predict\'})');
  say(`model.initFromFile(trax.pretrained.path('sort-transformer'), {weightsOnly: true, inputSignature: ShapeDtype([1, 1], 'int32')})`);
  const t0 = performance.now();
  const model = tinyTransformerLM('predict');
  model.initFromFile(pretrained.path('sort-transformer'), { weightsOnly: true, inputSignature: new ShapeDtype([1, 1], 'int32') });
  const tLoad = performance.now() - t0;
  const input = [0, 3, 14, 15, 9, 0];
  const t1 = performance.now();
  const out = await autoregressiveSample(model, [input], { temperature: 0, maxLength: 4 });
  const tDecode = performance.now() - t1;
  const got = Array.from(await out.data());
  say('');
  say(`input:  ${show(input)}   (0s mark the start and end of the list)`);
  say(`output: ${show(got)}`);
  say(`loaded in ${tLoad.toFixed(0)} ms, decoded 4 tokens in ${tDecode.toFixed(0)} ms`);
  const ok = got.join() === '3,9,14,15';
  if (!ok) say('unexpected output: the shipped model should give [[3, 9, 14, 15]]');
  return ok;
}

async function act2(args: ParsedArgs): Promise<boolean> {
  const epochs = args.num('epochs')!, steps = args.num('steps-per-epoch')!, evalSteps = args.num('eval-steps')!;
  const batch = args.num('batch-size')!, seed = args.num('seed')!;
  heading(2, 'train a model to reverse four numbers');
  let outputDir: string, temp = false;
  if (args.has('output-dir')) {
    checkOutputDir(args, 'output-dir', args.str('output-dir')!);
    outputDir = resolve(args.str('output-dir')!);
    mkdirSync(outputDir, { recursive: true });
    rmSync(join(outputDir, 'model.pkl.gz'), { force: true }); // the notebook's `rm -f ~/train_dir/model.pkl.gz`
  } else {
    outputDir = mkdtempSync(join(tmpdir(), 'trax-ts-quickstart-'));
    temp = true;
  }
  say(`Trainer({model: tinyTransformerLM, lossFn: CrossEntropyLoss(), optimizer: Adafactor,`);
  say(`         lrSchedule: lr.constant(0.001), inputs: reverse task (batch ${batch}), outputDir})`);
  say(`${epochs} epochs x ${steps} train steps, ${evalSteps} eval steps each; output dir ${outputDir}; backend ${backendName()}`);
  const trainer = new Trainer({
    model: tinyTransformerLM,
    lossFn: CrossEntropyLoss(),
    optimizer: Adafactor,
    lrSchedule: lr.constant(0.001),
    inputs: Inputs(() => reverseIntsTask(batch, { seed }), () => reverseIntsTask(batch, { seed: seed + 1 })),
    outputDir,
    randomSeed: seed,
  });
  const t0 = performance.now();
  for (let e = 0; e < epochs; e++) await trainer.trainEpoch(steps, evalSteps);
  const secs = (performance.now() - t0) / 1000;
  say('');
  say(`Trained ${commas(trainer.step)} steps in ${formatDuration(secs)} (${(trainer.step / secs).toFixed(1)} steps/s).`);
  say('');
  say('predictModel = tinyTransformerLM(\'predict\')');
  say('predictModel.initFromFile(join(outputDir, \'model.pkl.gz\'), {weightsOnly: true, inputSignature: ShapeDtype([1, 1], \'int32\')})');
  const predictModel = tinyTransformerLM('predict');
  predictModel.initFromFile(join(outputDir, 'model.pkl.gz'), { weightsOnly: true, inputSignature: new ShapeDtype([1, 1], 'int32') });
  const input = [0, 4, 6, 8, 10, 0];
  const out = await autoregressiveSample(predictModel, [input], { temperature: 0, maxLength: 4 });
  const got = Array.from(await out.data());
  say('');
  say(`input:  ${show(input)}`);
  say(`output: ${show(got)}`);
  const ok = got.join() === '10,8,6,4';
  if (!ok) say(`not reversed yet: train longer (--epochs, --steps-per-epoch); the notebook trains ${3 * 800} steps`);
  if (temp) rmSync(outputDir, { recursive: true, force: true });
  return ok;
}

function act3(): void {
  heading(3, 'inside the model');
  const model = tinyTransformerLM('train');
  model.init(new ShapeDtype([1, 1], 'int32'));
  say('print(tinyTransformerLM())');
  say('');
  say(String(model));
  const rows = weightRows(model);
  say('');
  say(`The weights, in Trax's flat order (${rows.length} arrays):`);
  for (const l of formatWeights(rows)) say(l);
  const total = rows.reduce((s, r) => s + r.size, 0);
  const pe = rows[1].size;
  say('');
  say(`Total number of trainable weights: ${commas(total)}`);
  say(`(${commas(pe)} of them are the 2048 x 32 positional table; the two decoder blocks hold ${commas(total - pe - rows[0].size - rows.slice(-4).reduce((s, r) => s + r.size, 0))}.)`);
}

export async function run(args: ParsedArgs): Promise<number> {
  const acts = new Set(args.str('acts')!.split(',').map((s) => s.trim()).filter(Boolean));
  for (const a of acts) if (!['1', '2', '3'].includes(a)) args.fail(`--acts expects act numbers 1, 2, 3 separated by commas, got ${JSON.stringify(args.str('acts'))}`);
  const t0 = performance.now();
  say('trax-ts quick-start: TransformerLM in TypeScript');
  let ok = true;
  if (acts.has('1')) ok = (await act1()) && ok;
  // A shortened run may not have learned yet; only the notebook-length run must.
  if (acts.has('2')) ok = ((await act2(args)) || args.num('epochs')! * args.num('steps-per-epoch')! < 2400) && ok;
  if (acts.has('3')) act3();
  say('');
  say(`Done in ${formatDuration((performance.now() - t0) / 1000)}.${ok ? '' : ' (an output differed from the quick-start\'s; see above)'}`);
  return ok ? 0 : 1;
}
