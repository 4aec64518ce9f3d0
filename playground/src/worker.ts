// The engine's thread: every model runs here, so the page never blocks.
// Sorting and text generation run on WebGPU when the browser offers an
// adapter, otherwise on the js backend; training (and the trained model's
// reversal, attention and download) runs on js, because the Trainer reads each
// step's loss synchronously, which a GPU backend cannot answer yet. Commands
// run one at a time (each selects its backend); Stop messages act at once.
import * as trax from 'trax-ts';
import type { EvalPoint, InitResult, ModelUrls, Reply, Request, TrainPoint } from './protocol.js';

type Layer = ReturnType<typeof trax.models.TransformerLM>;
type Mode = Parameters<typeof trax.models.TransformerLM>[0] extends infer O ? O extends { mode?: infer M } ? NonNullable<M> : never : never;

const QUICKSTART = { vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2 };
const ONE_TOKEN = trax.shapes.ShapeDtype([1, 1], 'int32');
const post = (m: Reply, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

let models: ModelUrls;
let sortModel: Layer | null = null;
let lm: Awaited<ReturnType<typeof trax.supervised.loadLMFromUrl>> | null = null;
let trainer: InstanceType<typeof trax.supervised.Trainer> | null = null;
let stopTraining = false;
let stopGenerating = false;
let inferenceBackend = 'js';

async function chooseBackend(): Promise<{ backend: string; note: string }> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  let note = '';
  if (gpu) {
    try {
      if (await gpu.requestAdapter()) {
        // The webgpu backend registers itself when it is part of the build; otherwise this throws.
        await trax.setBackend('webgpu');
        inferenceBackend = trax.backendName();
        return { backend: inferenceBackend, note: 'sorting and text generation run on webgpu; training runs on js (the Trainer needs synchronous reads)' };
      }
      note = 'WebGPU is present but offered no adapter; using the js backend';
    } catch (e) {
      note = `WebGPU unavailable (${(e as Error).message}); using the js backend`;
    }
  } else {
    note = 'this browser has no WebGPU; using the js backend in a worker';
  }
  await trax.setBackend('js');
  return { backend: trax.backendName(), note };
}

function parseInts(values: number[], what: string, lo: number, hi: number): number[] {
  if (values.length !== 4 || values.some((v) => !Number.isInteger(v) || v < lo || v > hi)) {
    throw new Error(`${what}: type four whole numbers from ${lo} to ${hi}, separated by commas or spaces`);
  }
  return values;
}

async function greedy(model: Layer, numbers: number[]): Promise<number[]> {
  // These tasks have no end token: Trax's default eosId (1) would stop at a typed 1.
  const out = await trax.supervised.decoding.autoregressiveSample(model, [[0, ...numbers, 0]], { temperature: 0, maxLength: 4, eosId: -1 });
  return Array.from(await out.data() as ArrayLike<number>);
}

const reverseModel = (mode: Mode) => trax.models.TransformerLM({ ...QUICKSTART, dropout: 0, mode });

async function handle(req: Request): Promise<unknown> {
  switch (req.cmd) {
    case 'init': {
      models = req.models;
      const chosen = await chooseBackend();
      const m = trax.models.TransformerLM({ ...QUICKSTART });
      m.init(trax.shapes.ShapeDtype([1, 10], 'int32'));
      const result: InitResult = {
        ...chosen, platform: trax.platformName,
        diagram: trax.viz.modelDiagramSvg(m), summary: trax.viz.formatSummary(m),
      };
      return result;
    }
    case 'sort': {
      await trax.setBackend(inferenceBackend);
      const numbers = parseInts(req.numbers, 'Sort', 1, 30);
      if (!sortModel) {
        post({ id: req.id, type: 'progress', message: 'Fetching the pre-trained sort model…' });
        const m = trax.models.TransformerLM({ ...QUICKSTART, mode: 'predict' });
        await m.initFromFile(new URL(models.sort), { weightsOnly: true, inputSignature: ONE_TOKEN });
        sortModel = m;
      }
      return greedy(sortModel, numbers);
    }
    case 'train': await trax.setBackend('js'); return train(req.id, req.steps);
    case 'stop': stopTraining = true; return null;
    case 'reverse': {
      await trax.setBackend('js');
      const numbers = parseInts(req.numbers, 'Reverse', 1, 30);
      if (!trainer) throw new Error('Train the model first');
      const m = reverseModel('predict');
      // Through bytes, as a download would go: the trained weights in Trax's format.
      await m.initFromBytes(await trainer.model.saveToBytes({ weightsOnly: true, format: 'pkl' }), { weightsOnly: true, inputSignature: ONE_TOKEN });
      const out = await greedy(m, numbers);
      const input = [0, ...numbers, 0, ...out];
      const maps = await trax.viz.captureAttention(reverseModel, [input], { weights: trainer.modelWeights });
      const svg = trax.viz.attentionMapsSvg(maps, { columns: 4, cellSize: 14, title: `Input ${input.join(' ')}` });
      return { output: out, attention: svg };
    }
    case 'download': {
      await trax.setBackend('js');
      if (!trainer) throw new Error('Train the model first');
      const bytes = await trainer.model.saveToBytes({ weightsOnly: true, inputSignature: ONE_TOKEN });
      post({ id: req.id, type: 'result', value: bytes }, [bytes.buffer as ArrayBuffer]);
      return undefined;
    }
    case 'generate': return generate(req);
    case 'stopGenerate': stopGenerating = true; return null;
  }
}

async function train(id: number, steps: number): Promise<unknown> {
  if (!Number.isInteger(steps) || steps < 1) throw new Error('steps must be a positive whole number');
  stopTraining = false;
  trainer = new trax.supervised.Trainer({
    model: reverseModel, lossFn: trax.layers.CrossEntropyLoss(), optimizer: trax.optimizers.Adam,
    lrSchedule: trax.lr.warmupAndRsqrtDecay(50, 0.01),
    inputs: new trax.data.Inputs(() => trax.data.reverseIntsTask(16, { seed: 1 }), () => trax.data.reverseIntsTask(16, { seed: 2 })),
    randomSeed: 0, log: () => {},
  });
  const t0 = performance.now();
  let lastReport = t0, reportedSteps = 0, reportStart = t0;
  let points: TrainPoint[] = [], evals: EvalPoint[] = [];
  for (let step = 0; step < steps && !stopTraining;) {
    const chunk = Math.min(10, steps - step);
    for (let i = 0; i < chunk; i++) points.push({ step: step + i + 1, loss: await trainer.trainStep() });
    step += chunk;
    if (step % 50 === 0 || step === steps) {
      const r = await trainer.evaluate(1);
      evals.push({ step, accuracy: r['eval']['accuracy'], sequenceAccuracy: r['eval']['sequence_accuracy'], evalLoss: r['eval']['loss'] });
    }
    const now = performance.now();
    if (now - lastReport > 150 || step === steps || evals.length) {
      const sps = (step - reportedSteps) / ((now - reportStart) / 1000);
      post({ id, type: 'train', points, evals, stepsPerSec: sps, step, total: steps });
      points = []; evals = [];
      lastReport = now;
      if (now - reportStart > 2000) { reportStart = now; reportedSteps = step; }
    }
    // Let a Stop message in.
    await new Promise((r) => setTimeout(r, 0));
  }
  return { steps: trainer.step, seconds: (performance.now() - t0) / 1000, stopped: stopTraining };
}

async function generate(req: Extract<Request, { cmd: 'generate' }>): Promise<unknown> {
  await trax.setBackend(inferenceBackend);
  stopGenerating = false;
  if (!lm) {
    post({ id: req.id, type: 'progress', message: 'Fetching the character model…' });
    lm = await trax.supervised.loadLMFromUrl(new URL(models.lmJson), new URL(models.lmWeights));
  }
  const t0 = performance.now();
  let n = 0;
  for await (const piece of trax.supervised.generateText({
    checkpoint: lm, prompt: req.prompt, length: req.length, temperature: req.temperature,
    topK: req.topK > 0 ? req.topK : undefined, seed: req.seed,
  })) {
    post({ id: req.id, type: 'piece', text: piece });
    n++;
    await new Promise((r) => setTimeout(r, 0));
    if (stopGenerating) break;
  }
  return { tokens: n, seconds: (performance.now() - t0) / 1000 };
}

async function run(req: Request): Promise<void> {
  try {
    const value = await handle(req);
    if (value !== undefined) post({ id: req.id, type: 'result', value });
  } catch (e) {
    post({ id: req.id, type: 'error', message: (e as Error).message ?? String(e) });
  }
}

let queue: Promise<void> = Promise.resolve();
self.onmessage = (ev: MessageEvent<Request>) => {
  const req = ev.data;
  if (req.cmd === 'stop' || req.cmd === 'stopGenerate') { void run(req); return; }
  queue = queue.then(() => run(req));
};
