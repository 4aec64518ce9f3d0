// The quick-start's training section: train a tiny TransformerLM to reverse
// four numbers with Trax's Trainer, then load the saved checkpoint in
// predict mode and decode.
//
// Run: npm run example:reverse              (3 epochs x 800 steps, as the notebook)
//      node dist/examples/reverse-train.js 200   (steps per epoch, for a quick look)
//      TRAX_EXAMPLE_STEPS=200 npm run example:reverse
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as trax from 'trax-ts';

const { ShapeDtype } = trax.shapes;
const stepsArg = process.argv[2] ?? process.env['TRAX_EXAMPLE_STEPS'];
const trainSteps = stepsArg === undefined ? 800 : Number(stepsArg);
if (!Number.isInteger(trainSteps) || trainSteps < 1) throw new Error(`steps per epoch must be a positive integer, got ${stepsArg}`);

// Construct inputs: the reverse task. Each row is [0, a1..a4, 0, a4..a1] with
// integers in 1..30; the inputs are also the targets, and the loss weights
// cover only the reversed half. (trax.data.reverseIntsTask builds these
// batches; the notebook writes the same generator with numpy.)
const reverseIntsInputs = trax.data.Inputs(() => trax.data.reverseIntsTask(16, { seed: 1 }));

// The Transformer LM, as a function of the mode ('train', 'eval' or 'predict').
function tinyTransformerLM(mode: trax.layers.Mode = 'train') {
  return trax.models.TransformerLM({
    dModel: 32, dFF: 128, nLayers: 2,
    vocabSize: 32, mode,
  });
}

// Train the tiny model with Trainer. A fresh output directory stands in for
// the notebook's `rm -f ~/train_dir/model.pkl.gz`: Trainer resumes from a
// model.pkl.gz it finds there.
const outputDir = mkdtempSync(join(tmpdir(), 'train_dir-'));
const trainer = new trax.supervised.Trainer({
  model: tinyTransformerLM,
  lossFn: trax.layers.CrossEntropyLoss(),
  optimizer: trax.optimizers.Adafactor, // Change optimizer params here.
  lrSchedule: trax.lr.constant(0.001), // Change lr schedule here.
  inputs: reverseIntsInputs,
  outputDir,
  randomSeed: 1,
});

// Train for 3 epochs, each of `trainSteps` train batches, evaluating on 2 batches.
const nEpochs = 3;
const evalSteps = 2;
for (let i = 0; i < nEpochs; i++) {
  await trainer.trainEpoch(trainSteps, evalSteps);
}

// Initialize a model for inference from the saved checkpoint.
const predictModel = tinyTransformerLM('predict');
const predictSignature = new ShapeDtype([1, 1], 'int32');
predictModel.initFromFile(join(outputDir, 'model.pkl.gz'), { weightsOnly: true, inputSignature: predictSignature });

// Run the model.
const input = [0, 4, 6, 8, 10, 0];
const output = await trax.supervised.autoregressiveSample(predictModel, [input], { temperature: 0.0, maxLength: 4 });
console.log('');
console.log(`input:  [${input.join(', ')}]`);
console.log(`output: [[${Array.from(await output.data()).join(', ')}]]`); // [[10, 8, 6, 4]] after the full 3 x 800 steps

rmSync(outputDir, { recursive: true, force: true });
