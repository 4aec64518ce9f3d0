// The metrics history shared by Trainer and Loop: (step, value) pairs per mode
// and metric, kept in the checkpoint as Trax's history._values, and appended
// as JSON lines to outputDir/metrics.jsonl (cut back to the resumed step on
// resume, so a killed run never leaves duplicate lines).
import { fs, path } from '../platform/host.js';
import { trimMetrics } from '../io/run_folder.js';

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

  /**
   * On resume: drops the lines of outputDir/metrics.jsonl for steps after the
   * resumed one (written after the checkpoint, before a kill), whoever wrote them.
   */
  cutBack(step: number): void {
    if (this.outputDir) trimMetrics(this.outputDir, step, METRICS_FILE);
  }

  /** The records of outputDir/metrics.jsonl, oldest first ([] when there is none). */
  static read(outputDir: string): MetricRecord[] {
    const p = path.join(outputDir, METRICS_FILE);
    if (!fs.existsSync(p)) return [];
    // A line cut short by a kill is skipped (the next resume drops it).
    const out: MetricRecord[] = [];
    for (const l of fs.readFileSync(p, 'utf8').split('\n')) {
      if (!l) continue;
      try { out.push(JSON.parse(l) as MetricRecord); } catch { /* torn line */ }
    }
    return out;
  }
}
