// One self-contained HTML page about a training run: the model summary and
// diagram, the training curves, sample decodes and attention maps from the
// latest checkpoint. Everything is inline (SVG, CSS); the page loads nothing.
import { Layer, type Mode } from '../layers/base.js';
import { ShapeDtype, type Signature } from '../shapes.js';
import { initFromFile } from '../io/model_io.js';
import { autoregressiveSample } from '../decoding/decoding.js';
import { Trainer } from '../training/trainer.js';
import { Tensor } from '../engine/tensor.js';
import { attentionMapsSvg, captureAttention } from './attention_maps.js';
import { historySeries, trainingCurvesSvg, type HistoryInput } from './curves.js';
import { modelDiagramSvg } from './diagram.js';
import { trainingSparklines } from './sparkline.js';
import { formatSummary, summary } from './summary.js';
import { esc, formatBytes, inlineSvg, thousands } from './svg.js';
import { fs, path as paths } from '../platform/host.js';

export interface ReportSample {
  /** Token ids fed to the model before decoding. */
  prompt: number[];
  /** Decoded ids; decoded from the checkpoint when missing and a model is given. */
  output?: number[];
  /** The expected continuation, shown beside the output. */
  target?: number[];
}

export interface ReportOptions {
  /**
   * The model: preferably a function of the mode (e.g. (mode) =>
   * TransformerLM({...config, mode})), which also gives fast predict-mode
   * decoding and the viz-mode attention maps; or a built model.
   */
  model?: Layer | ((mode: Mode) => Layer);
  /** Weights to show; default outputDir/model.pkl.gz when it exists. */
  checkpoint?: string;
  /** Input signature for shapes; default (1, length of the first sample) int32. */
  inputSignature?: Signature | Signature[];
  /** Prompts (token ids) or samples to decode and show. */
  samples?: (number[] | ReportSample)[];
  /** Tokens to decode per prompt; default the target's length, else 16. */
  decodeLength?: number;
  /** Stop decoding at this id; default none. */
  eosId?: number;
  /** Sequence for the attention maps; default the first sample's prompt + target (or output). */
  attentionInput?: number[];
  tokenLabel?: (id: number) => string;
  /**
   * Turns a token sequence into text (a language model's tokenizer): samples
   * then show text as text instead of labels joined with spaces.
   */
  decodeText?: (ids: number[]) => string;
  /** Metrics history; default outputDir/metrics.jsonl. */
  history?: HistoryInput;
  title?: string;
  /** Default 'report.html'. */
  fileName?: string;
}

const CSS = `
:root { color-scheme: light; }
body { font: 14px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif; color: #0f172a; margin: 0; background: #f8fafc; }
header { background: #0f172a; color: #f8fafc; padding: 18px 32px; }
header h1 { margin: 0; font-size: 22px; }
header p { margin: 4px 0 0; color: #cbd5e1; }
main { padding: 8px 32px 48px; max-width: 1400px; }
section { background: #fff; border: 1px solid #e2e8f0; border-radius: 10px; padding: 16px 20px; margin: 18px 0; }
h2 { font-size: 17px; margin: 0 0 10px; }
pre { font: 12px/1.35 ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace; background: #f1f5f9; padding: 12px; border-radius: 6px; overflow: auto; }
.figure { overflow: auto; }
.totals { display: flex; gap: 28px; flex-wrap: wrap; margin-bottom: 8px; }
.totals div b { display: block; font-size: 20px; }
table.samples { border-collapse: collapse; font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
table.samples th, table.samples td { border-bottom: 1px solid #e2e8f0; padding: 4px 12px; text-align: left; vertical-align: top; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
.ok { color: #15803d; } .bad { color: #b91c1c; }
.note { color: #64748b; }
#expand-diagram:checked ~ #diagram-collapsed { display: none; }
#expand-diagram:not(:checked) ~ #diagram-full { display: none; }
label { user-select: none; cursor: pointer; }
`;

/** Width of the page's figures: main's 1400 px less its and the section's padding. */
const REPORT_FIGURE_WIDTH = 1290;

function isFactory(m: ReportOptions['model']): m is (mode: Mode) => Layer {
  return typeof m === 'function' && !(m instanceof Layer);
}

function asSample(s: number[] | ReportSample): ReportSample {
  return Array.isArray(s) ? { prompt: s } : s;
}

function hasWeights(w: unknown): boolean {
  return w instanceof Tensor || (Array.isArray(w) && w.some(hasWeights));
}

/**
 * writeReport(outputDir, opts): writes outputDir/report.html and returns its
 * path. Sections without their inputs (no model, no metrics) say so.
 */
export async function writeReport(outputDir: string, opts: ReportOptions = {}): Promise<string> {
  fs.mkdirSync(outputDir, { recursive: true });
  const history = opts.history ?? Trainer.readMetricsHistory(outputDir);
  const defaultCkpt = paths.join(outputDir, 'model.pkl.gz');
  const checkpoint = opts.checkpoint ?? (fs.existsSync(defaultCkpt) ? defaultCkpt : undefined);
  const samples = (opts.samples ?? []).map(asSample);
  const label = opts.tokenLabel ?? String;
  const show = (ids: number[]): string => (opts.decodeText ? `<span class="text">${esc(opts.decodeText(ids))}</span>` : esc(ids.map(label).join(' ')));
  const firstLen = samples.length ? samples[0].prompt.length + (samples[0].target?.length ?? 0) : 16;
  const sig = opts.inputSignature ?? new ShapeDtype([1, Math.max(1, firstLen)], 'int32');
  const sections: string[] = [];
  const warnings: string[] = [];

  let model: Layer | null = null;
  if (opts.model) {
    model = isFactory(opts.model) ? opts.model('eval') : opts.model;
    if (checkpoint) initFromFile(model, checkpoint, { weightsOnly: true, inputSignature: sig });
    else if (!hasWeights(model.weights)) { model.init(sig); warnings.push('No checkpoint: the model below has freshly initialized weights.'); }
  }

  // Summary and diagram.
  if (model) {
    const sum = summary(model, sig);
    const t = sum.totals;
    sections.push(`<section id="summary"><h2>Model summary</h2>
<div class="totals"><div><b>${thousands(t.params)}</b>trainable parameters</div><div><b>${formatBytes(t.bytes)}</b>of weights</div>
<div><b>${t.weightArrays}</b>weight arrays</div><div><b>${t.layers}</b>layers in the tree</div></div>
<pre>${esc(formatSummary(sum))}</pre></section>`);
    const collapsed = modelDiagramSvg(model, { inputSignature: sig, collapseRepeats: true, idPrefix: 'diagram-c' });
    const full = modelDiagramSvg(model, { inputSignature: sig, collapseRepeats: false, idPrefix: 'diagram-f' });
    sections.push(`<section id="diagram"><h2>Model diagram</h2>
<p class="note">Hover a layer for its shapes and weights.</p>
<input type="checkbox" id="expand-diagram"><label for="expand-diagram"> show repeated blocks expanded</label>
<div class="figure" id="diagram-collapsed">${inlineSvg(collapsed)}</div>
<div class="figure" id="diagram-full">${inlineSvg(full)}</div></section>`);
  } else {
    sections.push('<section id="summary"><h2>Model</h2><p class="note">No model was given, so there is no summary or diagram.</p></section>');
  }

  // Curves.
  const series = historySeries(history);
  const lastStep = Math.max(0, ...series.flatMap((s) => s.points.map((p) => p[0])));
  const spark = trainingSparklines(history);
  sections.push(`<section id="curves"><h2>Training curves</h2><div class="figure">${inlineSvg(trainingCurvesSvg(history))}</div>
${spark ? `<pre>${esc(spark)}</pre>` : ''}</section>`);

  // Sample decodes.
  if (samples.length) {
    let decoder: Layer | null = null, evalMode = false;
    if (model && samples.some((s) => !s.output)) {
      if (isFactory(opts.model)) {
        decoder = opts.model('predict');
        decoder.init(new ShapeDtype([1, 1], 'int32'));
        decoder.weights = model.weights;
      } else { decoder = model; evalMode = true; }
    }
    const rows: string[] = [];
    for (const s of samples) {
      let out = s.output;
      if (!out && decoder) {
        const n = opts.decodeLength ?? s.target?.length ?? 16;
        const r = await autoregressiveSample(decoder, [s.prompt], { maxLength: n, temperature: 0, eosId: opts.eosId ?? -1, evalMode });
        out = Array.from(await r.data());
        s.output = out;
      }
      const ok = out && s.target ? out.length === s.target.length && out.every((v, i) => v === s.target![i]) : null;
      rows.push(`<tr><td>${show(s.prompt)}</td><td>${out ? show(out) : '<span class="note">not decoded</span>'}</td>` +
        `<td>${s.target ? show(s.target) : ''}</td><td>${ok === null ? '' : ok ? '<span class="ok">✓</span>' : '<span class="bad">✗</span>'}</td></tr>`);
    }
    const nOk = samples.filter((s) => s.output && s.target && s.output.length === s.target.length && s.output.every((v, i) => v === s.target![i])).length;
    const nT = samples.filter((s) => s.target).length;
    sections.push(`<section id="samples"><h2>Sample decodes</h2><p class="note">Greedy decoding from ${checkpoint ? esc(checkpoint) : 'the model'}${nT ? `: ${nOk} of ${nT} match the target` : ''}.</p>
<table class="samples"><thead><tr><th>prompt</th><th>output</th><th>target</th><th></th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`);
  }

  // Attention maps.
  const attInput = opts.attentionInput ?? (samples.length ? [...samples[0].prompt, ...(samples[0].target ?? samples[0].output ?? [])] : undefined);
  if (model && attInput && isFactory(opts.model)) {
    try {
      const maps = await captureAttention(opts.model, [attInput], { weights: model.weights });
      sections.push(`<section id="attention"><h2>Attention maps</h2><p class="note">Input: ${show(attInput)}. ` +
        'Axes show the tokens each position sees (right-shifted for a language model); on long inputs every n-th is labelled. ' +
        'Hover a cell for its tokens and value.</p>' +
        `<div class="figure">${inlineSvg(attentionMapsSvg(maps, { tokenLabel: label, maxWidth: REPORT_FIGURE_WIDTH }))}</div></section>`);
    } catch (e) {
      sections.push(`<section id="attention"><h2>Attention maps</h2><p class="note">Not available: ${esc((e as Error).message)}</p></section>`);
    }
  } else {
    sections.push('<section id="attention"><h2>Attention maps</h2><p class="note">Pass the model as a function of the mode and a sample to see attention maps.</p></section>');
  }

  const title = opts.title ?? 'trax-ts training report';
  const html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body><header><h1>${esc(title)}</h1><p>${esc(outputDir)} · step ${lastStep}${checkpoint ? ` · ${esc(checkpoint)}` : ''} · generated ${esc(new Date().toISOString())}</p></header>
<main>${warnings.map((w) => `<p class="note">${esc(w)}</p>`).join('')}${sections.join('\n')}</main></body></html>
`;
  const path = paths.join(outputDir, opts.fileName ?? 'report.html');
  fs.writeFileSync(path, html);
  return path;
}
