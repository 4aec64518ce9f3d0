// What giving the event loop a turn every few milliseconds costs: the
// reverse task's Trainer (quick-start model, batch 16) runs blocks of steps
// alternately with turns (every 5 ms, the default) and without, in one
// process after a warm-up, and prints the steps/s ratio (goal: >= 0.99) and
// the share of time spent in the turns themselves (less noisy on a busy machine).
import * as trax from '../src/index.js';
import { YIELD_EVERY_MS, setYieldEveryMs, yieldStats } from '../src/training/yield.js';

const BLOCK = Number(process.env['TRAX_BENCH_BLOCK'] ?? 400);
const ROUNDS = Number(process.env['TRAX_BENCH_ROUNDS'] ?? 5);
// The interval under test (default: the library's).
const EVERY = Number(process.env['TRAX_BENCH_YIELD_MS'] ?? YIELD_EVERY_MS);

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

let lastCpuMs = 0;

/** Steps/s over one block; lastCpuMs gets the process's CPU milliseconds per step (less disturbed by other jobs). */
async function block(): Promise<number> {
  const t0 = performance.now(), c0 = process.cpuUsage();
  for (let i = 0; i < BLOCK; i++) await trainer.trainStep();
  const c = process.cpuUsage(c0);
  lastCpuMs = (c.user + c.system) / 1000 / BLOCK;
  return BLOCK / ((performance.now() - t0) / 1000);
}

let turns = 0;
const tick = setInterval(() => { turns++; }, 20);
setYieldEveryMs(Infinity);
await block();
await block();
const on: number[] = [], off: number[] = [], inTurns: number[] = [], perTurnUs: number[] = [], cpuOn: number[] = [], cpuOff: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  setYieldEveryMs(EVERY);
  turns = 0;
  const s0 = yieldStats(), t0 = performance.now();
  on.push(await block());
  cpuOn.push(lastCpuMs);
  const s1 = yieldStats();
  inTurns.push((s1.ms - s0.ms) / (performance.now() - t0));
  perTurnUs.push(((s1.ms - s0.ms) / Math.max(1, s1.turns - s0.turns)) * 1000);
  const turnsOn = turns;
  setYieldEveryMs(Infinity);
  turns = 0;
  off.push(await block());
  cpuOff.push(lastCpuMs);
  console.log(`round ${r + 1}: ${on[r].toFixed(1)} steps/s with turns (${turnsOn} timer ticks ran, ${(inTurns[r] * 100).toFixed(2)}% of the time in turns, ` +
    `${perTurnUs[r].toFixed(1)} us each), ${off[r].toFixed(1)} without (${turns} ticks)`);
}
clearInterval(tick);
const ratio = median(on) / median(off);
console.log(`reverse task, backend ${trax.backendName()}, ${trax.numThreads()} threads: ${median(on).toFixed(1)} steps/s with a turn every ${EVERY} ms, ` +
  `${median(off).toFixed(1)} without; ratio ${ratio.toFixed(3)} (goal >= 0.99); time spent in the turns themselves: ` +
  `${(median(inTurns) * 100).toFixed(2)}% (${median(perTurnUs).toFixed(1)} us per turn); CPU per step ${median(cpuOn).toFixed(3)} ms with turns, ` +
  `${median(cpuOff).toFixed(3)} ms without (ratio ${(median(cpuOff) / median(cpuOn)).toFixed(3)})`);
