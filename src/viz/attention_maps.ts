// Attention maps: run a model whose attention layers are in 'viz' mode,
// collect each layer's probabilities (Trax's viz mode keeps them on the
// layer), and draw per-layer, per-head heatmaps with the tokens on the axes.
import { interpolateBlues } from 'd3-scale-chromatic';
import { Layer, type Mode, type Weights } from '../layers/base.js';
import { DotProductAttentionLayer, DotProductCausalAttentionLayer } from '../layers/attention.js';
import { ShapeDtype } from '../shapes.js';
import { Tensor, tensor, type TensorLike } from '../engine/tensor.js';
import { reshape } from '../engine/ops.js';
import { initFromFile } from '../io/model_io.js';
import { MONO, SANS, el, svgDoc, text, title } from './svg.js';

export interface AttentionMap {
  /** Position among the model's attention layers, in tree order. */
  index: number;
  /** The attention layer's printed name. */
  name: string;
  /** Sublayer indices from the model down to the layer, e.g. '4/0/1/1/1'. */
  path: string;
  /** Attention probabilities, (batch * heads, queries, keys); each row sums to 1. */
  probs: Tensor;
  /** The same values on the host (what attentionMapsSvg draws). */
  probsValues: Float32Array;
  batchSize: number;
  nHeads: number;
  queryLength: number;
  keyLength: number;
  causal: boolean;
  /**
   * Token ids at each position as the attention layers see them: the input,
   * right-shifted when the model starts with ShiftRight (as TransformerLM
   * does), one row per batch item. Null when the input is not token ids.
   */
  positions: number[][] | null;
}

export interface CaptureOptions {
  /** Weights to install in the viz-mode model (e.g. a trained model's `weights`). */
  weights?: Weights;
  /** A checkpoint to load the weights from (model.pkl.gz or .safetensors). */
  checkpoint?: string;
}

type AttentionLayer = DotProductCausalAttentionLayer | DotProductAttentionLayer;

function attentionLayers(model: Layer): { layer: AttentionLayer; path: string }[] {
  const out: { layer: AttentionLayer; path: string }[] = [];
  const walk = (l: Layer, path: string) => {
    if (l instanceof DotProductCausalAttentionLayer || l instanceof DotProductAttentionLayer) out.push({ layer: l, path });
    l.sublayers.forEach((s, i) => walk(s, path === '' ? String(i) : `${path}/${i}`));
  };
  walk(model, '');
  return out;
}

function firstLeaf(l: Layer): Layer {
  return l.sublayers.length ? firstLeaf(l.sublayers[0]) : l;
}

function asInput(x: TensorLike | Tensor[]): Tensor | Tensor[] {
  if (x instanceof Tensor) return x;
  if (Array.isArray(x) && x.length && x.every((e) => e instanceof Tensor)) return x as Tensor[];
  const flat: number[] = [];
  const walk = (v: unknown) => { if (Array.isArray(v) || ArrayBuffer.isView(v)) Array.from(v as ArrayLike<unknown>).forEach(walk); else flat.push(Number(v)); };
  walk(x);
  let t = tensor(x as TensorLike, { dtype: flat.every(Number.isInteger) ? 'int32' : 'float32' });
  if (t.rank === 1) t = reshape(t, [1, t.shape[0]]);
  return t;
}

/**
 * captureAttention(model, input, {weights, checkpoint}): runs the model once
 * and returns every attention layer's probabilities in tree order.
 *
 * `model` is a function of the mode (called with 'viz'), e.g.
 * `(mode) => TransformerLM({...config, mode})`, or a model already built with
 * mode 'viz'. Weights come from `checkpoint`, from `weights`, or are the
 * model's own (a model without weights is initialized for the input).
 */
export async function captureAttention(model: Layer | ((mode: Mode) => Layer), input: TensorLike | Tensor[], opts: CaptureOptions = {}): Promise<AttentionMap[]> {
  const m = model instanceof Layer ? model : model('viz');
  const found = attentionLayers(m);
  if (found.length === 0) throw new Error('captureAttention: the model has no DotProductAttention or DotProductCausalAttention layer');
  const notViz = found.filter((f) => f.layer.mode !== 'viz');
  if (notViz.length) {
    throw new Error(`captureAttention: attention layers are in mode '${notViz[0].layer.mode}', not 'viz'; ` +
      "build the model with mode: 'viz' (or pass a function of the mode, e.g. (mode) => TransformerLM({...config, mode}))");
  }
  const x = asInput(input);
  const xs = Array.isArray(x) ? x : [x];
  const sig = xs.length === 1 ? new ShapeDtype(xs[0].shape, xs[0].dtype) : xs.map((t) => new ShapeDtype(t.shape, t.dtype));
  if (opts.checkpoint) initFromFile(m, opts.checkpoint, { weightsOnly: true, inputSignature: sig });
  else if (opts.weights !== undefined) { m.init(sig); m.weights = opts.weights; }
  else {
    const hasWeights = (w: unknown): boolean => w instanceof Tensor || (Array.isArray(w) && w.some(hasWeights));
    if (!hasWeights(m.weights)) m.init(sig);
  }
  for (const f of found) f.layer.lastProbs = null;
  m.apply(x);
  const batchSize = xs[0].shape[0];
  // The attention of a decoder sees the last input (the target side) of an encoder-decoder.
  const tokensIn = xs[xs.length - 1];
  const shifted = firstLeaf(m).name.startsWith('ShiftRight');
  let positions: number[][] | null = null;
  if (tokensIn.dtype === 'int32' && tokensIn.rank === 2) {
    const [b, l] = tokensIn.shape;
    const ids = await tokensIn.data();
    positions = [];
    for (let r = 0; r < b; r++) {
      const row = Array.from(ids.subarray(r * l, (r + 1) * l));
      positions.push(shifted ? [0, ...row.slice(0, l - 1)] : row);
    }
  }
  const maps: AttentionMap[] = [];
  for (const [index, f] of found.entries()) {
    const probs = f.layer.lastProbs;
    if (!probs) throw new Error(`captureAttention: attention layer ${index} (${f.path}) did not run`);
    const [bh, lq, lk] = probs.shape;
    maps.push({
      index, name: f.layer.printName(), path: f.path, probs, probsValues: await probs.data() as Float32Array,
      batchSize, nHeads: bh / batchSize, queryLength: lq, keyLength: lk,
      causal: f.layer instanceof DotProductCausalAttentionLayer,
      positions: positions && positions[0].length === lk ? positions : null,
    });
  }
  return maps;
}

export interface AttentionSvgOptions {
  /** Axis labels, one per position; default: the map's `positions` (token ids). */
  tokens?: string[];
  /** Labels token ids when `tokens` is not given. */
  tokenLabel?: (id: number) => string;
  /** Which batch item to draw. Default 0. */
  batchIndex?: number;
  /** Heads per row before wrapping. Default 4. */
  columns?: number;
  /** Side of one cell in pixels. Default: fits a map in about 180 px. */
  cellSize?: number;
  /** A <title> per cell with the exact probability. Default true. */
  cellTitles?: boolean;
  /**
   * Widest drawing in pixels: long inputs get smaller cells so a row of
   * heads fits (labels then mark every n-th token; hover shows the rest).
   */
  maxWidth?: number;
  title?: string;
}

/**
 * attentionMapsSvg(maps, {tokens}): one heatmap per layer and head, queries
 * down, keys across; darker is more attention (scale 0 to 1 for all maps).
 */
export function attentionMapsSvg(maps: AttentionMap[], opts: AttentionSvgOptions = {}): string {
  if (maps.length === 0) throw new Error('attentionMapsSvg: no attention maps to draw');
  const bi = opts.batchIndex ?? 0;
  const cols = Math.max(1, opts.columns ?? 4);
  const lq = Math.max(...maps.map((m) => m.queryLength)), lk = Math.max(...maps.map((m) => m.keyLength));
  let cell = opts.cellSize ?? Math.max(6, Math.min(22, Math.floor(180 / Math.max(lq, lk))));
  const labelOf = (m: AttentionMap, i: number): string => {
    if (opts.tokens) return opts.tokens[i] ?? '';
    const id = m.positions?.[bi]?.[i];
    if (id === undefined) return String(i);
    return opts.tokenLabel ? opts.tokenLabel(id) : String(id);
  };
  const labelChars = Math.max(2, ...maps.flatMap((m) => Array.from({ length: Math.max(m.queryLength, m.keyLength) }, (_, i) => labelOf(m, i).length)));
  let fs = Math.min(10, Math.max(7, cell - 4));
  let axisW = Math.min(60, labelChars * fs * 0.62 + 6);
  const gapX = 20, gapY = 16, margin = 16;
  const nCols = Math.min(cols, Math.max(...maps.map((m) => m.nHeads)));
  if (opts.maxWidth !== undefined && opts.cellSize === undefined) {
    const perMap = (opts.maxWidth - 2 * margin - (nCols - 1) * gapX) / nCols;
    const fit = Math.floor((perMap - axisW) / lk);
    if (fit < cell) {
      cell = Math.max(2, fit);
      fs = Math.min(10, Math.max(7, cell - 4));
      axisW = Math.min(60, labelChars * fs * 0.62 + 6);
    }
  }
  // Labels need about a font height each: on small cells, label every n-th position.
  const tickEvery = Math.max(1, Math.ceil((fs + 1) / cell));
  const mapW = axisW + lk * cell, mapH = axisW + lq * cell + 18;
  const titleH = opts.title ? 28 : 0;
  const rowsPerLayer = maps.map((m) => Math.ceil(m.nHeads / cols));
  const legendH = 34;
  const width = margin * 2 + nCols * mapW + (nCols - 1) * gapX;
  const layerHead = 20;
  let y = margin + titleH;
  const parts: string[] = [];
  if (opts.title) parts.push(text(margin, margin + 15, opts.title, { 'font-family': SANS, 'font-size': 15, 'font-weight': 'bold', fill: '#0f172a' }));
  maps.forEach((m, li) => {
    if (bi >= m.batchSize) throw new Error(`attentionMapsSvg: batchIndex ${bi} is out of range (batch size ${m.batchSize})`);
    parts.push(text(margin, y + 14, `Layer ${m.index} · ${m.name} · ${m.nHeads} head${m.nHeads > 1 ? 's' : ''}`,
      { 'font-family': SANS, 'font-size': 12, 'font-weight': 'bold', fill: '#334155' }));
    y += layerHead;
    const buf = m.probsValues;
    for (let h = 0; h < m.nHeads; h++) {
      const x0 = margin + (h % cols) * (mapW + gapX), y0 = y + Math.floor(h / cols) * (mapH + gapY);
      const base = (bi * m.nHeads + h) * m.queryLength * m.keyLength;
      const cells: string[] = [];
      const gx = x0 + axisW, gy = y0 + 18 + axisW;
      for (let q = 0; q < m.queryLength; q++) {
        for (let k = 0; k < m.keyLength; k++) {
          const p = buf[base + q * m.keyLength + k];
          const t = opts.cellTitles === false ? '' : title(`query ${q} (${labelOf(m, q)}) → key ${k} (${labelOf(m, k)}): ${p.toFixed(3)}`);
          cells.push(el('rect', { class: 'cell', x: gx + k * cell, y: gy + q * cell, width: cell, height: cell, fill: interpolateBlues(Math.min(1, Math.max(0, p))) }, t));
        }
      }
      const ticks: string[] = [];
      for (let k = 0; k < m.keyLength; k += tickEvery) {
        const tx = gx + k * cell + cell / 2 + fs / 3, ty = gy - 3;
        ticks.push(text(tx, ty, labelOf(m, k), { transform: `rotate(-90 ${tx} ${ty})`, 'font-family': MONO, 'font-size': fs, fill: '#475569' }));
      }
      for (let q = 0; q < m.queryLength; q += tickEvery) {
        ticks.push(text(gx - 3, gy + q * cell + cell / 2 + fs / 3, labelOf(m, q), { 'text-anchor': 'end', 'font-family': MONO, 'font-size': fs, fill: '#475569' }));
      }
      parts.push(el('g', { class: 'heatmap', 'data-layer': m.index, 'data-head': h },
        text(gx, y0 + 12, `head ${h}`, { 'font-family': SANS, 'font-size': 11, fill: '#334155' }),
        el('g', { class: 'cells' }, ...cells),
        el('rect', { x: gx, y: gy, width: m.keyLength * cell, height: m.queryLength * cell, fill: 'none', stroke: '#94a3b8', 'stroke-width': 0.8 }),
        ...ticks));
    }
    y += rowsPerLayer[li] * (mapH + gapY);
  });
  // Colour legend: 0 to 1, shared by every map.
  const lw = Math.min(200, width - 2 * margin - 120);
  const steps = 20;
  const legend: string[] = [text(margin, y + 12, 'attention', { 'font-family': SANS, 'font-size': 11, fill: '#475569' })];
  for (let i = 0; i < steps; i++) {
    legend.push(el('rect', { x: margin + 64 + (i * lw) / steps, y: y + 2, width: lw / steps + 0.5, height: 12, fill: interpolateBlues(i / (steps - 1)) }));
  }
  legend.push(text(margin + 64, y + 26, '0', { 'font-family': MONO, 'font-size': 10, fill: '#475569' }));
  legend.push(text(margin + 64 + lw, y + 26, '1', { 'text-anchor': 'end', 'font-family': MONO, 'font-size': 10, fill: '#475569' }));
  legend.push(text(margin + 64 + lw + 10, y + 12, 'rows: queries · columns: keys', { 'font-family': SANS, 'font-size': 11, fill: '#64748b' }));
  parts.push(el('g', { class: 'legend' }, ...legend));
  const height = y + legendH + margin;
  return svgDoc(Math.max(width, 420), height, el('rect', { x: 0, y: 0, width: Math.max(width, 420), height, fill: '#ffffff' }) + parts.join(''),
    { class: 'trax-attention-maps', role: 'img', 'aria-label': opts.title ?? 'attention maps' });
}
