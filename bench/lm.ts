// Char-level LM quality and speed against the PyTorch anchor (task L):
// nanoGPT's "baby" CPU configuration, trained by trainLM and by
// ../shared/anchors/torch/bench.py with the same text, seed and settings,
// one after the other, for each seed and thread count.
//
//   npm run bench:lm -- [--text FILE[.gz]] [--seeds 0,1,2] [--threads 2[,1]] [--steps 2000]
//                       [--no-torch] [--torch-results DIR] [--record bench/lm-results.md]
//
// Both sides draw the same training and evaluation windows (numpy's
// default_rng), so the gap between them comes from the models' random
// initial weights alone (JAX-style Threefry keys here, torch's generator there).
//
// Targets: the mean validation-loss gap over seeds within +-0.02 nats/char and
// no single seed off by more than 0.05; wall time at most half of PyTorch's
// (both from the first training step to the end, periodic evaluations
// included, the step-0 evaluation excluded). Other processes' CPU use during
// each run is reported beside it (foreign cores), as the anchor does.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { backendName, nativeUnavailableReason } from '../src/backends/index.js';
import { mobyDickPath } from '../src/data/text.js';
import { trainLM, type LMEvalRecord } from '../src/apps/lm/lm.js';
import { torchAnchorDir, torchVersion } from './anchor.js';

export interface LMSideResult {
  valLoss: number;
  trainLoss: number;
  wallS: number;
  tokensPerS: number;
  /** Cores other processes used on average during the run. */
  foreignCores: number | null;
  curve: { step: number; valLoss: number; trainLoss: number }[];
}

export interface LMBenchRun {
  seed: number;
  threads: number;
  ours: LMSideResult & { backend: string };
  torch: (LMSideResult & { version: string }) | null;
  torchError?: string;
  valLossDiff: number | null;
  wallRatio: number | null;
}

export interface LMBenchOptions {
  text?: string;
  seeds?: number[];
  threads?: number[];
  steps?: number;
  evalEvery?: number;
  torch?: boolean;
  /** Folder of anchor results to reuse (and to store new ones in), keyed by text, seed, threads and steps. */
  torchResults?: string;
  /** Markdown file to append the dated result table to. */
  record?: string;
  log?: (line: string) => void;
}

const here = dirname(fileURLToPath(import.meta.url));
// dist/bench/lm.js -> repository root is two levels up.
const repoRoot = resolve(here, '..', '..');

/** Busy and total jiffies of the whole machine (/proc/stat), or null off Linux. */
function cpuTicks(): { busy: number; total: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** Measures the cores used by other processes while fn runs in this one. */
async function withForeignLoad<T>(fn: () => Promise<T>): Promise<{ value: T; foreignCores: number | null }> {
  const hz = 100;
  const t0 = cpuTicks(), c0 = process.cpuUsage(), w0 = performance.now();
  const value = await fn();
  const t1 = cpuTicks(), c1 = process.cpuUsage(c0), wall = (performance.now() - w0) / 1000;
  if (!t0 || !t1 || wall <= 0) return { value, foreignCores: null };
  const allS = (t1.busy - t0.busy) / hz;
  const ownS = (c1.user + c1.system) / 1e6;
  return { value, foreignCores: Math.max(0, (allS - ownS) / wall) };
}

function runTorch(text: string, seed: number, threads: number, steps: number, evalEvery: number, cacheDir: string | null,
  log: (l: string) => void): NonNullable<LMBenchRun['torch']> {
  const script = join(torchAnchorDir(), 'bench.py');
  if (!existsSync(script)) throw new Error(`PyTorch anchor not found at ${script} (set TRAX_TORCH_ANCHOR)`);
  const key = `${basename(text).replace(/\.txt$/, '')}_s${seed}_t${threads}${steps === 2000 ? '' : `_n${steps}`}${evalEvery === 250 ? '' : `_e${evalEvery}`}`;
  const out = cacheDir ? join(cacheDir, key) : mkdtempSync(join(tmpdir(), 'trax-lm-anchor-'));
  const file = join(out, `L_t${threads}.json`);
  if (!(cacheDir && existsSync(file))) {
    const args = [script, '--task', 'L', '--text', text, '--threads', String(threads), '--seed', String(seed),
      '--steps', String(steps), '--eval-every', String(evalEvery), '--wait-quiet', '0', '--out', out];
    log(`torch: python3 ${args.join(' ')}`);
    const r = spawnSync('python3', args, { encoding: 'utf8', maxBuffer: 64 << 20, cwd: repoRoot });
    for (const line of (r.stdout ?? '').split('\n')) if (line.startsWith('[L]')) log(`torch: ${line}`);
    if (r.status !== 0) throw new Error(`bench.py exited with ${r.status}: ${(r.stderr ?? '').slice(-2000)}`);
  } else log(`torch: reusing ${file}`);
  const res = JSON.parse(readFileSync(file, 'utf8')) as {
    summary: { val_loss: number; train_loss: number; wall_s: number; tokens_per_s: number; torch: string; foreign_cores: number;
      config: { seed: number; steps: number } };
    evals: { step: number; val_loss: number; train_loss: number }[];
  };
  const s = res.summary;
  if (s.config.seed !== seed || s.config.steps !== steps) throw new Error(`${file} is for seed ${s.config.seed}, ${s.config.steps} steps`);
  return {
    valLoss: s.val_loss, trainLoss: s.train_loss, wallS: s.wall_s, tokensPerS: s.tokens_per_s, version: s.torch,
    foreignCores: s.foreign_cores, curve: res.evals.map((e) => ({ step: e.step, valLoss: e.val_loss, trainLoss: e.train_loss })),
  };
}

/** A plain UTF-8 file for both sides: .gz texts are unpacked to a temporary file. */
function plainText(file: string): string {
  if (!file.endsWith('.gz')) return resolve(file);
  const dir = mkdtempSync(join(tmpdir(), 'trax-lm-text-'));
  const out = join(dir, basename(file, '.gz'));
  writeFileSync(out, gunzipSync(readFileSync(file)));
  return out;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]): number => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)));
const signed = (x: number, d = 4): string => `${x >= 0 ? '+' : ''}${x.toFixed(d)}`;
const fc = (x: number | null): string => (x === null ? '-' : x.toFixed(2));

/** Runs ours and (when torch is installed) the anchor for each thread count and seed; prints and returns the comparison. */
export async function benchLM(opts: LMBenchOptions = {}): Promise<LMBenchRun[]> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const threadsList = opts.threads ?? [Math.max(1, cpus().length)];
  const seeds = opts.seeds ?? [0];
  const steps = opts.steps ?? 2000;
  const evalEvery = opts.evalEvery ?? 250;
  const text = opts.text ? plainText(opts.text) : mobyDickPath();
  const textName = opts.text ? basename(opts.text) : 'moby-dick';
  const torch = opts.torch === false ? null : torchVersion();
  if (opts.torch !== false && !torch) log('torch: not installed (apt-get install -y python3-torch); reporting ours only');
  if (backendName() !== 'native') log(`bench:lm: WARNING: not on the native backend (${nativeUnavailableReason() ?? 'selected explicitly'}): times are not representative`);
  log(`bench:lm: backend ${backendName()}, ${cpus().length} CPUs, ${steps} steps, text ${textName}, seeds ${seeds.join(',')}`);
  if (opts.torchResults) mkdirSync(opts.torchResults, { recursive: true });
  const runs: LMBenchRun[] = [];
  for (const threads of threadsList) {
    for (const seed of seeds) {
      const { value: r, foreignCores } = await withForeignLoad(() => trainLM({
        text, tokenizer: 'char', seqLen: 64, batchSize: 12, dModel: 128, dFF: 512, nLayers: 4, nHeads: 4,
        dropout: 0, steps, lr: 1e-3, optimizer: 'adam', evalEvery, evalBatches: 20, seed, sampleLength: 0,
        threads, log: (l) => log(`ours: ${l}`),
      }));
      // Wall time as the anchor counts it: from the first step to the end, periodic evaluations included.
      const wallS = r.evals[r.evals.length - 1].elapsedS - r.evals[0].elapsedS;
      const run: LMBenchRun = {
        seed, threads,
        ours: {
          valLoss: r.valLoss, trainLoss: r.trainLoss, wallS, tokensPerS: r.tokensPerS, backend: backendName(), foreignCores,
          curve: r.evals.map((e: LMEvalRecord) => ({ step: e.step, valLoss: e.valLoss, trainLoss: e.trainLoss })),
        },
        torch: null, valLossDiff: null, wallRatio: null,
      };
      if (torch) {
        try {
          run.torch = runTorch(text, seed, threads, steps, evalEvery, opts.torchResults ?? null, log);
          run.valLossDiff = run.ours.valLoss - run.torch.valLoss;
          run.wallRatio = run.ours.wallS / run.torch.wallS;
        } catch (e) {
          run.torchError = (e as Error).message;
          log(`torch: failed: ${run.torchError}`);
        }
      }
      runs.push(run);
    }
  }
  const lines = report(runs, textName, steps);
  log('');
  for (const l of lines) log(l);
  const dir = join(tmpdir(), 'trax-ts-bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `lm_${textName.replace(/\W+/g, '_')}_${threadsList.join('-')}t.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), text: textName, steps, runs }, null, 1));
  log(`wrote ${file}`);
  if (opts.record) {
    appendFileSync(opts.record, [`### ${textName}, ${steps} steps (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)`, '', ...lines, ''].join('\n') + '\n');
    log(`appended to ${opts.record}`);
  }
  return runs;
}

/** The markdown table: one row per run, then the mean gap and its spread per thread count. */
export function report(runs: LMBenchRun[], textName: string, steps: number): string[] {
  const out: string[] = [];
  out.push(`| threads | seed | val ours | val PyTorch | gap | train ours | train PyTorch | wall s ours | wall s PyTorch | ratio | foreign cores ours / PyTorch |`);
  out.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of runs) {
    const t = r.torch;
    out.push(`| ${r.threads} | ${r.seed} | ${r.ours.valLoss.toFixed(4)} | ${t ? t.valLoss.toFixed(4) : '-'} | ` +
      `${r.valLossDiff !== null ? signed(r.valLossDiff) : '-'} | ${r.ours.trainLoss.toFixed(4)} | ${t ? t.trainLoss.toFixed(4) : '-'} | ` +
      `${r.ours.wallS.toFixed(1)} | ${t ? t.wallS.toFixed(1) : '-'} | ${r.wallRatio !== null ? `${r.wallRatio.toFixed(2)}x` : '-'} | ` +
      `${fc(r.ours.foreignCores)} / ${fc(t ? t.foreignCores : null)} |`);
  }
  out.push('');
  for (const threads of [...new Set(runs.map((r) => r.threads))]) {
    const rs = runs.filter((r) => r.threads === threads && r.valLossDiff !== null);
    if (!rs.length) continue;
    const gaps = rs.map((r) => r.valLossDiff!);
    const ratios = rs.map((r) => r.wallRatio!);
    const m = mean(gaps), worst = gaps.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a), 0);
    out.push(`${textName}, ${steps} steps, ${threads} thread${threads > 1 ? 's' : ''}, ${rs.length} seed${rs.length > 1 ? 's' : ''}: ` +
      `mean gap ${signed(m)} (sd ${sd(gaps).toFixed(4)}, range ${signed(Math.min(...gaps))} .. ${signed(Math.max(...gaps))}) ` +
      `${Math.abs(m) <= 0.02 ? 'ok' : 'MISS'} (target |mean| <= 0.02); largest ${signed(worst)} ${Math.abs(worst) <= 0.05 ? 'ok' : 'MISS'} (target <= 0.05); ` +
      `wall ratio ${mean(ratios).toFixed(2)}x (range ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})` +
      (threads >= 2 ? ` ${mean(ratios) <= 0.5 ? 'ok' : 'MISS'} (target <= 0.5 on 2 threads)` : ' (reported; the target is for 2 threads)'));
  }
  return out;
}

function parseList(v: string | undefined, what: string): number[] {
  const xs = (v ?? '').split(',').map(Number);
  if (!xs.length || xs.some((x) => !Number.isInteger(x) || x < 0)) throw new Error(`${what} takes non-negative integers separated by commas, e.g. 0,1,2`);
  return xs;
}

function parseArgs(argv: string[]): LMBenchOptions {
  const o: LMBenchOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--threads') o.threads = parseList(argv[++i], '--threads');
    else if (a === '--seeds') o.seeds = parseList(argv[++i], '--seeds');
    else if (a === '--text') o.text = argv[++i];
    else if (a === '--steps') o.steps = Number(argv[++i]);
    else if (a === '--eval-every') o.evalEvery = Number(argv[++i]);
    else if (a === '--no-torch') o.torch = false;
    else if (a === '--torch-results') o.torchResults = argv[++i];
    else if (a === '--record') o.record = argv[++i];
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench:lm -- [--text FILE[.gz]] [--seeds 0,1,2] [--threads 1[,2]] [--steps 2000] [--eval-every 250]\n' +
        '                      [--no-torch] [--torch-results DIR] [--record FILE.md]');
      process.exit(0);
    } else throw new Error(`bench:lm: unknown argument ${a}`);
  }
  if (o.threads && o.threads.some((t) => t < 1)) throw new Error('--threads takes positive integers, e.g. 1,2');
  if (o.text !== undefined && !existsSync(o.text)) throw new Error(`--text: no file at ${o.text}`);
  if (o.steps !== undefined && (!Number.isInteger(o.steps) || o.steps < 1)) throw new Error('--steps takes a positive integer');
  if (o.evalEvery !== undefined && (!Number.isInteger(o.evalEvery) || o.evalEvery < 1)) throw new Error('--eval-every takes a positive integer');
  return o;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchLM(parseArgs(process.argv.slice(2))).catch((e: unknown) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
