// trax-ts show: a model's tree (Trax's printout), its weights' shapes and
// parameter counts, for a configuration given by flags or for a checkpoint.
import { writeFileSync } from 'node:fs';
import type { Layer, Mode } from '../../layers/base.js';
import { ShapeDtype } from '../../shapes.js';
import { initFromFile, weightOwners } from '../../io/model_io.js';
import { readTraxCheckpointSync } from '../../io/trax_checkpoint.js';
import { formatSummary, modelDiagramSvg } from '../../viz/index.js';
import type { CommandSpec, ParsedArgs } from './args.js';
import { MODELS, MODEL_FLAG_NAMES, QUICKSTART_CONFIG, applyModelFlags, checkOutputFile, commas, modelFlags, resolveCheckpoint, say, type LMConfig } from './common.js';

export const spec: CommandSpec = {
  name: 'show',
  summary: 'Print a model\'s tree, its weights\' shapes and parameter counts, for a configuration or a checkpoint.',
  usage: 'trax-ts show [--checkpoint PATH] [model flags] [--summary] [--svg FILE]',
  flags: {
    checkpoint: { type: 'string', metavar: 'PATH', help: 'training directory, .pkl.gz or .safetensors file, or a shipped model (sort-transformer)' },
    ...modelFlags(true),
    mode: { type: 'string', choices: ['train', 'eval', 'predict'], default: 'train', help: 'mode to build the model in' },
    tree: { type: 'bool', default: true, help: 'print the layer tree (--no-tree to skip)' },
    weights: { type: 'bool', default: true, help: 'print every weight array with its layer and shape (--no-weights to skip)' },
    summary: { type: 'bool', help: 'print a per-layer summary table: output shapes, weights, parameters' },
    svg: { type: 'string', metavar: 'FILE', help: 'write a diagram of the model as SVG (repeated blocks drawn once, "× n")' },
    expand: { type: 'bool', help: 'with --svg: draw every repeated block' },
    json: { type: 'bool', help: 'print the configuration, shapes and counts as JSON' },
    help: { type: 'bool', short: 'h', help: 'show this help' },
  },
  groups: [['Model', MODEL_FLAG_NAMES]],
  examples: [
    'trax-ts show                                  # the quick-start TransformerLM: 93,088 weights',
    'trax-ts show --checkpoint sort-transformer --summary',
    'trax-ts show --d-model 512 --d-ff 2048 --n-layers 6 --no-tree',
    'trax-ts show --checkpoint ~/train_dir --svg model.svg',
  ],
};

export interface WeightRow { index: number; layer: string; shape: number[]; size: number }

// What each array of the common layers is, so the table reads like the math.
const ROLES: [RegExp, string[]][] = [
  [/^Dense/, ['kernel', 'bias']], [/^LayerNorm/, ['scale', 'bias']], [/^Embedding/, ['embedding']], [/^PositionalEncoding/, ['positions']],
];

/**
 * Every weight leaf in Trax's flat order, labelled by the layer that owns it:
 * its name and index path from the top (e.g. "4.0.1.1.0.0 Dense_32.kernel").
 */
export function weightRows(model: Layer): WeightRow[] {
  const owners = weightOwners(model);
  const perLayer = new Map<string, number>();
  return owners.map((o, index) => {
    const parts = o.layer.split('/').slice(1);
    const path = parts.map((p) => p.slice(0, p.indexOf(':'))).join('.');
    const leaf = parts.length ? parts[parts.length - 1].slice(parts[parts.length - 1].indexOf(':') + 1) : o.layer;
    const k = perLayer.get(o.layer) ?? 0;
    perLayer.set(o.layer, k + 1);
    const roles = ROLES.find(([re]) => re.test(leaf))?.[1];
    const role = roles?.[k] ?? String(k);
    return { index, layer: `${path ? path + ' ' : ''}${leaf}.${role}`, shape: o.tensor.shape.slice(), size: o.tensor.size };
  });
}

/** The weights table as text lines. */
export function formatWeights(rows: WeightRow[]): string[] {
  const shapeText = rows.map((r) => `(${r.shape.join(', ')}${r.shape.length === 1 ? ',' : ''})`);
  const lw = Math.max(5, ...rows.map((r) => r.layer.length));
  const sw = Math.max(5, ...shapeText.map((s) => s.length));
  const cw = Math.max(5, ...rows.map((r) => commas(r.size).length));
  const lines = [`  ${'#'.padStart(3)}  ${'layer'.padEnd(lw)}  ${'shape'.padEnd(sw)}  ${'count'.padStart(cw)}`];
  rows.forEach((r, i) => lines.push(`  ${String(r.index).padStart(3)}  ${r.layer.padEnd(lw)}  ${shapeText[i].padEnd(sw)}  ${commas(r.size).padStart(cw)}`));
  return lines;
}

export async function run(args: ParsedArgs): Promise<number> {
  const svgPath = args.str('svg');
  if (svgPath) checkOutputFile(args, 'svg', svgPath);
  else if (args.has('expand')) args.fail('--expand goes with --svg');
  let config: LMConfig, modelName: string, source = 'fresh initialization', step: number | null = null, file: string | null = null;
  if (args.has('checkpoint')) {
    const ck = resolveCheckpoint(args.str('checkpoint')!, 'show');
    modelName = args.has('model') ? args.str('model')! : ck.model;
    config = applyModelFlags(args, ck.config ?? QUICKSTART_CONFIG);
    source = ck.source;
    file = ck.file;
    if (file.endsWith('.gz')) step = readTraxCheckpointSync(file).step;
  } else {
    modelName = args.str('model')!;
    config = applyModelFlags(args, QUICKSTART_CONFIG, false);
  }
  const entry = MODELS[modelName];
  const mode = args.str('mode') as Mode;
  const model = entry.build(config, mode);
  const sig = new ShapeDtype([1, 1], 'int32');
  if (file) initFromFile(model, file, { weightsOnly: true, inputSignature: sig });
  else model.init(sig);
  const rows = weightRows(model);
  const total = rows.reduce((s, r) => s + r.size, 0);
  if (args.bool('json')) {
    say(JSON.stringify({ model: modelName, config, mode, source, step, total, weights: rows }, null, 2));
  } else {
    say(`${modelName}(${Object.entries(config).map(([k, v]) => `${k}=${v}`).join(', ')}), mode '${mode}'`);
    say(`weights: ${source}${step !== null ? `, step ${step}` : ''}`);
    if (args.bool('tree')) { say(''); say(String(model)); }
    if (args.bool('weights')) {
      say('');
      say(`Weights (${rows.length} arrays, in Trax's flat order):`);
      for (const l of formatWeights(rows)) say(l);
    }
    say('');
    say(`Total number of trainable weights: ${commas(total)} in ${rows.length} arrays`);
  }
  if (args.bool('summary')) {
    say('');
    say(formatSummary(model, sig));
  }
  if (svgPath) {
    writeFileSync(svgPath, modelDiagramSvg(model, { title: modelName, inputSignature: sig, collapseRepeats: !args.bool('expand') }));
    say(`Wrote ${svgPath}`);
  }
  return 0;
}
