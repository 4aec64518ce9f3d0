// The model's structure as an SVG, laid out from the layer tree itself:
// Serial flows top to bottom, Branch/Parallel put their layers in side-by-side
// lanes, Residual draws its shortcut around the body, and repeated blocks can
// be drawn once with a repeat count. Every layer of the tree is one
// <g class="layer"> with a <title> (shown on hover) giving shapes and weights.
//
// The layout is computed here rather than by a general graph layout engine:
// Trax models are series-parallel trees, for which nested boxes give the
// exact layout directly (no crossing minimization or edge routing needed),
// and the result stays deterministic and testable element by element.
import type { Layer } from '../layers/base.js';
import type { Signature } from '../shapes.js';
import { formatSignature, isResidual, layerTree, structureKey, type LayerNode } from './tree.js';
import { MONO, SANS, el, esc, monoWidth, svgDoc, text, thousands, title } from './svg.js';

export interface DiagramOptions {
  /** Shapes in the hover titles and the input/output labels. */
  inputSignature?: Signature | Signature[] | null;
  /** Draw runs of identical blocks (e.g. decoder blocks) once, with a count. Default false. */
  collapseRepeats?: boolean;
  /** Heading drawn above the diagram. */
  title?: string;
  /** Prefix for element ids, to keep several diagrams in one page apart. */
  idPrefix?: string;
}

interface Box {
  w: number;
  h: number;
  /** Markup with the top-left corner at (x, y); input port at top centre, output at bottom centre. */
  render(x: number, y: number): string;
}

const FONT = 12;
const SMALL = 10;
const BOX_H = 24;
const BOX_H2 = 36;
const GAP = 18;
const PAD = 10;
const HEAD = 18;
const LANE_GAP = 14;
const SKIP = 26;

interface Palette { fill: string; stroke: string; ink: string }

function palette(name: string): Palette {
  if (/^(Embedding|PositionalEncoding)/.test(name)) return { fill: '#dbeafe', stroke: '#3b82f6', ink: '#1e3a8a' };
  if (/^Dense/.test(name)) return { fill: '#e0e7ff', stroke: '#6366f1', ink: '#312e81' };
  if (/Attention|SplitIntoHeads|MergeHeads/.test(name)) return { fill: '#ffedd5', stroke: '#f97316', ink: '#7c2d12' };
  if (/Norm/.test(name)) return { fill: '#dcfce7', stroke: '#22c55e', ink: '#14532d' };
  if (/^(Relu|Gelu|Sigmoid|Tanh|LogSoftmax|Softmax|FastGelu|Elu|Selu|LeakyRelu|Swish)/.test(name)) return { fill: '#f3e8ff', stroke: '#a855f7', ink: '#581c87' };
  if (/^Dropout/.test(name)) return { fill: '#f8fafc', stroke: '#94a3b8', ink: '#475569' };
  if (/^(ShiftRight|Select|Dup|Drop|Swap|PaddingMask)/.test(name)) return { fill: '#fef9c3', stroke: '#ca8a04', ink: '#713f12' };
  return { fill: '#f5f5f4', stroke: '#78716c', ink: '#292524' };
}

function hoverText(nd: LayerNode, label = nd.name): string {
  const lines = [label];
  if (nd.input !== null || nd.output !== null) {
    lines.push(`input: ${formatSignature(nd.input)}`, `output: ${formatSignature(nd.output)}`);
  }
  if (nd.shared) lines.push('weights: shared with an earlier occurrence');
  else if (nd.weights.length) {
    lines.push(`weights: ${nd.weights.map((t) => `[${t.shape.join(', ')}]`).join(', ')} (${thousands(nd.params)} parameters)`);
  } else if (nd.subtreeParams) lines.push(`parameters below: ${thousands(nd.subtreeParams)}`);
  return lines.join('\n');
}

function layerGroup(nd: LayerNode, body: string, extra: Record<string, string> = {}, label = nd.name): string {
  return el('g', { class: 'layer', 'data-name': nd.name, 'data-path': nd.path, 'data-kind': nd.kind, ...extra },
    title(hoverText(nd, label)), body);
}

function arrow(x: number, y1: number, y2: number, ids: Ids): string {
  if (y2 - y1 < 1) return '';
  return el('line', { x1: x, y1, x2: x, y2: y2 - 1, class: 'edge', stroke: '#475569', 'stroke-width': 1.3, 'marker-end': `url(#${ids.arrow})` });
}

function vline(x: number, y1: number, y2: number): string {
  if (y2 - y1 < 0.5) return '';
  return el('line', { x1: x, y1, x2: x, y2, stroke: '#475569', 'stroke-width': 1.3 });
}

interface Ids { arrow: string; prefix: string }

interface Ctx { collapse: boolean; ids: Ids }

function leafBox(nd: LayerNode): Box {
  const p = palette(nd.name);
  const sub = nd.shared ? 'shared weights' : nd.params ? `${thousands(nd.params)} params` : '';
  const w = Math.max(monoWidth(nd.name, FONT), monoWidth(sub, SMALL)) + 2 * PAD + 4;
  const h = sub ? BOX_H2 : BOX_H;
  return {
    w, h,
    render: (x, y) => layerGroup(nd, [
      el('rect', { x, y, width: w, height: h, rx: 5, fill: p.fill, stroke: p.stroke, 'stroke-width': 1.2 }),
      text(x + w / 2, y + (sub ? 15 : h / 2 + 4), nd.name, { 'text-anchor': 'middle', 'font-family': MONO, 'font-size': FONT, fill: p.ink }),
      sub ? text(x + w / 2, y + 29, sub, { 'text-anchor': 'middle', 'font-family': SANS, 'font-size': SMALL, fill: '#64748b' }) : '',
    ].join('')),
  };
}

/** An identity lane (Trax prints None): a plain line, stretched to the lane. */
function identityBox(nd: LayerNode, stretch: { h: number }): Box {
  return {
    w: 28, h: 0,
    render: (x, y) => {
      const cx = x + 14, h = stretch.h;
      return layerGroup(nd, [
        vline(cx, y, y + h),
        // A wide transparent stroke makes the thin line easy to hover.
        el('line', { x1: cx, y1: y, x2: cx, y2: y + h, stroke: 'transparent', 'stroke-width': 10 }),
        text(cx + 4, y + h / 2 + 3, 'id', { 'font-family': SANS, 'font-size': SMALL, fill: '#94a3b8' }),
      ].join(''), {}, `${nd.name} (identity)`);
    },
  };
}

function frame(x: number, y: number, w: number, h: number, label: string, style: 'serial' | 'lanes' | 'residual' | 'plain'): string {
  const stroke = style === 'residual' ? '#0f766e' : style === 'lanes' ? '#b45309' : '#94a3b8';
  const fill = style === 'residual' ? '#f0fdfa' : style === 'lanes' ? '#fffbeb' : '#ffffff';
  return el('rect', { x, y, width: w, height: h, rx: 8, fill, 'fill-opacity': 0.6, stroke, 'stroke-width': 1, 'stroke-dasharray': style === 'serial' || style === 'plain' ? '4 3' : undefined }) +
    text(x + 7, y + 13, label, { 'font-family': MONO, 'font-size': SMALL, fill: stroke, class: 'frame-label' });
}

function layout(nd: LayerNode, ctx: Ctx, opts: { frameless?: boolean } = {}): Box {
  if (nd.kind === 'leaf') return nd.identity && nd.name !== 'None' ? leafBox({ ...nd, name: `${nd.name} (identity)` }) : leafBox(nd);
  if (isResidual(nd)) return residualBox(nd, ctx);
  if (nd.kind === 'branch' || nd.kind === 'parallel') return lanesBox(nd, ctx);
  return serialBox(nd, ctx, opts.frameless ?? false);
}

/** Items of a Serial, with runs of identical blocks grouped when collapsing. */
type Item = { node: LayerNode } | { group: LayerNode[]; count: number; unit: number };

function subtreeSize(nd: LayerNode): number {
  return 1 + nd.children.reduce((s, c) => s + subtreeSize(c), 0);
}

function groupRepeats(children: LayerNode[]): Item[] {
  const keys = children.map(structureKey);
  const items: Item[] = [];
  let i = 0;
  while (i < children.length) {
    let best = { p: 0, r: 0 };
    for (let p = 1; i + 2 * p <= children.length; p++) {
      let r = 1;
      while (i + (r + 1) * p <= children.length && keys.slice(i + r * p, i + (r + 1) * p).every((k, j) => k === keys[i + j])) r++;
      const size = children.slice(i, i + p).reduce((s, c) => s + subtreeSize(c), 0);
      if (r >= 2 && size >= 3 && p * r > best.p * best.r) best = { p, r };
    }
    if (best.r >= 2) {
      items.push({ group: children.slice(i, i + best.p), count: best.r, unit: best.p });
      i += best.p * best.r;
    } else items.push({ node: children[i++] });
  }
  return items;
}

function stack(boxes: Box[]): { w: number; h: number; render(x: number, y: number, cx: number, ids: Ids): string } {
  const w = Math.max(0, ...boxes.map((b) => b.w));
  const h = boxes.reduce((s, b) => s + b.h, 0) + GAP * Math.max(0, boxes.length - 1);
  return {
    w, h,
    render: (_x, y, cx, ids) => {
      let out = '', yy = y;
      boxes.forEach((b, i) => {
        if (i > 0) { out += arrow(cx, yy - GAP, yy, ids); }
        out += b.render(cx - b.w / 2, yy);
        yy += b.h + GAP;
      });
      return out;
    },
  };
}

function repeatBox(group: LayerNode[], count: number, ctx: Ctx): Box {
  const inner = stack(group.map((c) => layout(c, ctx)));
  const label = `× ${count}  (identical blocks, drawn once)`;
  const w = Math.max(inner.w + 2 * PAD, monoWidth(label, SMALL) + 20);
  const deck = 8;
  const h = inner.h + HEAD + 2 * PAD + deck;
  const hidden = group.reduce((s, c) => s + subtreeSize(c), 0) * (count - 1);
  return {
    w, h,
    render: (x, y) => {
      const cx = x + w / 2, fh = h - deck;
      // Cards stacked below say "there are more of these"; they keep the ports centred.
      const cards = [deck, deck / 2].map((d) => el('rect', { x: x + d / 2, y: y + d, width: w - d, height: fh, rx: 8, fill: '#ffffff', stroke: '#7c3aed', 'stroke-width': 1 })).join('');
      return el('g', { class: 'repeat', 'data-count': count, 'data-unit': group.length, 'data-hidden-layers': hidden },
        title(`${count} identical blocks of ${group.length} layer${group.length > 1 ? 's' : ''}; ${hidden} more layers not drawn`),
        cards,
        el('rect', { x, y, width: w, height: fh, rx: 8, fill: '#faf5ff', stroke: '#7c3aed', 'stroke-width': 1.4 }),
        text(x + 7, y + 13, label, { 'font-family': MONO, 'font-size': SMALL, fill: '#6d28d9', 'font-weight': 'bold' }),
        arrow(cx, y, y + HEAD + PAD, ctx.ids),
        inner.render(x, y + HEAD + PAD, cx, ctx.ids),
        vline(cx, y + HEAD + PAD + inner.h, y + h));
    },
  };
}

function serialBox(nd: LayerNode, ctx: Ctx, frameless: boolean): Box {
  const items = ctx.collapse ? groupRepeats(nd.children) : nd.children.map((c) => ({ node: c }));
  const boxes = items.map((it) => ('node' in it ? layout(it.node, ctx) : repeatBox(it.group, it.count, ctx)));
  if (boxes.length === 0) return leafBox({ ...nd, name: `${nd.name} (identity)` });
  const inner = stack(boxes);
  const pad = frameless ? 0 : PAD;
  const head = frameless ? 0 : HEAD;
  const w = Math.max(inner.w + 2 * pad, frameless ? 0 : monoWidth(nd.name, SMALL) * 2 + 30);
  const h = inner.h + head + (frameless ? 0 : 2 * pad);
  return {
    w, h,
    render: (x, y) => {
      const cx = x + w / 2;
      const body = (frameless ? '' : frame(x, y, w, h, nd.name, nd.kind === 'serial' ? 'serial' : 'plain')) +
        (frameless ? '' : arrow(cx, y, y + head + pad, ctx.ids)) +
        inner.render(x, y + head + pad, cx, ctx.ids) +
        (frameless ? '' : vline(cx, y + head + pad + inner.h, y + h));
      return layerGroup(nd, body);
    },
  };
}

function lanesBox(nd: LayerNode, ctx: Ctx): Box {
  const stretch = { h: 0 };
  const lanes = nd.children.map((c) => (c.identity ? identityBox(c, stretch) : layout(c, ctx)));
  const laneH = Math.max(24, ...lanes.map((b) => b.h));
  stretch.h = laneH;
  const lanesW = lanes.reduce((s, b) => s + b.w, 0) + LANE_GAP * Math.max(0, lanes.length - 1);
  const bus = 12;
  const w = Math.max(lanesW + 2 * PAD, monoWidth(nd.name, SMALL) + 24);
  const h = HEAD + bus + laneH + bus + PAD;
  return {
    w, h,
    render: (x, y) => {
      const cx = x + w / 2;
      let lx = x + (w - lanesW) / 2;
      const top = y + HEAD + bus, busTop = y + HEAD, busBot = top + laneH + bus / 2;
      const centers = lanes.map((b) => { const c = lx + b.w / 2; lx += b.w + LANE_GAP; return c; });
      let body = frame(x, y, w, h, nd.name, 'lanes');
      body += vline(cx, y, busTop);
      // Branch copies one input to every lane; Parallel splits the stack between lanes.
      if (nd.kind === 'branch') body += el('circle', { cx, cy: busTop, r: 3, fill: '#b45309' });
      body += el('line', { x1: Math.min(cx, ...centers), y1: busTop, x2: Math.max(cx, ...centers), y2: busTop, stroke: '#475569', 'stroke-width': 1.3 });
      body += el('line', { x1: Math.min(cx, ...centers), y1: busBot, x2: Math.max(cx, ...centers), y2: busBot, stroke: '#475569', 'stroke-width': 1.3 });
      lanes.forEach((b, i) => {
        const c = centers[i];
        body += arrow(c, busTop, top, ctx.ids);
        body += b.render(c - b.w / 2, top);
        body += vline(c, top + b.h, busBot);
      });
      body += vline(cx, busBot, y + h);
      return layerGroup(nd, body);
    },
  };
}

/** Serial[Branch[None, body], Add]: the body with its shortcut drawn around it. */
function residualBox(nd: LayerNode, ctx: Ctx): Box {
  const branch = nd.children[0], add = nd.children[1];
  const [skipNode, bodyNode] = branch.children;
  const body = layout(bodyNode, ctx, { frameless: true });
  const label = 'Residual';
  const r = 9;
  // The shortcut takes a margin on the left; the same on the right keeps the ports centred.
  const w = Math.max(2 * SKIP + body.w + 2 * PAD, monoWidth(label, SMALL) + 30 + 2 * SKIP);
  const h = HEAD + 10 + GAP + body.h + GAP + 2 * r + PAD;
  return {
    w, h,
    render: (x, y) => {
      const cx = x + w / 2;
      const split = y + HEAD + 6;
      const bodyTop = split + GAP;
      const addY = bodyTop + body.h + GAP + r;
      const sx = x + SKIP / 2 + 4;
      const skip = `M${cx} ${split} H${sx} V${addY} H${cx - r - 1}`;
      let out = frame(x, y, w, h, label, 'residual');
      out += vline(cx, y, split);
      out += layerGroup(branch, el('circle', { cx, cy: split, r: 3.5, fill: '#0f766e' }), {}, `${branch.name} (copies the input to the shortcut and the body)`);
      out += layerGroup(skipNode, el('path', { d: skip, fill: 'none', stroke: '#0f766e', 'stroke-width': 1.6, 'marker-end': `url(#${ctx.ids.arrow})` }) +
        el('path', { d: skip, fill: 'none', stroke: 'transparent', 'stroke-width': 10 }), { class: 'layer skip' }, `${skipNode.name} (identity shortcut)`);
      out += arrow(cx, split, bodyTop, ctx.ids);
      out += body.render(cx - body.w / 2, bodyTop);
      out += arrow(cx, bodyTop + body.h, addY - r, ctx.ids);
      out += layerGroup(add, el('circle', { cx, cy: addY, r, fill: '#ccfbf1', stroke: '#0f766e', 'stroke-width': 1.4 }) +
        el('path', { d: `M${cx - 5} ${addY} H${cx + 5} M${cx} ${addY - 5} V${addY + 5}`, stroke: '#0f766e', 'stroke-width': 1.6 }));
      out += vline(cx, addY + r, y + h);
      return layerGroup(nd, out, {}, `${nd.name} (Residual)`);
    },
  };
}

let diagramCounter = 0;

/**
 * modelDiagramSvg(model, {inputSignature, collapseRepeats, title}): a
 * standalone SVG document of the model's layer tree.
 */
export function modelDiagramSvg(model: Layer, opts: DiagramOptions = {}): string {
  const root = layerTree(model, opts.inputSignature ?? null);
  const prefix = opts.idPrefix ?? `trax-diagram-${++diagramCounter}`;
  const ids: Ids = { arrow: `${prefix}-arrow`, prefix };
  const box = layout(root, { collapse: opts.collapseRepeats ?? false, ids });
  const margin = 16;
  const titleH = opts.title ? 26 : 0;
  const ioH = 22;
  const inLabel = root.input !== null ? `input ${formatSignature(root.input)}` : 'input';
  const outLabel = root.output !== null ? `output ${formatSignature(root.output)}` : 'output';
  const w = Math.max(box.w, monoWidth(inLabel, SMALL), monoWidth(outLabel, SMALL), opts.title ? monoWidth(opts.title, 14) : 0) + 2 * margin;
  const h = box.h + 2 * margin + titleH + 2 * ioH;
  const cx = w / 2;
  const top = margin + titleH + ioH;
  const defs = el('defs', {}, el('marker', { id: ids.arrow, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    el('path', { d: 'M0 0 L10 5 L0 10 z', fill: '#475569' })));
  const body = [
    defs,
    el('rect', { x: 0, y: 0, width: w, height: h, fill: '#ffffff' }),
    opts.title ? text(margin, margin + 14, opts.title, { 'font-family': SANS, 'font-size': 15, 'font-weight': 'bold', fill: '#0f172a' }) : '',
    text(cx, top - ioH + 8, inLabel, { 'text-anchor': 'middle', 'font-family': MONO, 'font-size': SMALL, fill: '#334155', class: 'io' }),
    arrow(cx, top - ioH + 12, top, ids),
    box.render(cx - box.w / 2, top),
    arrow(cx, top + box.h, top + box.h + ioH - 12, ids),
    text(cx, top + box.h + ioH, outLabel, { 'text-anchor': 'middle', 'font-family': MONO, 'font-size': SMALL, fill: '#334155', class: 'io' }),
  ].join('');
  return svgDoc(w, h, body, { class: 'trax-model-diagram', role: 'img', 'aria-label': esc(opts.title ?? `diagram of ${root.name}`) });
}
