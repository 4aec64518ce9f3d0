// Layer.initFromFile / Layer.saveToFile: real Trax checkpoints (gzip +
// pickle, trainer_lib and Loop layouts) and safetensors, mapped onto a
// model's weights tree in Trax's flat depth-first order.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { Layer, flattenWeightsAndState, unflattenWeightsAndState, isMarker, type State, type Weights } from '../layers/base.js';
import { ShapeDtype, type Signature } from '../shapes.js';
import { Tensor } from '../engine/tensor.js';
import { reshape, sliceAxis } from '../engine/ops.js';
import { ndarray, toFloat32, toInt32, type NdArray } from './ndarray.js';
import { PickledShapeDtype, pyTuple } from './pickle.js';
import { writePickle } from './pickle_writer.js';
import { parseSafetensors, serializeSafetensors } from './safetensors.js';
import { readTraxCheckpointSync, writeFileAtomicSync } from './trax_checkpoint.js';

export interface InitFromFileOptions {
  /** Load weights only; state (e.g. predict caches) is freshly initialized. */
  weightsOnly?: boolean;
  /** Signature to initialize with; defaults to the one stored in the file. */
  inputSignature?: Signature | Signature[];
}

export interface SaveToFileOptions {
  weightsOnly?: boolean;
  inputSignature?: Signature | Signature[];
  /** Model configuration stored with safetensors (JSON). Defaults to model.config. */
  config?: unknown;
}

/** One entry per weight leaf: which layer holds it, in flat order. */
export function weightOwners(model: Layer): { layer: string; tensor: Tensor }[] {
  const out: { layer: string; tensor: Tensor }[] = [];
  const walk = (l: Layer, path: string, w: unknown): void => {
    if (isMarker(w)) return;
    if (l.sublayers.length) {
      (w as unknown[]).forEach((sw, i) => walk(l.sublayers[i], `${path}/${i}:${l.sublayers[i].printName()}`, sw));
      return;
    }
    const leaves = flattenWeightsAndState(w, [])[0];
    for (const t of leaves) out.push({ layer: path, tensor: t });
  };
  walk(model, model.printName(), model.weights);
  return out;
}

export function ndToTensor(a: NdArray, like?: Tensor): Tensor {
  const isInt = like ? like.dtype === 'int32' : /int|bool/.test(a.dtype);
  return isInt ? new Tensor(toInt32(a), a.shape, 'int32') : new Tensor(toFloat32(a), a.shape, 'float32');
}

/**
 * A tensor's values as an ndarray, read synchronously (host backends; a
 * device backend throws, naming itself: use tensorToNdAsync there).
 */
export function tensorToNd(t: Tensor): NdArray {
  return ndarray(t.dtype, t.shape.slice(), t.dataSync());
}

/** A tensor's values as an ndarray, downloaded from any backend. */
export async function tensorToNdAsync(t: Tensor): Promise<NdArray> {
  return ndarray(t.dtype, t.shape.slice(), await t.data());
}

function storedSignature(sig: unknown, nIn: number): Signature | Signature[] | undefined {
  if (sig === null || sig === undefined) return undefined;
  const conv = (s: unknown): ShapeDtype => {
    const o = s as { shape: number[]; dtype: string };
    if (!o || !Array.isArray(o.shape)) throw new Error(`checkpoint input_signature entry is not a shape: ${String(s)}`);
    const dt = typeof o.dtype === 'string' ? o.dtype : String((o.dtype as { name?: string })?.name ?? 'float32');
    return new ShapeDtype(o.shape, /int|bool/.test(dt) ? 'int32' : 'float32');
  };
  if (sig instanceof PickledShapeDtype || (!Array.isArray(sig) && typeof sig === 'object')) return conv(sig);
  const list = (sig as unknown[]).map(conv);
  return nIn === 1 ? list[0] : list.slice(0, nIn);
}

/** Adapts a stored array to the shape the model expects (old 3-D positional tables). */
function fitShape(t: Tensor, want: Tensor, owner: string, index: number): Tensor {
  const same = t.shape.length === want.shape.length && t.shape.every((d, i) => d === want.shape[i]);
  if (same) return t;
  const strip = (s: readonly number[]) => { const r = s.slice(); while (r.length > 1 && r[0] === 1) r.shift(); return r; };
  const a = strip(t.shape), b = strip(want.shape);
  if (a.length === b.length && a.every((d, i) => d === b[i])) return reshape(t, want.shape);
  // A longer positional table than the model needs is fine: keep the prefix.
  if (owner.endsWith('PositionalEncoding') && a.length === 2 && b.length === 2 && a[1] === b[1] && a[0] >= b[0]) {
    return reshape(sliceAxis(reshape(t, a), 0, 0, b[0]), want.shape);
  }
  throw new Error(`weight ${index} (layer ${owner}) has shape [${t.shape.join(', ')}] in the file, but the model expects [${want.shape.join(', ')}]`);
}

function readFlat(path: string): { weights: NdArray[]; state: unknown[]; signature: unknown; config?: unknown } {
  if (path.endsWith('.safetensors')) {
    let bytes: Buffer;
    try { bytes = readFileSync(path); } catch (e) { throw new Error(`cannot read ${path}: ${(e as Error).message}`); }
    const { tensors, metadata } = parseSafetensors(bytes);
    const weights: NdArray[] = [], state: NdArray[] = [];
    for (const [name, a] of tensors) {
      if (name.startsWith('state.')) state.push(a);
      else weights.push(a);
    }
    const config = metadata['config'] ? JSON.parse(metadata['config']) : undefined;
    const signature = metadata['input_signature'] ? JSON.parse(metadata['input_signature']) : undefined;
    return { weights, state, signature, config };
  }
  const ck = readTraxCheckpointSync(path);
  return { weights: ck.flatWeights, state: ck.flatState, signature: ck.inputSignature };
}

/** Reads only the model configuration stored beside safetensors weights, if any. */
export function readModelConfig(path: string): unknown {
  return path.endsWith('.safetensors') ? readFlat(path).config : undefined;
}

export function initFromFile(model: Layer, path: string, opts: InitFromFileOptions = {}): [Weights, State] {
  const { weights: flatNd, state: flatStateRaw, signature } = readFlat(path);
  const sig = opts.inputSignature ?? storedSignature(signature, model.nIn);
  if (sig === undefined) throw new Error(`${path} stores no input signature; pass inputSignature to initFromFile`);
  // Init builds the tree (and fresh state, e.g. predict caches sized for sig).
  const [w0, s0] = model.init(sig);
  const owners = weightOwners(model);
  if (flatNd.length !== owners.length) {
    throw new Error(`${path} holds ${flatNd.length} weight arrays but the model has ${owners.length}: ` +
      'is this checkpoint for a different model or configuration?');
  }
  const flat = flatNd.map((a, i) => fitShape(ndToTensor(a, owners[i].tensor), owners[i].tensor, owners[i].layer, i));
  let flatState: unknown[] | null = null;
  if (!opts.weightsOnly) {
    const want = flattenWeightsAndState([], s0)[1];
    flatState = flatStateRaw.map((v, i) => {
      const like = want[i] instanceof Tensor ? want[i] as Tensor : undefined;
      if (v && typeof v === 'object' && 'dtype' in (v as object) && 'data' in (v as object)) return ndToTensor(v as NdArray, like);
      return typeof v === 'number' ? new Tensor(Float32Array.of(v), [], 'float32') : v;
    });
    if (flatState.length !== want.length) {
      throw new Error(`${path} holds ${flatState.length} state values but the model (mode-dependent) has ${want.length}; ` +
        'use weightsOnly: true to load weights into a model of another mode (e.g. predict)');
    }
  }
  const [w, s] = unflattenWeightsAndState(flat, flatState, [w0, s0], opts.weightsOnly ?? false);
  model.weights = w as Weights;
  model.state = s as State;
  return [model.weights, model.state];
}

function sigToPickle(sig: Signature | Signature[] | undefined): unknown {
  if (sig === undefined) return null;
  if (sig instanceof ShapeDtype) return new PickledShapeDtype(sig.shape.slice(), sig.dtype);
  return pyTuple((sig as Signature[]).map((s) => sigToPickle(s)));
}

function sigToJson(sig: Signature | Signature[] | undefined): unknown {
  if (sig === undefined) return null;
  if (sig instanceof ShapeDtype) return { shape: sig.shape, dtype: sig.dtype };
  return (sig as Signature[]).map((s) => sigToJson(s));
}

/**
 * Saves weights (and state unless weightsOnly) as Trax's Layer.save_to_file
 * does: gzip + pickle {flat_weights, flat_state, input_signature}; or as
 * safetensors with a JSON config when the path ends in .safetensors.
 * Written to a temporary file and renamed.
 */
export function saveToFile(model: Layer, path: string, opts: SaveToFileOptions = {}): void {
  const [fw, fs] = flattenWeightsAndState(model.weights, model.state);
  if (path.endsWith('.safetensors')) {
    const entries: [string, NdArray][] = fw.map((t, i) => [`weights.${String(i).padStart(4, '0')}`, tensorToNd(t)]);
    if (!opts.weightsOnly) {
      fs.forEach((s, i) => { if (s instanceof Tensor) entries.push([`state.${String(i).padStart(4, '0')}`, tensorToNd(s)]); });
    }
    const meta: Record<string, string> = { format: 'trax-ts' };
    const config = opts.config ?? (model as Layer & { config?: unknown }).config;
    if (config !== undefined) meta['config'] = JSON.stringify(config);
    if (opts.inputSignature) meta['input_signature'] = JSON.stringify(sigToJson(opts.inputSignature));
    writeFileAtomicSync(path, serializeSafetensors(entries, meta));
    return;
  }
  const dict: Record<string, unknown> = { flat_weights: fw.map(tensorToNd) };
  if (!opts.weightsOnly) dict['flat_state'] = fs.map((s) => (s instanceof Tensor ? tensorToNd(s) : s));
  else dict['flat_state'] = [];
  dict['input_signature'] = sigToPickle(opts.inputSignature);
  writeFileAtomicSync(path, gzipSync(writePickle(dict), { level: 2 }));
}

// Trax's layer.init_from_file / layer.save_to_file as methods.
declare module '../layers/base.js' {
  interface Layer {
    initFromFile(path: string, opts?: InitFromFileOptions): [Weights, State];
    saveToFile(path: string, opts?: SaveToFileOptions): void;
  }
}
Layer.prototype.initFromFile = function (this: Layer, path: string, opts?: InitFromFileOptions) { return initFromFile(this, path, opts); };
Layer.prototype.saveToFile = function (this: Layer, path: string, opts?: SaveToFileOptions) { saveToFile(this, path, opts); };
