// A Keras-style summary() that follows Trax's layer tree: one row per layer,
// with shapes from shape inference and each layer's own weights.
import type { Layer } from '../layers/base.js';
import type { Signature } from '../shapes.js';
import { flattenTree, formatSignature, layerTree } from './tree.js';
import { formatBytes, thousands } from './svg.js';

export interface SummaryRow {
  /** Trax's printed name. */
  name: string;
  /** Position in the tree, e.g. '4/0/1' ('' for the model itself). */
  path: string;
  depth: number;
  kind: string;
  inputShape: string;
  outputShape: string;
  /** This layer's own weight arrays' shapes (empty for combinators). */
  weightShapes: number[][];
  /** This layer's own parameter count. */
  params: number;
  /** Parameters of the layer and all its sublayers. */
  totalParams: number;
  shared: boolean;
}

export interface SummaryTotals {
  /** Trainable parameters: the sum of the flattened weights' sizes. */
  params: number;
  /** Bytes the weights take (4 per float32/int32 value). */
  bytes: number;
  /** Number of weight arrays (the length of the flat weights list). */
  weightArrays: number;
  /** Number of rows (layers in the tree). */
  layers: number;
}

export interface Summary { rows: SummaryRow[]; totals: SummaryTotals }

/**
 * summary(model, inputSignature): one row per layer in tree order. The model
 * is initialized for inputSignature if it has no weights yet.
 */
export function summary(model: Layer, inputSignature?: Signature | Signature[] | null): Summary {
  const nodes = flattenTree(layerTree(model, inputSignature));
  const rows: SummaryRow[] = nodes.map((nd) => ({
    name: nd.name, path: nd.path, depth: nd.depth, kind: nd.kind,
    inputShape: formatSignature(nd.input), outputShape: formatSignature(nd.output),
    weightShapes: nd.weights.map((t) => t.shape.slice()), params: nd.params, totalParams: nd.subtreeParams, shared: nd.shared,
  }));
  let params = 0, bytes = 0, arrays = 0;
  for (const nd of nodes) {
    for (const t of nd.weights) { params += t.size; bytes += t.size * 4; arrays++; }
  }
  return { rows, totals: { params, bytes, weightArrays: arrays, layers: rows.length } };
}

export interface FormatSummaryOptions {
  /** Show shapes (needs an input signature). Default: true when any shape is known. */
  shapes?: boolean;
  /** Longest weight-shapes cell before it is cut. Default 40. */
  maxWeightsWidth?: number;
}

function shapeList(shapes: number[][]): string {
  return shapes.map((s) => `[${s.join(', ')}]`).join(' ');
}

/** The summary as an aligned text table (what `trax-ts show --summary` prints). */
export function formatSummary(s: Summary | Layer, inputSignature?: Signature | Signature[] | null, opts: FormatSummaryOptions = {}): string {
  const sum = 'rows' in s ? s : summary(s, inputSignature);
  const showShapes = opts.shapes ?? sum.rows.some((r) => r.outputShape !== '?');
  const maxW = opts.maxWeightsWidth ?? 40;
  const cut = (x: string) => (x.length > maxW ? x.slice(0, maxW - 1) + '…' : x);
  const header = ['Layer', ...(showShapes ? ['Input shape', 'Output shape'] : []), 'Params', 'Weights'];
  const body = sum.rows.map((r) => [
    '  '.repeat(r.depth) + r.name,
    ...(showShapes ? [r.inputShape, r.outputShape] : []),
    r.shared ? 'shared' : r.params ? thousands(r.params) : r.totalParams ? `(${thousands(r.totalParams)})` : '0',
    cut(shapeList(r.weightShapes)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const numCol = header.indexOf('Params');
  const line = (cells: string[]) => cells.map((c, i) => (i === numCol ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  const rule = '─'.repeat(widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1));
  const t = sum.totals;
  return [
    line(header), rule, ...body.map(line), rule,
    `Trainable parameters: ${thousands(t.params)} (${formatBytes(t.bytes)})`,
    `Weight arrays: ${t.weightArrays}   Layers: ${t.layers}`,
    '(a combinator\'s count in parentheses is the total of its sublayers)',
  ].join('\n');
}
