// trax.viz: the summary's totals against the flat weights, the diagram as
// well-formed SVG with one labelled element per layer, attention maps of a
// causal layer, training curves, sparklines and a self-contained report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as trax from '../dist/src/index.js';

const { models, layers, viz } = trax;
const { ShapeDtype } = trax.shapes;
const QUICKSTART = { vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2 };

/**
 * A strict XML well-formedness check (tags nest and close, attributes are
 * quoted, entities are known), enough for generated SVG. Returns the list of
 * elements as {name, attrs} in document order.
 */
function parseXml(src) {
  const elements = [];
  const stack = [];
  const entity = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
  const checkText = (t, where) => {
    const bare = t.replace(entity, '');
    assert.ok(!/[<&]/.test(bare), `unescaped < or & in ${where}: ${t.slice(0, 80)}`);
  };
  let i = 0;
  while (i < src.length) {
    const lt = src.indexOf('<', i);
    if (lt < 0) { checkText(src.slice(i), 'text'); break; }
    checkText(src.slice(i, lt), 'text');
    if (src.startsWith('<?', lt)) { i = src.indexOf('?>', lt) + 2; continue; }
    if (src.startsWith('<!--', lt)) { i = src.indexOf('-->', lt) + 3; continue; }
    const gt = src.indexOf('>', lt);
    assert.ok(gt > lt, 'unterminated tag');
    const tag = src.slice(lt + 1, gt);
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      assert.equal(stack.pop(), name, `closing </${name}> does not match`);
    } else {
      const selfClose = tag.endsWith('/');
      const body = selfClose ? tag.slice(0, -1) : tag;
      const m = /^([A-Za-z_][\w:.-]*)/.exec(body);
      assert.ok(m, `bad tag <${tag.slice(0, 40)}>`);
      const attrs = {};
      let rest = body.slice(m[1].length);
      const attrRe = /^\s+([\w:.-]+)="([^"]*)"/;
      let a;
      while ((a = attrRe.exec(rest))) {
        assert.ok(!(a[1] in attrs), `duplicate attribute ${a[1]} on <${m[1]}>`);
        checkText(a[2], `attribute ${a[1]}`);
        attrs[a[1]] = a[2];
        rest = rest.slice(a[0].length);
      }
      assert.equal(rest.trim(), '', `malformed attributes on <${m[1]}>: ${rest.slice(0, 60)}`);
      elements.push({ name: m[1], attrs, depth: stack.length, index: lt, end: gt });
      if (!selfClose) stack.push(m[1]);
    }
    i = gt + 1;
  }
  assert.deepEqual(stack, [], 'unclosed elements');
  return elements;
}

function quickstart(mode = 'train') {
  return models.TransformerLM({ ...QUICKSTART, mode });
}

test('summary: totals equal the flattened weights (93,088 for the quick-start model, 65,536 positional)', () => {
  const m = quickstart();
  const sig = new ShapeDtype([1, 10], 'int32');
  const s = viz.summary(m, sig);
  const [fw] = layers.flattenWeightsAndState(m.weights, m.state);
  const flatTotal = fw.reduce((n, w) => n + w.size, 0);
  assert.equal(flatTotal, 93088);
  assert.equal(s.totals.params, flatTotal);
  assert.equal(s.totals.params, s.rows.reduce((n, r) => n + r.params, 0));
  assert.equal(s.totals.bytes, 4 * 93088);
  assert.equal(s.totals.weightArrays, 38);
  const pe = s.rows.find((r) => r.name === 'PositionalEncoding');
  assert.equal(pe.params, 65536);
  assert.deepEqual(pe.weightShapes, [[2048, 32]]);
  // Tree order, shapes from shape inference.
  assert.equal(s.rows[0].name, 'Serial');
  assert.equal(s.rows[0].totalParams, 93088);
  assert.equal(s.rows[0].inputShape, '(1, 10) int32');
  assert.equal(s.rows[0].outputShape, '(1, 10, 32)');
  const emb = s.rows.find((r) => r.name === 'Embedding_32_32');
  assert.deepEqual([emb.inputShape, emb.outputShape, emb.params], ['(1, 10) int32', '(1, 10, 32)', 1024]);
  const attn = s.rows.find((r) => r.name === 'DotProductCausalAttention_in3');
  assert.equal(attn.inputShape, '[(8, 10, 4), (8, 10, 4), (8, 10, 4)]');
  assert.equal(s.rows.filter((r) => r.name === 'None').length, 4); // the four Residual shortcuts
  // The printed tree's names, in the same order (array branches print inline as [a, b]).
  const printed = String(m).split('\n').map((l) => l.trim().replace(/\[$/, '')).filter((l) => l && l !== ']');
  const names = printed.flatMap((l) => (l.startsWith('[') ? ['Serial', ...l.slice(1, -1).split(', ')] : [l]));
  assert.deepEqual(s.rows.map((r) => r.name), names);
  const text = viz.formatSummary(s);
  assert.match(text, /Trainable parameters: 93,088/);
  assert.match(text, /PositionalEncoding\s+\(1, 10, 32\)\s+\(1, 10, 32\)\s+65,536\s+\[2048, 32\]/);
  assert.equal(text.split('\n').length, s.rows.length + 6);
});

test('summary initializes a model without weights, and works without a signature', () => {
  const m = quickstart();
  const s = viz.summary(m, new ShapeDtype([2, 6], 'int32'));
  assert.equal(s.totals.params, 93088);
  const noSig = viz.summary(m);
  assert.equal(noSig.totals.params, 93088);
  assert.ok(noSig.rows.every((r) => r.outputShape === '?'));
  assert.doesNotMatch(viz.formatSummary(noSig), /Output shape/);
});

test('diagram: well-formed SVG with one labelled element per layer of the tree', () => {
  const m = quickstart();
  const sig = new ShapeDtype([1, 10], 'int32');
  const rows = viz.summary(m, sig).rows;
  const svg = viz.modelDiagramSvg(m, { inputSignature: sig, title: 'quick-start' });
  const els = parseXml(svg);
  assert.equal(els[0].name, 'svg');
  assert.equal(els[0].attrs.xmlns, 'http://www.w3.org/2000/svg');
  const groups = els.filter((e) => e.name === 'g' && /(^| )layer( |$)/.test(e.attrs.class ?? ''));
  assert.equal(groups.length, rows.length);
  assert.deepEqual(groups.map((g) => g.attrs['data-name']), rows.map((r) => r.name));
  assert.deepEqual(groups.map((g) => g.attrs['data-path']), rows.map((r) => r.path));
  // Each layer's first child is its hover title, naming it and its weight shapes.
  for (const g of groups) {
    const next = els[els.indexOf(g) + 1];
    assert.equal(next.name, 'title');
    const t = svg.slice(next.end + 1, svg.indexOf('</title>', next.end));
    assert.ok(t.startsWith(g.attrs['data-name']), `title of ${g.attrs['data-name']}: ${t}`);
  }
  assert.match(svg, /<title>PositionalEncoding\ninput: \(1, 10, 32\)\noutput: \(1, 10, 32\)\nweights: \[2048, 32\] \(65,536 parameters\)<\/title>/);
  // Residuals are drawn as such (shortcut + add), four of them.
  assert.equal((svg.match(/\(Residual\)/g) ?? []).length, 4);
});

test('diagram: collapsing repeats draws the decoder blocks once', () => {
  const m = quickstart();
  const sig = new ShapeDtype([1, 10], 'int32');
  const nRows = viz.summary(m, sig).rows.length;
  const svg = viz.modelDiagramSvg(m, { inputSignature: sig, collapseRepeats: true });
  const els = parseXml(svg);
  const repeats = els.filter((e) => e.name === 'g' && e.attrs.class === 'repeat');
  assert.equal(repeats.length, 1);
  assert.equal(repeats[0].attrs['data-count'], '2');
  assert.equal(repeats[0].attrs['data-unit'], '2');
  const hidden = Number(repeats[0].attrs['data-hidden-layers']);
  assert.equal(hidden, 32); // one attention block (21 layers) and one feed-forward block (11)
  const groups = els.filter((e) => e.name === 'g' && /(^| )layer( |$)/.test(e.attrs.class ?? ''));
  assert.equal(groups.length, nRows - hidden);
  // A model with a single block has nothing to collapse.
  const one = models.TransformerLM({ ...QUICKSTART, nLayers: 1 });
  assert.doesNotMatch(viz.modelDiagramSvg(one, { inputSignature: sig, collapseRepeats: true }), /class="repeat"/);
});

test('diagram: Parallel lanes, Branch, Select, shared layers and other combinators', () => {
  const shared = layers.Dense(4);
  const m = layers.Serial(
    layers.Dense(4),
    layers.Branch(layers.Relu(), [layers.Dense(3), layers.Dense(4)], null),
    layers.Parallel(shared, layers.Dense(4), null),
    layers.Select([0, 1], 3),
    layers.Add(),
    shared,
    layers.Cache(layers.Dense(2)),
  );
  const sig = new ShapeDtype([2, 5]);
  const s = viz.summary(m, sig);
  assert.equal(s.rows[0].outputShape, '(2, 2)');
  assert.equal(s.rows.at(-1).inputShape, '(2, 4)'); // inside Cache
  assert.ok(s.rows.some((r) => r.shared && r.name === 'Dense_4'));
  const [fw] = layers.flattenWeightsAndState(m.weights, m.state);
  assert.equal(s.totals.params, fw.reduce((n, w) => n + w.size, 0));
  const svg = viz.modelDiagramSvg(m, { inputSignature: sig });
  const els = parseXml(svg);
  const groups = els.filter((e) => e.name === 'g' && /(^| )layer( |$)/.test(e.attrs.class ?? ''));
  assert.deepEqual(groups.map((g) => g.attrs['data-name']), s.rows.map((r) => r.name));
  assert.ok(groups.some((g) => g.attrs['data-kind'] === 'parallel'));
  assert.ok(groups.some((g) => g.attrs['data-kind'] === 'branch'));
});

function vizModelWithInput() {
  const cfg = { vocabSize: 16, dModel: 16, dFF: 32, nLayers: 2, nHeads: 2, maxLen: 64 };
  const make = (mode) => models.TransformerLM({ ...cfg, mode });
  const tokens = [[0, 3, 5, 7, 9, 0, 9, 7, 5, 3], [0, 1, 2, 3, 4, 0, 4, 3, 2, 1]];
  return { make, tokens };
}

test('attention maps: causal layers are zero above the diagonal and rows sum to 1', async () => {
  const { make, tokens } = vizModelWithInput();
  const trained = make('eval');
  trained.init(new ShapeDtype([2, 10], 'int32'));
  const maps = await viz.captureAttention(make, tokens, { weights: trained.weights });
  assert.equal(maps.length, 2);
  for (const m of maps) {
    assert.equal(m.name, 'DotProductCausalAttention_in3');
    assert.ok(m.causal);
    assert.deepEqual(m.probs.shape, [4, 10, 10]);
    assert.equal(m.nHeads, 2);
    assert.equal(m.batchSize, 2);
    const p = m.probs.dataSync();
    for (let b = 0; b < 4; b++) {
      for (let q = 0; q < 10; q++) {
        let sum = 0;
        for (let k = 0; k < 10; k++) {
          const v = p[(b * 10 + q) * 10 + k];
          if (k > q) assert.equal(v, 0, `head-batch ${b}, query ${q}, key ${k} is above the diagonal`);
          else assert.ok(v >= 0);
          sum += v;
        }
        assert.ok(Math.abs(sum - 1) < 1e-5, `row ${q} sums to ${sum}`);
      }
    }
    // Positions are the right-shifted input, as the attention layers see it.
    assert.deepEqual(m.positions[1], [0, 0, 1, 2, 3, 4, 0, 4, 3, 2]);
  }
  assert.deepEqual(maps.map((m) => m.path), ['4/0/1/1/1/1', '6/0/1/1/1/1']);
  // The same weights through the eval model give the same output as viz mode.
  const x = trax.tensor(tokens, { dtype: 'int32' });
  const vizModel = make('viz');
  vizModel.init(new ShapeDtype([2, 10], 'int32'));
  vizModel.weights = trained.weights;
  const a = trained.apply(x).dataSync(), b = vizModel.apply(x).dataSync();
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-5);
});

test('attention maps: a model not in viz mode is refused with a hint', async () => {
  const { make, tokens } = vizModelWithInput();
  await assert.rejects(viz.captureAttention(make('eval'), tokens), /mode 'eval', not 'viz'.*mode: 'viz'/s);
  await assert.rejects(viz.captureAttention(layers.Serial(layers.Dense(3)), [[1, 2]]), /no DotProductAttention/);
});

test('attention maps SVG: one heatmap per layer and head, one cell per query/key pair', async () => {
  const { make, tokens } = vizModelWithInput();
  const maps = await viz.captureAttention(make, tokens);
  const svg = viz.attentionMapsSvg(maps, { batchIndex: 1, tokenLabel: (id) => `t${id}` });
  const els = parseXml(svg);
  assert.equal(els.filter((e) => e.name === 'g' && e.attrs.class === 'heatmap').length, 4);
  assert.equal(els.filter((e) => e.name === 'rect' && e.attrs.class === 'cell').length, 4 * 100);
  assert.match(svg, />t4<\/text>/);
  assert.match(svg, /<title>query 9 \(t2\) → key 0 \(t0\): \d\.\d{3}<\/title>/);
  // Causal: cells above the diagonal are the colour of 0.
  const zero = els.filter((e) => e.attrs.class === 'cell')[1].attrs.fill;
  assert.equal(els.filter((e) => e.attrs.class === 'cell')[2].attrs.fill, zero);
  assert.throws(() => viz.attentionMapsSvg(maps, { batchIndex: 5 }), /out of range/);
  assert.throws(() => viz.attentionMapsSvg([]), /no attention maps/);
});

const HISTORY = [];
for (const step of [10, 20, 30, 40]) {
  HISTORY.push({ step, mode: 'train', metric: 'training/learning_rate', value: 0.01 / Math.sqrt(step) });
  HISTORY.push({ step, mode: 'train', metric: 'training/loss', value: 3 / step });
  for (const mode of ['train', 'eval']) {
    HISTORY.push({ step, mode, metric: 'metrics/loss', value: 3 / step + (mode === 'eval' ? 0.1 : 0) });
    HISTORY.push({ step, mode, metric: 'metrics/accuracy', value: step / 40 });
    HISTORY.push({ step, mode, metric: 'metrics/sequence_accuracy', value: step / 50 });
  }
}

test('training curves: loss, accuracy and learning rate panels, one path per series', () => {
  const svg = viz.trainingCurvesSvg(HISTORY, { title: 'run' });
  const els = parseXml(svg);
  assert.deepEqual(els.filter((e) => e.attrs.class === 'panel').map((e) => e.attrs['data-panel']), ['Loss', 'Accuracy', 'Learning rate']);
  const series = els.filter((e) => e.name === 'path' && e.attrs.class === 'series');
  assert.equal(series.length, 8);
  for (const s of series) assert.match(s.attrs.d, /^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+){3}$/);
  // Trainer.historyValues' shape gives the same picture.
  const byMode = {};
  for (const r of HISTORY) ((byMode[r.mode] ??= {})[r.metric] ??= []).push([r.step, r.value]);
  assert.equal(viz.trainingCurvesSvg(byMode, { title: 'run' }), svg);
  // No metrics: a message, still well-formed.
  parseXml(viz.trainingCurvesSvg([]));
  assert.match(viz.trainingCurvesSvg([]), /No metrics recorded/);
});

test('sparkline: block characters scaled to the range, resampled to the width', () => {
  assert.equal(viz.sparkline([0, 1, 2, 3, 4, 5, 6, 7]), '▁▂▃▄▅▆▇█');
  assert.equal(viz.sparkline([5, 5, 5]), '▄▄▄');
  assert.equal(viz.sparkline([1, NaN, 3]), '▁ █');
  assert.equal(viz.sparkline(Array.from({ length: 100 }, (_, i) => i), { width: 10 }).length, 10);
  assert.equal(viz.sparkline([]), '');
  const lines = viz.trainingSparklines(HISTORY).split('\n');
  assert.equal(lines.length, 8);
  assert.match(lines[0], /^loss \(eval\)\s+0\.4000 █▃▂▁ 0\.1750$/);
});

test('report: one self-contained page with summary, diagram, curves, decodes and attention', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trax-viz-'));
  try {
    writeFileSync(join(dir, 'metrics.jsonl'), HISTORY.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const { make } = vizModelWithInput();
    const path = await viz.writeReport(dir, {
      model: make,
      samples: [{ prompt: [0, 3, 5, 7, 9, 0], target: [9, 7, 5, 3] }, [0, 1, 2, 3, 4, 0]],
      decodeLength: 4,
    });
    assert.equal(path, join(dir, 'report.html'));
    const html = readFileSync(path, 'utf8');
    // Nothing is fetched: no URLs, scripts, stylesheets or images from elsewhere.
    assert.doesNotMatch(html, /https?:\/\//);
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import/i);
    for (const id of ['summary', 'diagram', 'curves', 'samples', 'attention']) assert.match(html, new RegExp(`<section id="${id}">`));
    assert.match(html, /Freshly initialized|freshly initialized/);
    assert.equal((html.match(/<svg /g) ?? []).length, 4); // diagram (collapsed + full), curves, attention
    assert.equal((html.match(/class="heatmap"/g) ?? []).length, 4);
    // Both prompts were decoded (4 tokens each).
    const rows = html.match(/<tr><td>[^<]*<\/td><td>([\d ]+)<\/td>/g);
    assert.equal(rows.length, 2);
    // Without a model the page still renders, with the curves.
    const bare = await viz.writeReport(dir, { fileName: 'bare.html' });
    const bareHtml = readFileSync(bare, 'utf8');
    assert.match(bareHtml, /No model was given/);
    assert.match(bareHtml, /class="series"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
