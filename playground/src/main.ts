// The page: forms, plots and results. All model work is in worker.ts.
import type { EvalPoint, InitResult, Reply, Request, TrainPoint } from './protocol.js';
import { drawPlot } from './plot.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (text: string) => { $('status').textContent = text; };

function showError(message: string): void {
  const el = $('error');
  el.textContent = message;
  el.hidden = false;
}
function clearError(): void { $('error').hidden = true; }

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
worker.onerror = (e) => showError(`The engine's worker failed: ${e.message || 'could not load worker.js'}`);

type Handlers = { onReply?: (r: Reply) => void };
let nextId = 1;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; on?: (r: Reply) => void }>();
worker.onmessage = (ev: MessageEvent<Reply>) => {
  const r = ev.data;
  const p = pending.get(r.id);
  if (!p) return;
  if (r.type === 'result') { pending.delete(r.id); p.resolve(r.value); } else if (r.type === 'error') { pending.delete(r.id); p.reject(new Error(r.message)); } else if (r.type === 'progress') status(r.message);
  else p.on?.(r);
};

type Without<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

function call<T>(req: Without<Request, 'id'>, h: Handlers = {}): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject, on: h.onReply });
    worker.postMessage({ ...req, id } as Request);
  });
}

function numbersOf(text: string): number[] {
  return text.split(/[\s,]+/).filter(Boolean).map(Number);
}

async function guarded(button: HTMLButtonElement, label: string, fn: () => Promise<void>): Promise<void> {
  clearError();
  button.disabled = true;
  status(label);
  try {
    await fn();
  } catch (e) {
    showError((e as Error).message);
    status('');
  } finally {
    button.disabled = false;
  }
}

// 1. Sort
$('sort-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  void guarded($('sort-run'), 'Sorting…', async () => {
    const out = await call<number[]>({ cmd: 'sort', numbers: numbersOf($<HTMLInputElement>('sort-input').value) });
    $('sort-output').textContent = `[${out.join(', ')}]`;
    status('Sorted with the pre-trained model.');
  });
});

// 2. Train, reverse, 3. attention
const lossPoints: { x: number; y: number }[] = [];
const accPoints: { x: number; y: number }[] = [];
const seqAccPoints: { x: number; y: number }[] = [];
let trainTotal = 1;
function redraw(): void {
  drawPlot($<HTMLCanvasElement>('loss-plot'), [{ name: 'loss', color: '#2b5fd9', points: lossPoints }], { yMin: 0, xMax: trainTotal });
  drawPlot($<HTMLCanvasElement>('acc-plot'), [
    { name: 'accuracy', color: '#1a8a4a', points: accPoints },
    { name: 'sequence accuracy', color: '#c2571a', points: seqAccPoints },
  ], { yMin: 0, yMax: 1, xMax: trainTotal });
}
redraw();
// Read by the browser tests (and handy in the console).
(window as unknown as { playground: unknown }).playground = { loss: lossPoints, accuracy: accPoints, sequenceAccuracy: seqAccPoints };

$('train-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const steps = Number($<HTMLInputElement>('train-steps').value);
  lossPoints.length = 0; accPoints.length = 0; seqAccPoints.length = 0;
  trainTotal = steps;
  redraw();
  $<HTMLButtonElement>('train-stop').disabled = false;
  $<HTMLButtonElement>('reverse-run').disabled = true;
  $<HTMLButtonElement>('train-download').disabled = true;
  const bar = $<HTMLProgressElement>('train-bar');
  void guarded($('train-run'), 'Training…', async () => {
    try {
      const res = await call<{ steps: number; seconds: number; stopped: boolean }>({ cmd: 'train', steps }, {
        onReply: (r) => {
          if (r.type !== 'train') return;
          r.points.forEach((p: TrainPoint) => lossPoints.push({ x: p.step, y: p.loss }));
          r.evals.forEach((e: EvalPoint) => { accPoints.push({ x: e.step, y: e.accuracy }); seqAccPoints.push({ x: e.step, y: e.sequenceAccuracy }); });
          bar.value = r.step / r.total;
          const last = lossPoints[lossPoints.length - 1];
          const acc = accPoints[accPoints.length - 1];
          $('train-progress').textContent = `step ${r.step} / ${r.total} · ${r.stepsPerSec.toFixed(1)} steps/s · loss ${last ? last.y.toFixed(3) : '–'}` +
            (acc ? ` · accuracy ${acc.y.toFixed(3)}` : '');
          $('train-progress').dataset.step = String(r.step);
          $('train-progress').dataset.loss = last ? String(last.y) : '';
          redraw();
        },
      });
      status(`${res.stopped ? 'Stopped after' : 'Trained'} ${res.steps} steps in ${res.seconds.toFixed(1)} s.`);
      trainTotal = Math.max(1, res.steps);
      redraw();
      $('train-progress').dataset.done = String(res.steps);
    } finally {
      $<HTMLButtonElement>('train-stop').disabled = true;
      $<HTMLButtonElement>('reverse-run').disabled = false;
      $<HTMLButtonElement>('train-download').disabled = false;
    }
  });
});

$('train-stop').addEventListener('click', () => { void call({ cmd: 'stop' }); });

$('train-download').addEventListener('click', () => {
  void guarded($('train-download'), 'Saving the checkpoint…', async () => {
    const bytes = await call<Uint8Array>({ cmd: 'download' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/gzip' }));
    a.download = 'reverse-model.pkl.gz';
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    status(`Saved reverse-model.pkl.gz (${bytes.length.toLocaleString()} bytes, Trax's format).`);
  });
});

$('reverse-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  void guarded($('reverse-run'), 'Reversing…', async () => {
    const r = await call<{ output: number[]; attention: string }>({ cmd: 'reverse', numbers: numbersOf($<HTMLInputElement>('reverse-input').value) });
    $('reverse-output').textContent = `[${r.output.join(', ')}]`;
    const box = $('attention-maps');
    box.classList.remove('muted');
    box.innerHTML = r.attention;
    status('Reversed with the model just trained.');
  });
});

// 4. Generate
$('gen-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const out = $('gen-output');
  out.textContent = '';
  const num = (id: string) => Number($<HTMLInputElement>(id).value);
  $<HTMLButtonElement>('gen-stop').disabled = false;
  void guarded($('gen-run'), 'Generating…', async () => {
    const prompt = $<HTMLInputElement>('gen-prompt').value;
    out.textContent = prompt;
    try {
      const r = await call<{ tokens: number; seconds: number }>({
        cmd: 'generate', prompt, temperature: num('gen-temperature'), topK: num('gen-topk'), length: num('gen-length'), seed: Date.now() % 100000,
      }, { onReply: (m) => { if (m.type === 'piece') out.textContent += m.text; } });
      $('gen-info').textContent = `${r.tokens} characters in ${r.seconds.toFixed(1)} s (${(r.tokens / r.seconds).toFixed(0)} characters/s)`;
      $('gen-info').dataset.tokens = String(r.tokens);
      status('Generated.');
    } finally {
      $<HTMLButtonElement>('gen-stop').disabled = true;
    }
  });
});
$('gen-stop').addEventListener('click', () => { void call({ cmd: 'stopGenerate' }); });

// Start: backend, diagram and summary; then enable the buttons.
const here = new URL('.', location.href);
const models = {
  sort: new URL('models/sort-transformer.pkl.gz', here).href,
  lmJson: new URL('models/moby-dick-char/lm.json', here).href,
  lmWeights: new URL('models/moby-dick-char/model.pkl.gz', here).href,
};
call<InitResult>({ cmd: 'init', models }).then((r) => {
  const badge = $('backend');
  badge.textContent = `backend: ${r.backend}${r.backend === 'js' ? ' (in a worker)' : ''}`;
  badge.dataset.backend = r.backend;
  badge.title = r.note;
  $('backend-note').textContent = r.note;
  $('diagram').innerHTML = r.diagram;
  $('summary').textContent = r.summary;
  for (const id of ['sort-run', 'train-run', 'gen-run']) $<HTMLButtonElement>(id).disabled = false;
  status('Ready.');
  document.body.dataset.ready = '1';
}, (e: Error) => showError(`Could not start the engine: ${e.message}`));

// Offline: a service worker keeps every file of the page once loaded.
if ('serviceWorker' in navigator && location.protocol !== 'file:') {
  navigator.serviceWorker.register(new URL('sw.js', here), { scope: here.pathname })
    .then(() => navigator.serviceWorker.ready)
    .then(() => { $('offline').textContent = 'works offline'; }, (e: Error) => { $('offline').title = `no offline copy: ${e.message}`; });
}
