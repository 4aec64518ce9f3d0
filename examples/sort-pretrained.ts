// The quick-start's first cell: load a pre-trained TransformerLM that sorts
// four numbers and decode with it. The model ships with trax-ts
// (trax.pretrained.path('sort-transformer')) instead of coming from a cloud bucket.
//
// Run: npm run example:sort
import * as trax from 'trax-ts';

const { ShapeDtype } = trax.shapes;

// Create a Transformer model. It has to use the same configuration as the
// pre-trained model we load next.
const model = trax.models.TransformerLM({
  dModel: 32, dFF: 128, nLayers: 2,
  vocabSize: 32, mode: 'predict',
});

// Initialize using pre-trained weights. In predict mode the model keeps a
// cache per position, sized by the input signature: one sequence, one token at a time.
model.initFromFile(trax.pretrained.path('sort-transformer'), {
  weightsOnly: true,
  inputSignature: new ShapeDtype([1, 1], 'int32'),
});

// Input sequence. The 0s mark the beginning and end of the list to sort.
const input = [0, 3, 14, 15, 9, 0];

// Run the model: greedy decoding (temperature 0) of four tokens.
const output = await trax.supervised.decoding.autoregressiveSample(model, [input], { temperature: 0.0, maxLength: 4 });

// Show us the output.
console.log(`input:  [${input.join(', ')}]`);
console.log(`output: [[${Array.from(await output.data()).join(', ')}]]`); // [[3, 9, 14, 15]]

// The same model sorts other lists; a batch of inputs needs a cache for each row.
const batch = [[0, 30, 1, 22, 7, 0], [0, 5, 5, 2, 11, 0], [0, 28, 17, 9, 4, 0]];
const batchModel = trax.models.TransformerLM({ dModel: 32, dFF: 128, nLayers: 2, vocabSize: 32, mode: 'predict' });
batchModel.initFromFile(trax.pretrained.path('sort-transformer'), { weightsOnly: true, inputSignature: new ShapeDtype([batch.length, 1], 'int32') });
const sorted = await trax.supervised.autoregressiveSample(batchModel, batch, { temperature: 0, maxLength: 4, eosId: -1 });
const sortedIds = await sorted.data();
batch.forEach((row, i) => {
  console.log(`[${row.slice(1, 5).join(', ')}] -> [${Array.from(sortedIds.subarray(i * 4, i * 4 + 4)).join(', ')}]`);
});
