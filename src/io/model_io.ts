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
import { CheckpointError, gunzipCheckedAsync, readTraxCheckpointSync, traxCheckpointFromDict, writeFileAtomicSync } from './trax_checkpoint.js';
import { type LoadLimits, maxBytesFor } from './limits.js';

export interface InitFromFileOptions {
  /** Load weights only; state (e.g. predict caches) is freshly initialized. */
  weightsOnly?: boolean;
  /** Signature to initialize with; defaults to the one stored in the file. */
  inputSignature?: Signature | Signature[];
  /** Load limits (see README "Security"); by default derived from the file and the model. */
  maxBytes?: number;
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

const SIG_DTYPES = /^(float16|float32|float64|bfloat16|int8|int16|int32|int64|uint8|uint16|uint32|uint64|bool)$/;

/**
 * The stored input signature, checked before anything is built from it:
 * shapes of at most 8 non-negative integer dims, known dtypes, and no more
 * elements than max(65536, the number of weight values in the file), so a
 * forged signature cannot make init allocate gigabytes.
 */
export function storedSignature(sig: unknown, nIn: number, file = 'checkpoint', weightValues = 0): Signature | Signature[] | undefined {
  if (sig === null || sig === undefined) return undefined;
  const cap = Math.max(65536, weightValues);
  const conv = (s: unknown, i: number): ShapeDtype => {
    const field = `input_signature${Array.isArray(sig) ? `[${i}]` : ''}`;
    const o = s as { shape: unknown; dtype: unknown };
    if (!o || typeof o !== 'object' || !Array.isArray(o.shape)) throw new Error(`${file}: ${field} is not a shape and dtype`);
    const shape = o.shape as unknown[];
    if (shape.length > 8 || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`${file}: ${field}.shape ${JSON.stringify(shape)} is not a list of at most 8 non-negative integers`);
    }
    const n = (shape as number[]).reduce((a, b) => a * b, 1);
    if (n > cap) throw new Error(`${file}: ${field}.shape [${shape.join(', ')}] has ${n} elements, more than the ${cap} the weights in the file justify`);
    const dt = typeof o.dtype === 'string' ? o.dtype : String((o.dtype as { name?: string } | null)?.name ?? 'float32');
    if (!SIG_DTYPES.test(dt)) throw new Error(`${file}: ${field}.dtype ${JSON.stringify(dt)} is not a known dtype`);
    return new ShapeDtype(shape as number[], /int|bool/.test(dt) ? 'int32' : 'float32');
  };
  if (sig instanceof PickledShapeDtype || (!Array.isArray(sig) && typeof sig === 'object')) return conv(sig, 0);
  if (!Array.isArray(sig) || sig.length > 16) throw new Error(`${file}: input_signature is neither a shape nor a short list of shapes`);
  const list = sig.map(conv);
  return nIn === 1 ? list[0] : list.slice(0, nIn);
}

/** JSON.parse of a safetensors metadata field, with an error naming the file and the field. */
export function metadataJson(metadata: Record<string, string>, field: string, file: string): unknown {
  const text = metadata[field];
  if (text === undefined || text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: metadata field ${field} is not valid JSON (${(e as Error).message})`);
  }
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

function flatFromSafetensors(bytes: Uint8Array, name: string): Flat {
  let parsed: ReturnType<typeof parseSafetensors>;
  try { parsed = parseSafetensors(bytes); } catch (e) { throw new Error(`${name}: ${(e as Error).message}`); }
  const { tensors, metadata } = parsed;
  const weights: NdArray[] = [], state: NdArray[] = [];
  for (const [key, a] of tensors) {
    if (key.startsWith('state.')) state.push(a);
    else weights.push(a);
  }
  const config = metadataJson(metadata, 'config', name);
  const signature = metadataJson(metadata, 'input_signature', name);
  return { weights, state, signature, config };
}

function flatFromPickle(raw: Uint8Array, name: string, maxBytes: number, limits: LoadLimits): Flat {
  let obj: unknown;
  try { obj = unpickle(raw, { maxBytes }); } catch (e) { throw new CheckpointError(`${name}: ${(e as Error).message}`); }
  const ck = traxCheckpointFromDict(obj, name, { ...limits, maxBytes });
  return { weights: ck.flatWeights, state: ck.flatState, signature: ck.inputSignature };
}

function readFlat(path: string, limits: LoadLimits = {}): Flat {
  if (path.endsWith('.safetensors')) {
    let bytes: Uint8Array;
    try { bytes = fs.readFileSync(path); } catch (e) { throw new Error(`cannot read ${path}: ${(e as Error).message}`); }
    return flatFromSafetensors(bytes, path);
  }
  const ck = readTraxCheckpointSync(path, limits);
  return { weights: ck.flatWeights, state: ck.flatState, signature: ck.inputSignature };
}

/** How many weight arrays and values a checkpoint file holds, and the first array's size (loaded within limits). */
export function fileWeightSummary(path: string): { arrays: number; values: number; first: number } {
  const { weights } = readFlat(path);
  return { arrays: weights.length, values: weights.reduce((a, w) => a + w.data.length, 0), first: weights[0]?.data.length ?? 0 };
}

function fileSize(path: string): number {
  try { return fs.statSync(path).size; } catch { return 0; }
}

export type CheckpointBytesFormat = 'pkl.gz' | 'pkl' | 'safetensors';

/** Which format bytes are in, from their first bytes (gzip magic, pickle PROTO, safetensors' JSON header). */
export function detectFormat(bytes: Uint8Array, name = 'bytes'): CheckpointBytesFormat {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return 'pkl.gz';
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5) return 'pkl';
  if (bytes.length >= 9 && bytes[8] === 0x7b && bytes[4] === 0 && bytes[5] === 0 && bytes[6] === 0 && bytes[7] === 0) return 'safetensors';
  throw new Error(`${name} is neither a gzip'd Trax pickle, a pickle, nor safetensors (first bytes ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')})`);
}

async function flatFromBytes(bytes: Uint8Array, name: string, limits: LoadLimits): Promise<Flat> {
  const format = detectFormat(bytes, name);
  if (format === 'safetensors') return flatFromSafetensors(bytes, name);
  const maxBytes = maxBytesFor(bytes.length, limits);
  return flatFromPickle(format === 'pkl.gz' ? await gunzipCheckedAsync(bytes, name, maxBytes) : bytes, name, maxBytes, limits);
}

/** Reads only the model configuration stored beside safetensors weights, if any. */
export function readModelConfig(path: string): unknown {
  return path.endsWith('.safetensors') ? readFlat(path).config : undefined;
}

export function initFromFile(model: Layer, path: string, opts: InitFromFileOptions = {}): [Weights, State] {
  return initFromFlat(model, readFlat(path, loadLimitsFor(model, opts, fileSize(path))), path, opts);
}

/** Load limits: the caller's maxBytes, else what a model that already has weights can hold. */
function loadLimitsFor(model: Layer, opts: InitFromFileOptions, size: number): LoadLimits {
  const limits: LoadLimits = {};
  if (opts.maxBytes !== undefined) limits.maxBytes = opts.maxBytes;
  else if (model.weights !== undefined && !isMarker(model.weights)) {
    // A model that already has weights says how much a checkpoint for it can hold.
    let expected = 0, arrays = 0;
    try { for (const o of weightOwners(model)) { expected += 4 * o.tensor.size; arrays++; } } catch { expected = 0; }
    if (expected > 0) {
      limits.maxBytes = maxBytesFor(size, {}, 4 * expected + 2 ** 20);
      limits.maxLeaves = Math.max(10_000, 4 * arrays);
    }
  }
  return limits;
}

/** Loads a checkpoint held in memory: Trax `.pkl.gz` or `.pkl`, or safetensors (detected from the bytes). */
export async function initFromBytes(model: Layer, bytes: Uint8Array | ArrayBuffer, opts: InitFromFileOptions & { name?: string } = {}): Promise<[Weights, State]> {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const name = opts.name ?? 'checkpoint bytes';
  return initFromFlat(model, await flatFromBytes(u8, name, loadLimitsFor(model, opts, u8.length)), name, opts);
}

/** Fetches a checkpoint (http(s):, blob:, data:, file: or a path relative to the page) and loads it. */
export async function initFromUrl(model: Layer, url: string | URL, opts: InitFromFileOptions = {}): Promise<[Weights, State]> {
  const name = typeof url === 'string' ? url : url.href;
  return initFromBytes(model, await fetchBytes(url), { ...opts, name });
}

function initFromFlat(model: Layer, flatIn: Flat, path: string, opts: InitFromFileOptions): [Weights, State] {
  const { weights: flatNd, state: flatStateRaw, signature } = flatIn;
  const values = flatNd.reduce((a, w) => a + w.data.length, 0);
  const sig = opts.inputSignature ?? storedSignature(signature, model.nIn, path, values);
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
