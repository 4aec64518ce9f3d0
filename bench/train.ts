// Training speed beside the PyTorch anchor (../shared/anchors/torch/bench.py,
// tasks A and C), measured in the same run:
//  - reverse task (quick-start model, batch 16): steps/s once warm, Adafactor and Adam,
//    800 steps after 1,500 warm-up steps, median of 3;
//  - char model (vocab 256, d 256, ff 1024, 4 layers, 4 heads, length 256,
//    batch 16): tokens/s, Adam and Adafactor, median of 5 steps after 2 warm-up;
// each on 1 thread and on all cores. Targets: reverse >= 8x PyTorch steps/s,
// char model >= 2x PyTorch tokens/s. TRAX_BENCH_TORCH=0 skips PyTorch.
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as trax from '../src/index.js';
import { foreignLoad, runAnchor, torchAnchorDir, torchVersion } from './anchor.js';

type OptName = 'adafactor' | 'adam';
const OPTS: OptName[] = ['adafactor', 'adam'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function optimizer(name: OptName): typeof trax.optimizers.Adafactor | typeof trax.optimizers.Adam {
  return name === 'adam' ? trax.optimizers.Adam : trax.optimizers.Adafactor;
}

function makeTrainer(name: OptName, model: trax.supervised.ModelFn, inputs: ReturnType<typeof trax.data.Inputs>, jit = true): trax.supervised.Trainer {
  return new trax.supervised.Trainer({
    model, lossFn: trax.layers.CrossEntropyLoss(), optimizer: optimizer(name),
    lrSchedule: trax.lr.constant(0.001), inputs, outputDir: null, randomSeed: 0, log: () => {}, jit,
  });
}

function reverseTrainer(name: OptName, jit = true): trax.supervised.Trainer {
  return makeTrainer(name,
    (mode) => trax.models.TransformerLM({ vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2, mode }),
    trax.data.Inputs(() => trax.data.reverseIntsTask(16, { seed: 123 })), jit);
}

/**
 * Steps/s over steps 51-100 of a fresh process (the child runs this file
 * with --fresh): how close to its final speed a new run is within its first
 * hundred steps (the training step is traced on steps 1 and 2).
 */
function freshFirst100(name: OptName, threads: number): number {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--fresh', name, String(threads)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`fresh-process run failed: ${(r.stderr ?? '').slice(-800)}`);
  return Number(r.stdout.trim().split('\n').pop());
}

async function freshChild(name: OptName, threads: number): Promise<void> {
  trax.setNumThreads(threads);
  const t = reverseTrainer(name);
  for (let i = 0; i < 50; i++) await t.trainStep();
  const t0 = performance.now();
  for (let i = 0; i < 50; i++) await t.trainStep();
  console.log(50 / ((performance.now() - t0) / 1000));
}

/**
 * Steps/s on the reverse task once warm: 1,500 warm-up steps, then the median
 * of 3 runs of 800. V8 keeps optimizing the step's code for the first ~1,500
 * steps (the first hundred run at about two thirds of the final speed), while
 * PyTorch's speed is flat after a few steps; a training run lasts thousands.
 */
async function reverseStepsPerSec(name: OptName, jit = true): Promise<number> {
  const t = reverseTrainer(name, jit);
  for (let i = 0; i < 1500; i++) await t.trainStep();
  const rates: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    for (let i = 0; i < 800; i++) await t.trainStep();
    rates.push(800 / ((performance.now() - t0) / 1000));
  }
  return median(rates);
}

const CHAR = { vocab: 256, dModel: 256, dFF: 1024, nLayers: 4, nHeads: 4, len: 256, batch: 16 };

/** Random byte windows; the speed of a step does not depend on the text. */
function* charBatches(): Generator<trax.Tensor[], never, undefined> {
  const rng = new trax.data.Rng(7);
  const n = CHAR.batch * CHAR.len;
  const w = new trax.Tensor(new Float32Array(n).fill(1), [CHAR.batch, CHAR.len], 'float32');
  for (;;) {
    const x = new Int32Array(n);
    for (let i = 0; i < n; i++) x[i] = rng.int(0, CHAR.vocab);
    const t = new trax.Tensor(x, [CHAR.batch, CHAR.len], 'int32');
    yield [t, t, w];
  }
}

/** Tokens/s of the char model: 2 warm-up steps, then the median of 5 single steps. */
async function charTokensPerSec(name: OptName): Promise<number> {
  const t = makeTrainer(name,
    (mode) => trax.models.TransformerLM({
      vocabSize: CHAR.vocab, dModel: CHAR.dModel, dFF: CHAR.dFF, nLayers: CHAR.nLayers, nHeads: CHAR.nHeads, mode,
    }),
    trax.data.Inputs(() => charBatches()));
  for (let i = 0; i < 2; i++) await t.trainStep();
  const secs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    await t.trainStep();
    secs.push((performance.now() - t0) / 1000);
  }
  return (CHAR.batch * CHAR.len) / median(secs);
}

interface TorchA { adafactor: number; adam: number }

function torchReverse(threads: number): TorchA {
  const j = runAnchor(['--task', 'A', '--part', 'timing', '--repeats', '3'], threads);
  const t = j['timing'] as Record<OptName, { steps_per_s: number }>;
  return { adafactor: t.adafactor.steps_per_s, adam: t.adam.steps_per_s };
}

function torchChar(threads: number): TorchA {
  const j = runAnchor(['--task', 'C', '--repeats', '5'], threads);
  const t = j['train'] as Record<OptName, { tokens_per_s: number }>;
  return { adafactor: t.adafactor.tokens_per_s, adam: t.adam.tokens_per_s };
}

function fmt(v: number | null, digits = 1): string {
  return v === null ? '-' : v.toFixed(digits);
}

/** Prints training steps/s and tokens/s, ours beside PyTorch's, with ratios. */
export async function benchTrain(): Promise<void> {
  const allCores = cpus().length;
  const threadCounts = allCores > 1 ? [1, allCores] : [1];
  const wantTorch = process.env['TRAX_BENCH_TORCH'] !== '0';
  const tv = wantTorch ? torchVersion() : null;
  console.log(`\n== training speed (backend ${trax.backendName()}${trax.nativeUnavailableReason() ? `, native unavailable: ${trax.nativeUnavailableReason()}` : ''})`);
  if (!wantTorch) console.log('PyTorch comparison skipped (TRAX_BENCH_TORCH=0)');
  else if (!tv) console.log('PyTorch not installed (apt-get install python3-torch)');
  else console.log(`PyTorch ${tv} anchor: ${join(torchAnchorDir(), 'bench.py')}`);
  const before = trax.numThreads();
  const rows: string[] = [];
  const header = `${'workload'.padEnd(34)} ${'threads'.padStart(7)} ${'ours'.padStart(10)} ${'pytorch'.padStart(10)} ${'ratio'.padStart(7)} target   load`;
  console.log('load: the 1-minute load average when the row was measured (this machine has ' +
    `${allCores} cores; PyTorch's own foreign-core figures are in its JSON output)`);
  try {
    for (const threads of threadCounts) {
      trax.setNumThreads(threads);
      let ta: TorchA | null = null, tc: TorchA | null = null;
      if (tv) {
        try { ta = torchReverse(threads); } catch (e) { console.log(`PyTorch task A failed: ${(e as Error).message}`); }
        try { tc = torchChar(threads); } catch (e) { console.log(`PyTorch task C failed: ${(e as Error).message}`); }
      }
      for (const name of OPTS) {
        const ours = await reverseStepsPerSec(name);
        const ref = ta ? ta[name] : null;
        rows.push(`${`reverse task steps/s, ${name}`.padEnd(34)} ${String(threads).padStart(7)} ${fmt(ours).padStart(10)} ` +
          `${fmt(ref).padStart(10)} ${(ref ? (ours / ref).toFixed(2) + 'x' : '-').padStart(7)} >= 8x    ${foreignLoad()}`);
        console.log(rows.at(-1));
        const first = freshFirst100(name, threads);
        rows.push(`${`  steps 51-100, fresh process`.padEnd(34)} ${String(threads).padStart(7)} ${fmt(first).padStart(10)} ` +
          `${'-'.padStart(10)} ${((first / ours) * 100).toFixed(0).padStart(6)}% >= 90% of final    ${foreignLoad()}`);
        console.log(rows.at(-1));
        const eager = await reverseStepsPerSec(name, false);
        rows.push(`${`  without jit`.padEnd(34)} ${String(threads).padStart(7)} ${fmt(eager).padStart(10)} ` +
          `${fmt(ref).padStart(10)} ${(ref ? (eager / ref).toFixed(2) + 'x' : '-').padStart(7)}          ${foreignLoad()}`);
        console.log(rows.at(-1));
      }
      for (const name of OPTS) {
        const ours = await charTokensPerSec(name);
        const ref = tc ? tc[name] : null;
        rows.push(`${`char model tokens/s, ${name}`.padEnd(34)} ${String(threads).padStart(7)} ${fmt(ours, 0).padStart(10)} ` +
          `${fmt(ref, 0).padStart(10)} ${(ref ? (ours / ref).toFixed(2) + 'x' : '-').padStart(7)} >= 2x    ${foreignLoad()}`);
        console.log(rows.at(-1));
      }
    }
  } finally {
    trax.setNumThreads(before);
  }
  console.log(`\n${header}\n${rows.join('\n')}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const fresh = process.argv.indexOf('--fresh');
  (fresh > 0 ? freshChild(process.argv[fresh + 1] as OptName, Number(process.argv[fresh + 2] ?? 1)) : benchTrain())
    .catch((e) => { console.error(e); process.exit(1); });
}
