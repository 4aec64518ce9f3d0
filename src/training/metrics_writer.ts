// The metrics history shared by Trainer and Loop: (step, value) pairs per mode
// and metric, kept in the checkpoint as Trax's history._values, and appended
// as JSON lines to outputDir/metrics.jsonl.
import { fs, path } from '../platform/host.js';

/** mode ('train', 'eval') -> metric name -> [step, value] pairs. */
export type History = Record<string, Record<string, [number, number][]>>;

export interface MetricRecord { step: number; mode: string; metric: string; value: number }

export const METRICS_FILE = 'metrics.jsonl';

export class MetricsWriter {
  history: History;

  /** outputDir null, or write false: history only, no metrics.jsonl. */
  constructor(private readonly outputDir: string | null, private readonly write = true, history: History = {}) {
    this.history = history;
  }

  record(step: number, mode: string, metric: string, value: number): void {
    ((this.history[mode] ??= {})[metric] ??= []).push([step, value]);
    if (this.outputDir && this.write) {
      fs.appendFileSync(path.join(this.outputDir, METRICS_FILE), JSON.stringify({ step, mode, metric, value }) + '\n');
    }
  }

  /** Replaces the history with a checkpoint's history._values (steps and values as numbers). */
  restore(checkpointHistory: unknown): void {
    const h = (checkpointHistory as { _values?: Record<string, Record<string, [unknown, unknown][]>> } | null)?._values;
    if (!h) return;
    this.history = {};
    for (const [mode, metrics] of Object.entries(h)) {
      this.history[mode] = {};
      for (const [k, v] of Object.entries(metrics)) this.history[mode][k] = v.map(([s, x]) => [Number(s), Number(x)]);
    }
  }

  /** The records of outputDir/metrics.jsonl, oldest first ([] when there is none). */
  static read(outputDir: string): MetricRecord[] {
    const p = path.join(outputDir, METRICS_FILE);
    if (!fs.existsSync(p)) return [];
    return fs.readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as MetricRecord);
  }
}
