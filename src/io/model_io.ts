// Layer.initFromFile / Layer.saveToFile: real Trax checkpoints (gzip +
// pickle, trainer_lib and Loop layouts) and safetensors, mapped onto a
// model's weights tree in Trax's flat depth-first order. Parsing works on
// bytes (initFromBytes, saveToBytes: browsers); paths are Node's convenience.
import { fetchBytes, fs, gzip, gzipSync, hasFileSystem } from '../platform/host.js';
import { Layer, flattenWeightsAndState, unflattenWeightsAndState, isMarker, type State, type Weights } from '../layers/base.js';
import { ShapeDtype, type Signature } from '../shapes.js';
import { Tensor } from '../engine/tensor.js';
import { reshape, sliceAxis } from '../engine/ops.js';
import { ndarray, toFloat32, toInt32, type NdArray } from './ndarray.js';
import { PickledShapeDtype, pyTuple, unpickle } from './pickle.js';
import { writePickle } from './pickle_writer.js';
import { parseSafetensors, serializeSafetensors } from './safetensors.js';
import { gunzipCheckedAsync, readTraxCheckpointSync, traxCheckpointFromDict, writeFileAtomicSync } from './trax_checkpoint.js';

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

interface Flat { weights: NdArray[]; state: unknown[]; signature: unknown; config?: unknown }

function flatFromSafetensors(bytes: Uint8Array): Flat {
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

function flatFromPickle(raw: Uint8Array, name: string): Flat {
  const ck = traxCheckpointFromDict(unpickle(raw), name);
  return { weights: ck.flatWeights, state: ck.flatState, signature: ck.inputSignature };
}

function readFlat(path: string): Flat {
  if (path.endsWith('.safetensors')) {
    let bytes: Uint8Array;
    try { bytes = fs.readFileSync(path); } catch (e) { throw new Error(`cannot read ${path}: ${(e as Error).message}`); }
    return flatFromSafetensors(bytes);
  }
  const ck = readTraxCheckpointSync(path);
  return { weights: ck.flatWeights, state: ck.flatState, signature: ck.inputSignature };
}

export type CheckpointBytesFormat = 'pkl.gz' | 'pkl' | 'safetensors';

/** Which format bytes are in, from their first bytes (gzip magic, pickle PROTO, safetensors' JSON header). */
export function detectFormat(bytes: Uint8Array, name = 'bytes'): CheckpointBytesFormat {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return 'pkl.gz';
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5) return 'pkl';
  if (bytes.length >= 9 && bytes[8] === 0x7b && bytes[4] === 0 && bytes[5] === 0 && bytes[6] === 0 && bytes[7] === 0) return 'safetensors';
  throw new Error(`${name} is neither a gzip'd Trax pickle, a pickle, nor safetensors (first bytes ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')})`);
}

async function flatFromBytes(bytes: Uint8Array, name: string): Promise<Flat> {
  const format = detectFormat(bytes, name);
  if (format === 'safetensors') return flatFromSafetensors(bytes);
  return flatFromPickle(format === 'pkl.gz' ? await gunzipCheckedAsync(bytes, name) : bytes, name);
}

/** Reads only the model configuration stored beside safetensors weights, if any. */
export function readModelConfig(path: string): unknown {
  return path.endsWith('.safetensors') ? readFlat(path).config : undefined;
}

export function initFromFile(model: Layer, path: string, opts: InitFromFileOptions = {}): [Weights, State] {
  return initFromFlat(model, readFlat(path), path, opts);
}

/** Loads a checkpoint held in memory: Trax `.pkl.gz` or `.pkl`, or safetensors (detected from the bytes). */
export async function initFromBytes(model: Layer, bytes: Uint8Array | ArrayBuffer, opts: InitFromFileOptions & { name?: string } = {}): Promise<[Weights, State]> {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const name = opts.name ?? 'checkpoint bytes';
  return initFromFlat(model, await flatFromBytes(u8, name), name, opts);
}

/** Fetches a checkpoint (http(s):, blob:, data:, file: or a path relative to the page) and loads it. */
export async function initFromUrl(model: Layer, url: string | URL, opts: InitFromFileOptions = {}): Promise<[Weights, State]> {
  const name = typeof url === 'string' ? url : url.href;
  return initFromBytes(model, await fetchBytes(url), { ...opts, name });
}

function initFromFlat(model: Layer, flatIn: Flat, path: string, opts: InitFromFileOptions): [Weights, State] {
  const { weights: flatNd, state: flatStateRaw, signature } = flatIn;
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
  if (path.endsWith('.safetensors')) {
    writeFileAtomicSync(path, encodeSafetensors(model, opts));
    return;
  }
  writeFileAtomicSync(path, gzipSync(encodePickle(model, opts), 2));
}

type ToNd = (t: Tensor) => NdArray;

function encodeSafetensors(model: Layer, opts: SaveToFileOptions, toNd: ToNd = tensorToNd): Uint8Array {
  const [fw, fst] = flattenWeightsAndState(model.weights, model.state);
  const entries: [string, NdArray][] = fw.map((t, i) => [`weights.${String(i).padStart(4, '0')}`, toNd(t)]);
  if (!opts.weightsOnly) {
    fst.forEach((s, i) => { if (s instanceof Tensor) entries.push([`state.${String(i).padStart(4, '0')}`, toNd(s)]); });
  }
  const meta: Record<string, string> = { format: 'trax-ts' };
  const config = opts.config ?? (model as Layer & { config?: unknown }).config;
  if (config !== undefined) meta['config'] = JSON.stringify(config);
  if (opts.inputSignature) meta['input_signature'] = JSON.stringify(sigToJson(opts.inputSignature));
  return serializeSafetensors(entries, meta);
}

function encodePickle(model: Layer, opts: SaveToFileOptions, toNd: ToNd = tensorToNd): Uint8Array {
  const [fw, fst] = flattenWeightsAndState(model.weights, model.state);
  const dict: Record<string, unknown> = { flat_weights: fw.map((t) => toNd(t)) };
  if (!opts.weightsOnly) dict['flat_state'] = fst.map((s) => (s instanceof Tensor ? toNd(s) : s));
  else dict['flat_state'] = [];
  dict['input_signature'] = sigToPickle(opts.inputSignature);
  return writePickle(dict);
}

/**
 * The bytes saveToFile would write, for places without files (a download in
 * a browser): gzip'd Trax pickle by default, or plain pickle, or safetensors.
 */
export async function saveToBytes(model: Layer, opts: SaveToFileOptions & { format?: CheckpointBytesFormat } = {}): Promise<Uint8Array> {
  const format = opts.format ?? 'pkl.gz';
  if (format !== 'pkl.gz' && format !== 'pkl' && format !== 'safetensors') {
    throw new Error(`saveToBytes: format must be 'pkl.gz', 'pkl' or 'safetensors', got ${JSON.stringify(format)}`);
  }
  // Read every tensor first (a download from a device backend), then encode.
  const [fw, fst] = flattenWeightsAndState(model.weights, model.state);
  const read = new Map<Tensor, NdArray>();
  for (const t of [...fw, ...fst]) if (t instanceof Tensor && !read.has(t)) read.set(t, await tensorToNdAsync(t));
  const toNd = (t: Tensor) => read.get(t)!;
  if (format === 'safetensors') return encodeSafetensors(model, opts, toNd);
  if (format === 'pkl') return encodePickle(model, opts, toNd);
  return gzip(encodePickle(model, opts, toNd), 2);
}

// Strings that name a URL rather than a file path.
const URL_SCHEME = /^(https?|blob|data|file):/i;

// Trax's layer.init_from_file / layer.save_to_file as methods.
declare module '../layers/base.js' {
  interface Layer {
    /**
     * A file path loads synchronously (Node). A URL (or, in browsers, any
     * string: it is resolved against the page) is fetched: await the result.
     */
    initFromFile(path: string, opts?: InitFromFileOptions): [Weights, State];
    initFromFile(url: URL, opts?: InitFromFileOptions): Promise<[Weights, State]>;
    /** Trax `.pkl.gz` / `.pkl` or safetensors bytes, detected from their first bytes. */
    initFromBytes(bytes: Uint8Array | ArrayBuffer, opts?: InitFromFileOptions & { name?: string }): Promise<[Weights, State]>;
    saveToFile(path: string, opts?: SaveToFileOptions): void;
    /** The checkpoint as bytes: gzip'd Trax pickle (default), 'pkl' or 'safetensors'. */
    saveToBytes(opts?: SaveToFileOptions & { format?: CheckpointBytesFormat }): Promise<Uint8Array>;
  }
}
Layer.prototype.initFromFile = function (this: Layer, path: string | URL, opts?: InitFromFileOptions) {
  if (typeof path !== 'string' || !hasFileSystem || URL_SCHEME.test(path)) return initFromUrl(this, path, opts);
  return initFromFile(this, path, opts);
} as Layer['initFromFile'];
Layer.prototype.initFromBytes = function (this: Layer, bytes: Uint8Array | ArrayBuffer, opts?: InitFromFileOptions & { name?: string }) { return initFromBytes(this, bytes, opts); };
Layer.prototype.saveToBytes = function (this: Layer, opts?: SaveToFileOptions & { format?: CheckpointBytesFormat }) { return saveToBytes(this, opts); };
Layer.prototype.saveToFile = function (this: Layer, path: string, opts?: SaveToFileOptions) { saveToFile(this, path, opts); };
