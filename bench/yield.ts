// What giving the event loop a turn every few milliseconds costs: the
// reverse task's Trainer (quick-start model, batch 16) runs blocks of steps
// alternately with turns (every 5 ms, the default) and without, in one
// process after a warm-up, and prints the steps/s ratio (goal: >= 0.99).
import * as trax from '../src/index.js';
import { YIELD_EVERY_MS, setYieldEveryMs } from '../src/training/yield.js';

const BLOCK = Number(process.env['TRAX_BENCH_BLOCK'] ?? 400);
const ROUNDS = Number(process.env['TRAX_BENCH_ROUNDS'] ?? 5);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const trainer = new trax.supervised.Trainer({
  model: (mode) => trax.models.TransformerLM({ vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2, mode }),
  lossFn: trax.layers.CrossEntropyLoss(), optimizer: trax.optimizers.Adafactor, lrSchedule: trax.lr.constant(0.001),
  inputs: trax.data.Inputs(() => trax.data.reverseIntsTask(16, { length: 4, vocab: 32, seed: 0 })),
  outputDir: null, randomSeed: 0, log: () => {},
});

async function block(): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < BLOCK; i++) await trainer.trainStep();
  return BLOCK / ((performance.now() - t0) / 1000);
}

let turns = 0;
const tick = setInterval(() => { turns++; }, 20);
setYieldEveryMs(Infinity);
await block();
await block();
const on: number[] = [], off: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  setYieldEveryMs(YIELD_EVERY_MS);
  turns = 0;
  on.push(await block());
  const turnsOn = turns;
  setYieldEveryMs(Infinity);
  turns = 0;
  off.push(await block());
  console.log(`round ${r + 1}: ${on[r].toFixed(1)} steps/s with turns (${turnsOn} timer ticks ran), ${off[r].toFixed(1)} without (${turns} ticks)`);
}
clearInterval(tick);
const ratio = median(on) / median(off);
console.log(`reverse task, backend ${trax.backendName()}, ${trax.numThreads()} threads: ${median(on).toFixed(1)} steps/s with a turn every ${YIELD_EVERY_MS} ms, ` +
  `${median(off).toFixed(1)} without; ratio ${ratio.toFixed(3)} (goal >= 0.99)`);
