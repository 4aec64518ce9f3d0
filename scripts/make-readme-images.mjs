// Makes the README's images with the library itself:
//   docs/images/quickstart-diagram.svg  the quick-start TransformerLM's structure
//   docs/images/reverse-curves.svg      training curves of a short reverse-task run
//   docs/images/reverse-attention.svg   the trained model's attention (first layer)
// Usage: npm run build && node scripts/make-readme-images.mjs
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as trax from '../dist/src/index.js';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'images');
mkdirSync(out, { recursive: true });
const CFG = { vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2 };
const model = (mode) => trax.models.TransformerLM({ ...CFG, dropout: 0, mode });
const save = (name, svg) => { writeFileSync(join(out, name), svg + '\n'); console.log(`wrote docs/images/${name} (${svg.length} bytes)`); };

save('quickstart-diagram.svg', trax.viz.modelDiagramSvg(trax.models.TransformerLM(CFG), {
  inputSignature: new trax.shapes.ShapeDtype([1, 10], 'int32'), collapseRepeats: true,
  title: 'TransformerLM(vocabSize=32, dModel=32, dFF=128, nLayers=2)',
}));

const dir = mkdtempSync(join(tmpdir(), 'trax-readme-'));
try {
  const inputs = new trax.data.Inputs(() => trax.data.reverseIntsTask(16, { seed: 1 }), () => trax.data.reverseIntsTask(16, { seed: 2 }));
  const trainer = new trax.supervised.Trainer({
    model, lossFn: trax.layers.CrossEntropyLoss(), optimizer: trax.optimizers.Adam,
    lrSchedule: trax.lr.warmupAndRsqrtDecay(50, 0.01), inputs, outputDir: dir, randomSeed: 0, log: () => {},
  });
  const t0 = performance.now();
  for (let e = 0; e < 12; e++) await trainer.trainEpoch(25, 4);
  console.log(`trained 300 steps on the ${trax.backendName()} backend in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const history = trax.supervised.Trainer.readMetricsHistory(dir);
  save('reverse-curves.svg', trax.viz.trainingCurvesSvg(history, { title: 'Reverse task: quick-start TransformerLM, 300 steps' }));
  const seq = [0, 5, 17, 9, 22, 0, 22, 9, 17, 5];
  const maps = trax.viz.captureAttention(model, [seq], { checkpoint: join(dir, 'model.pkl.gz') });
  save('reverse-attention.svg', trax.viz.attentionMapsSvg(maps.slice(0, 1), {
    title: 'Reverse task: attention of the first layer on 0 5 17 9 22 0 22 9 17 5', cellTitles: false,
  }));
  console.log(trax.viz.trainingSparklines(history));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
