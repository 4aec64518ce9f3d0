// The quick-start's last section: what is inside the tiny TransformerLM.
// Printing a layer shows its tree of sublayers; its weights are a nested
// structure of arrays that flattens, in Trax's order, to 38 arrays.
//
// Run: npm run example:inside
import * as trax from 'trax-ts';

const { ShapeDtype } = trax.shapes;

const model = trax.models.TransformerLM({
  dModel: 32, dFF: 128, nLayers: 2,
  vocabSize: 32, mode: 'train',
});

// The model tree: ShiftRight, Embedding, Dropout, PositionalEncoding, two
// decoder blocks (each a residual attention part and a residual feed-forward
// part), then LayerNorm, Dense to the vocabulary and LogSoftmax.
console.log(String(model));

// Weights exist once the model is initialized for an input signature.
model.init(new ShapeDtype([1, 1], 'int32'));
const [flatWeights] = trax.layers.flattenWeightsAndState(model.weights, model.state);

// Each weight array, with the layer it belongs to.
console.log('');
console.log('Weights, in Trax\'s flat order:');
const owners = trax.supervised.weightOwners(model);
owners.forEach(({ layer, tensor }, i) => {
  const name = layer.split('/').pop()!.replace(/^\d+:/, '');
  console.log(`${String(i).padStart(3)}  ${name.padEnd(20)} (${tensor.shape.join(', ')}${tensor.rank === 1 ? ',' : ''})`.padEnd(50) + `${tensor.size}`.padStart(7));
});

// The total: 93,088, of which 65,536 are the 2048 x 32 positional table.
const total = flatWeights.reduce((sum, w) => sum + w.size, 0);
console.log('');
console.log(`Total number of trainable weights: ${total.toLocaleString('en-US')} in ${flatWeights.length} arrays`);
