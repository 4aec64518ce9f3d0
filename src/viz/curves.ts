// Training curves from the metrics history that training writes
// (outputDir/metrics.jsonl): loss, accuracy and learning rate against steps,
// train and eval, as an SVG. Scales and nice ticks come from d3-scale, line
// paths from d3-shape.
import { scaleLinear } from 'd3-scale';
import { line } from 'd3-shape';
import { MONO, SANS, el, svgDoc, text } from './svg.js';

export interface MetricRecord { step: number; mode: string; metric: string; value: number }

/** What the curves accept: metrics.jsonl records, or Trainer.historyValues ({mode: {metric: [[step, value]]}}). */
export type HistoryInput = readonly MetricRecord[] | Record<string, Record<string, readonly (readonly [number, number])[]>>;

export interface Series { mode: string; metric: string; points: [number, number][] }

/** Groups a history into one series per (mode, metric), sorted by step. */
export function historySeries(history: HistoryInput): Series[] {
  const map = new Map<string, Series>();
  const add = (mode: string, metric: string, step: number, value: number) => {
    const key = `${mode}\u0000${metric}`;
    let s = map.get(key);
    if (!s) map.set(key, s = { mode, metric, points: [] });
    s.points.push([Number(step), Number(value)]);
  };
  if (Array.isArray(history)) for (const r of history as readonly MetricRecord[]) add(r.mode, r.metric, r.step, r.value);
  else {
    for (const [mode, metrics] of Object.entries(history as Record<string, Record<string, readonly (readonly [number, number])[]>>)) {
      for (const [metric, pts] of Object.entries(metrics)) for (const [s, v] of pts) add(mode, metric, s, v);
    }
  }
  for (const s of map.values()) {
    // A resumed run can repeat steps: keep the last value written for a step.
    const byStep = new Map<number, number>();
    for (const [st, v] of s.points) byStep.set(st, v);
    s.points = [...byStep.entries()].sort((a, b) => a[0] - b[0]);
  }
  return [...map.values()];
}

interface PanelSpec { title: string; metrics: string[]; yDomain?: [number, number] }

const PANELS: PanelSpec[] = [
  { title: 'Loss', metrics: ['metrics/loss', 'training/loss'] },
  { title: 'Accuracy', metrics: ['metrics/accuracy', 'metrics/sequence_accuracy'], yDomain: [0, 1] },
  { title: 'Learning rate', metrics: ['training/learning_rate'] },
];

const MODE_COLOR: Record<string, string> = { train: '#2563eb', eval: '#ea580c' };
const EXTRA_COLORS = ['#16a34a', '#9333ea', '#0891b2', '#be123c'];

export interface CurvesOptions {
  /** Width of one panel. Default 330. */
  panelWidth?: number;
  panelHeight?: number;
  title?: string;
}

function shortName(metric: string): string {
  // training/loss is the last train batch's loss, not the evaluated metrics/loss.
  if (metric === 'training/loss') return 'batch loss';
  return metric.replace(/^(metrics|training)\//, '').replace(/_/g, ' ');
}

/**
 * trainingCurvesSvg(history): panels for loss, accuracy and learning rate
 * (those with data), train in blue, eval in orange. Each series is one
 * <path class="series" data-metric data-mode>.
 */
export function trainingCurvesSvg(history: HistoryInput, opts: CurvesOptions = {}): string {
  const series = historySeries(history);
  const pw = opts.panelWidth ?? 330, ph = opts.panelHeight ?? 250;
  const maxSeries = Math.max(1, ...PANELS.map((p) => series.filter((s) => p.metrics.includes(s.metric)).length));
  const m = { l: 54, r: 12, t: 28, b: 46 + 15 * maxSeries };
  const margin = 12, titleH = opts.title ? 26 : 0;
  const panels = PANELS.map((p) => ({ ...p, series: series.filter((s) => p.metrics.includes(s.metric)) })).filter((p) => p.series.length);
  if (panels.length === 0) {
    const msg = 'No metrics recorded yet (train with an output directory to write metrics.jsonl).';
    return svgDoc(520, 60, el('rect', { x: 0, y: 0, width: 520, height: 60, fill: '#ffffff' }) + text(16, 34, msg, { 'font-family': SANS, 'font-size': 13, fill: '#475569' }), { class: 'trax-training-curves' });
  }
  const width = margin * 2 + panels.length * pw, height = margin * 2 + titleH + ph - 64 + m.b;
  const parts: string[] = [el('rect', { x: 0, y: 0, width, height, fill: '#ffffff' })];
  if (opts.title) parts.push(text(margin, margin + 15, opts.title, { 'font-family': SANS, 'font-size': 15, 'font-weight': 'bold', fill: '#0f172a' }));
  const allSteps = series.flatMap((s) => s.points.map((p) => p[0]));
  const stepMin = Math.min(...allSteps), stepMax = Math.max(...allSteps);
  panels.forEach((p, pi) => {
    const x0 = margin + pi * pw, y0 = margin + titleH;
    const iw = pw - m.l - m.r, ih = ph - 64 - m.t;
    const x = scaleLinear().domain(stepMin === stepMax ? [stepMin - 1, stepMax + 1] : [stepMin, stepMax]).range([x0 + m.l, x0 + m.l + iw]).nice();
    const ys = p.series.flatMap((s) => s.points.map((q) => q[1])).filter(Number.isFinite);
    let lo = Math.min(...ys), hi = Math.max(...ys);
    if (p.yDomain) { lo = Math.min(lo, p.yDomain[0]); hi = Math.max(hi, p.yDomain[1]); }
    if (p.title === 'Loss' || p.title === 'Learning rate') lo = Math.min(0, lo);
    if (lo === hi) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; }
    const y = scaleLinear().domain([lo, hi]).range([y0 + m.t + ih, y0 + m.t]).nice();
    const g: string[] = [];
    g.push(text(x0 + m.l, y0 + 16, p.title, { 'font-family': SANS, 'font-size': 13, 'font-weight': 'bold', fill: '#1e293b' }));
    const yFmt = y.tickFormat(5), xFmt = x.tickFormat(6);
    for (const t of y.ticks(5)) {
      g.push(el('line', { x1: x0 + m.l, x2: x0 + m.l + iw, y1: y(t), y2: y(t), stroke: '#e2e8f0', 'stroke-width': 1 }));
      g.push(text(x0 + m.l - 6, y(t) + 3.5, yFmt(t), { 'text-anchor': 'end', 'font-family': MONO, 'font-size': 10, fill: '#64748b' }));
    }
    for (const t of x.ticks(6)) {
      g.push(el('line', { x1: x(t), x2: x(t), y1: y0 + m.t + ih, y2: y0 + m.t + ih + 4, stroke: '#64748b' }));
      g.push(text(x(t), y0 + m.t + ih + 16, xFmt(t), { 'text-anchor': 'middle', 'font-family': MONO, 'font-size': 10, fill: '#64748b' }));
    }
    g.push(el('rect', { x: x0 + m.l, y: y0 + m.t, width: iw, height: ih, fill: 'none', stroke: '#94a3b8', 'stroke-width': 1 }));
    g.push(text(x0 + m.l + iw / 2, y0 + m.t + ih + 30, 'step', { 'text-anchor': 'middle', 'font-family': SANS, 'font-size': 11, fill: '#475569' }));
    const path = line<[number, number]>().x((d) => x(d[0])).y((d) => y(d[1])).defined((d) => Number.isFinite(d[1]));
    let li = 0;
    const legend: string[] = [];
    // Train before eval so eval is drawn on top.
    p.series.sort((a, b) => p.metrics.indexOf(a.metric) - p.metrics.indexOf(b.metric) || b.mode.localeCompare(a.mode)).forEach((s, si) => {
      const primary = s.metric === p.metrics[0];
      const color = MODE_COLOR[s.mode] ?? EXTRA_COLORS[si % EXTRA_COLORS.length];
      const dash = primary ? undefined : '5 3';
      const d = path(s.points) ?? '';
      // Train is drawn wide and pale under eval, so equal curves stay both visible.
      const isTrain = s.mode === 'train';
      const dots = s.points.length <= 80 ? s.points.filter((q) => Number.isFinite(q[1])).map((q) => el('circle', { cx: x(q[0]), cy: y(q[1]), r: isTrain ? 3 : 2.2, fill: color, 'fill-opacity': isTrain ? 0.55 : 1 })).join('') : '';
      g.push(el('g', { class: 'series-group' },
        el('path', { class: 'series', 'data-metric': s.metric, 'data-mode': s.mode, d, fill: 'none', stroke: color, 'stroke-width': isTrain ? 3.2 : 1.6, 'stroke-opacity': isTrain ? 0.55 : 1, 'stroke-dasharray': dash, 'stroke-linejoin': 'round' }),
        dots));
      const lx = x0 + m.l, ly = y0 + m.t + ih + 46 + li * 15;
      legend.push(el('line', { x1: lx, x2: lx + 18, y1: ly - 4, y2: ly - 4, stroke: color, 'stroke-width': 2, 'stroke-dasharray': dash }));
      legend.push(text(lx + 22, ly, `${shortName(s.metric)} (${s.mode})`, { 'font-family': SANS, 'font-size': 10.5, fill: '#334155' }));
      li++;
    });
    parts.push(el('g', { class: 'panel', 'data-panel': p.title }, ...g, ...legend));
  });
  return svgDoc(width, height, parts.join(''), { class: 'trax-training-curves', role: 'img', 'aria-label': opts.title ?? 'training curves' });
}
