// Terminal sparklines: a series in one line of block characters.
import { historySeries, type HistoryInput } from './curves.js';

const BARS = '▁▂▃▄▅▆▇█';

/**
 * sparkline(values, {width}): one block character per value (or per bucket,
 * averaged, when there are more values than width). NaN/Infinity show as ' '.
 */
export function sparkline(values: readonly number[], opts: { width?: number; min?: number; max?: number } = {}): string {
  const width = Math.max(1, opts.width ?? 48);
  let vals = values.slice();
  if (vals.length > width) {
    const out: number[] = [];
    for (let i = 0; i < width; i++) {
      const a = Math.floor((i * vals.length) / width), b = Math.max(a + 1, Math.floor(((i + 1) * vals.length) / width));
      const chunk = vals.slice(a, b).filter(Number.isFinite);
      out.push(chunk.length ? chunk.reduce((s, v) => s + v, 0) / chunk.length : NaN);
    }
    vals = out;
  }
  const finite = vals.filter(Number.isFinite);
  if (finite.length === 0) return ' '.repeat(vals.length);
  const lo = opts.min ?? Math.min(...finite), hi = opts.max ?? Math.max(...finite);
  return vals.map((v) => {
    if (!Number.isFinite(v)) return ' ';
    // A flat series sits in the middle rather than looking like all-minimum.
    if (hi === lo) return BARS[3];
    const t = Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
    return BARS[Math.round(t * (BARS.length - 1))];
  }).join('');
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(4);
}

/**
 * Lines for the end of `trax-ts train`: loss, accuracy and learning rate as
 * 'metric (mode)  first ▇▅▃▂▁ last'.
 */
export function trainingSparklines(history: HistoryInput, opts: { width?: number; metrics?: string[] } = {}): string {
  const want = opts.metrics ?? ['metrics/loss', 'metrics/accuracy', 'metrics/sequence_accuracy', 'training/loss', 'training/learning_rate'];
  const series = historySeries(history).filter((s) => want.includes(s.metric))
    .sort((a, b) => want.indexOf(a.metric) - want.indexOf(b.metric) || a.mode.localeCompare(b.mode));
  if (series.length === 0) return '';
  // training/loss is the last train batch's loss, apart from the evaluated metrics/loss.
  const labels = series.map((s) => `${s.metric === 'training/loss' ? 'batch loss' : s.metric.replace(/^(metrics|training)\//, '')} (${s.mode})`);
  const lw = Math.max(...labels.map((l) => l.length));
  const firsts = series.map((s) => fmt(s.points[0][1]));
  const fw = Math.max(...firsts.map((f) => f.length));
  return series.map((s, i) => {
    const ys = s.points.map((p) => p[1]);
    return `${labels[i].padEnd(lw)}  ${firsts[i].padStart(fw)} ${sparkline(ys, { width: opts.width })} ${fmt(ys[ys.length - 1])}`;
  }).join('\n');
}
