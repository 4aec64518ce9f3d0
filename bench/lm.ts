// Char-level LM quality and speed against the PyTorch anchor (task L):
// nanoGPT's "baby" CPU configuration on Moby-Dick, trained by trainLM and by
// ../shared/anchors/torch/bench.py in the same run, one after the other.
//
//   npm run bench:lm [-- --threads 1,2] [--steps 2000] [--no-torch]
//
// By default both run on every core of the machine (PyTorch's default and
// ours); --threads 1,2 adds the single-thread comparison.
//
// Targets: validation loss within 0.03 nats of PyTorch's; wall time at most
// half of PyTorch's (both from the first training step to the end, periodic
// evaluations included, the step-0 evaluation excluded).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendName, nativeUnavailableReason } from '../src/backends/index.js';
import { mobyDickPath } from '../src/data/text.js';
import { trainLM, type LMEvalRecord } from '../src/apps/lm/lm.js';
import { torchAnchorDir, torchVersion } from './anchor.js';

export interface LMBenchRun {
  threads: number;
  ours: { valLoss: number; trainLoss: number; wallS: number; tokensPerS: number; backend: string; evals: LMEvalRecord[] };
  torch: { valLoss: number; trainLoss: number; wallS: number; tokensPerS: number; version: string; foreignCores: number } | null;
  torchError?: string;
  valLossDiff: number | null;
  wallRatio: number | null;
}

export interface LMBenchOptions {
  threads?: number[];
  steps?: number;
  torch?: boolean;
  log?: (line: string) => void;
}

const here = dirname(fileURLToPath(import.meta.url));
// dist/bench/lm.js -> repository root is two levels up.
const repoRoot = resolve(here, '..', '..');

function runTorch(text: string, threads: number, steps: number, log: (l: string) => void): NonNullable<LMBenchRun['torch']> {
  const script = join(torchAnchorDir(), 'bench.py');
  if (!existsSync(script)) throw new Error(`PyTorch anchor not found at ${script} (set TRAX_TORCH_ANCHOR)`);
  const out = mkdtempSync(join(tmpdir(), 'trax-lm-anchor-'));
  const args = [script, '--task', 'L', '--text', text, '--threads', String(threads), '--steps', String(steps), '--out', out];
  log(`torch: python3 ${args.join(' ')}`);
  const r = spawnSync('python3', args, { encoding: 'utf8', maxBuffer: 64 << 20, cwd: repoRoot });
  for (const line of (r.stdout ?? '').split('\n')) if (line.startsWith('[L]')) log(`torch: ${line}`);
  if (r.status !== 0) throw new Error(`bench.py exited with ${r.status}: ${(r.stderr ?? '').slice(-2000)}`);
  const lines = r.stdout.trim().split('\n');
  const summary = JSON.parse(lines[lines.length - 1]) as {
    val_loss: number; train_loss: number; wall_s: number; tokens_per_s: number; torch: string; foreign_cores: number;
  };
  return {
    valLoss: summary.val_loss, trainLoss: summary.train_loss, wallS: summary.wall_s, tokensPerS: summary.tokens_per_s,
    version: summary.torch, foreignCores: summary.foreign_cores,
  };
}

/** Runs ours and (when torch is installed) the anchor for each thread count; prints and returns the comparison. */
export async function benchLM(opts: LMBenchOptions = {}): Promise<LMBenchRun[]> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const threadsList = opts.threads ?? [Math.max(1, cpus().length)];
  const steps = opts.steps ?? 2000;
  const text = mobyDickPath();
  const torch = opts.torch === false ? null : torchVersion();
  if (opts.torch !== false && !torch) log('torch: not installed (apt-get install -y python3-torch); reporting ours only');
  if (backendName() !== 'native') log(`bench:lm: WARNING: not on the native backend (${nativeUnavailableReason() ?? 'selected explicitly'}): times are not representative`);
  log(`bench:lm: backend ${backendName()}, ${cpus().length} CPUs, ${steps} steps, text ${text}`);
  const runs: LMBenchRun[] = [];
  for (const threads of threadsList) {
    const r = await trainLM({
      corpus: 'moby-dick', tokenizer: 'char', seqLen: 64, batchSize: 12, dModel: 128, dFF: 512, nLayers: 4, nHeads: 4,
      dropout: 0, steps, lr: 1e-3, optimizer: 'adam', evalEvery: 250, evalBatches: 20, seed: 0, sampleLength: 0,
      threads, log: (l) => log(`ours: ${l}`),
    });
    // Wall time as the anchor counts it: from the first step to the end, periodic evaluations included.
    const wallS = r.evals[r.evals.length - 1].elapsedS - r.evals[0].elapsedS;
    const run: LMBenchRun = {
      threads,
      ours: { valLoss: r.valLoss, trainLoss: r.trainLoss, wallS, tokensPerS: r.tokensPerS, backend: backendName(), evals: r.evals },
      torch: null, valLossDiff: null, wallRatio: null,
    };
    if (torch) {
      try {
        run.torch = runTorch(text, threads, steps, log);
        run.valLossDiff = run.ours.valLoss - run.torch.valLoss;
        run.wallRatio = run.ours.wallS / run.torch.wallS;
      } catch (e) {
        run.torchError = (e as Error).message;
        log(`torch: failed: ${run.torchError}`);
      }
    }
    runs.push(run);
  }
  log('');
  log('| threads | val loss ours | val loss PyTorch | diff (target |d| <= 0.03) | wall s ours | wall s PyTorch | ratio (target <= 0.5) | tokens/s ours / PyTorch |');
  log('|---|---|---|---|---|---|---|---|');
  for (const r of runs) {
    const t = r.torch;
    const ok = (b: boolean) => (b ? 'ok' : 'MISS');
    log(`| ${r.threads} | ${r.ours.valLoss.toFixed(4)} | ${t ? t.valLoss.toFixed(4) : '-'} | ` +
      `${r.valLossDiff !== null ? `${r.valLossDiff >= 0 ? '+' : ''}${r.valLossDiff.toFixed(4)} ${ok(Math.abs(r.valLossDiff) <= 0.03)}` : '-'} | ` +
      `${r.ours.wallS.toFixed(1)} | ${t ? t.wallS.toFixed(1) : '-'} | ` +
      `${r.wallRatio !== null ? `${r.wallRatio.toFixed(2)}x ${ok(r.wallRatio <= 0.5)}` : '-'} | ` +
      `${Math.round(r.ours.tokensPerS)} / ${t ? Math.round(t.tokensPerS) : '-'} |`);
  }
  const dir = join(tmpdir(), 'trax-ts-bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `lm_${threadsList.join('-')}t.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), steps, runs }, null, 1));
  log(`wrote ${file}`);
  return runs;
}

function parseArgs(argv: string[]): LMBenchOptions {
  const o: LMBenchOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--threads') o.threads = argv[++i].split(',').map(Number);
    else if (a === '--steps') o.steps = Number(argv[++i]);
    else if (a === '--no-torch') o.torch = false;
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench:lm [-- --threads 1[,2]] [--steps 2000] [--no-torch]');
      process.exit(0);
    } else throw new Error(`bench:lm: unknown argument ${a}`);
  }
  if (o.threads && o.threads.some((t) => !Number.isInteger(t) || t < 1)) throw new Error('--threads takes positive integers, e.g. 1,2');
  if (o.steps !== undefined && (!Number.isInteger(o.steps) || o.steps < 1)) throw new Error('--steps takes a positive integer');
  return o;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchLM(parseArgs(process.argv.slice(2))).catch((e: unknown) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
