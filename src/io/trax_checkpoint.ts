/**
 * Reading and writing Trax checkpoint files (`model.pkl.gz`).
 *
 * Supported layouts:
 *  - trainer_lib (Trax <= 1.3.x Trainer, version_timestamp 'Jun-18-2020'):
 *    one gzip'd pickle holding step, flat_weights, slots, opt_params,
 *    history, flat_state, input_signature.
 *  - loop (training.Loop, 'Mar-10-2021'): the pickle's flat_weights is an
 *    int (the gzip level) and the weights live in `model.weights.npy.gz`
 *    beside it; optimizer slots in `model.opt_slots{i}.npy.gz`.
 *  - layer (Layer.save_to_file): {flat_weights, flat_state?, input_signature}.
 *
 * Files are written atomically: to a temp file unique to the process and
 * write (`path.<pid>-<n>._tmp_`), fsync'd, then renamed.
 */

import { fs, fsp, gunzip, gunzipSync, gzipSync } from '../platform/host.js';

import { type DType, type NdArray, isNdArray, ndarray } from './ndarray.js';
import { readNpyRecords, writeNpyRecords } from './npy.js';
import { PickleError, PickledShapeDtype, isPyTuple, pyTuple, unpickle } from './pickle.js';
import { PyDefaultDict, PyFloat, PyGlobalRef, PyObject, writePickle } from './pickle_writer.js';
import { type TensorEntries, parseSafetensors, serializeSafetensors } from './safetensors.js';
import { type LoadLimits, checkAcyclic, countTree, limitError, maxBytesFor } from './limits.js';
import { writeFileAtomic, writeFileAtomicSync } from './run_folder.js';

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export type CheckpointFormat = 'trainer_lib' | 'loop' | 'layer';

export interface TraxCheckpoint {
  format: CheckpointFormat;
  /** Training step, or null when the file has none (Layer.save_to_file). */
  step: number | null;
  /** Model weights, depth-first leaves in Trax's flat order (empty tuples dropped). */
  flatWeights: NdArray[];
  /** Model state leaves (e.g. dropout rates as 0-d float32 arrays). */
  flatState: unknown[];
  /** Loop format only: the eval model's state leaves. */
  flatEvalState: unknown[] | null;
  /**
   * Optimizer slots as stored: trainer_lib keeps one tuple per weight
   * (Adam: [m, v]); loop gives one NdArray[] per task from opt_slots files.
   */
  slots: unknown;
  /** Optimizer hyper-parameters, name -> 0-d array (trainer_lib only). */
  optParams: Record<string, unknown> | null;
  /** History state: { _values: { mode: { metric: [[step, value], ...] } } }. */
  history: unknown;
  /** The stored batch signature (tuple of ShapeDtype), or null. */
  inputSignature: unknown;
  versionTimestamp: string | null;
  /** The whole unpickled top-level dict. */
  raw: Record<string, unknown>;
}

function checkGzipMagic(data: Uint8Array, path: string): void {
  if (data.length < 2 || data[0] !== 0x1f || data[1] !== 0x8b) {
    throw new CheckpointError(`not gzip: ${path} does not start with the gzip magic bytes (expected a gzip-compressed Trax checkpoint)`);
  }
}

function gzipError(e: unknown, path: string, maxBytes: number): CheckpointError {
  const msg = (e as Error).message;
  if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || /too large|maxOutputLength/i.test(msg)) {
    return new CheckpointError(limitError(path, 'the decompressed data', maxBytes).message);
  }
  if (/unexpected end/i.test(msg)) return new CheckpointError(`truncated gzip: ${path} ends before the compressed stream does`);
  return new CheckpointError(`corrupt gzip data in ${path}: ${msg}`);
}

/** An uncompressed pickle (protocol 2+ starts with PROTO) is read as it is. */
function isPlainPickle(data: Uint8Array, path: string): boolean {
  return data.length >= 2 && data[0] === 0x80 && !path.endsWith('.gz');
}

function gunzipChecked(data: Uint8Array, path: string, maxBytes: number): Uint8Array {
  if (isPlainPickle(data, path)) return data;
  checkGzipMagic(data, path);
  try {
    // Inflation stops at the cap, so a gzip bomb costs at most maxBytes.
    return gunzipSync(data, Math.min(maxBytes, 2 ** 53 - 1));
  } catch (e) {
    throw gzipError(e, path, maxBytes);
  }
}

/** gunzipChecked without blocking: the only form browsers have. */
export async function gunzipCheckedAsync(data: Uint8Array, path: string, maxBytes: number): Promise<Uint8Array> {
  if (isPlainPickle(data, path)) return data;
  checkGzipMagic(data, path);
  try {
    return await gunzip(data, Math.min(maxBytes, 2 ** 53 - 1));
  } catch (e) {
    throw gzipError(e, path, maxBytes);
  }
}

/** Unpickles, naming the file in any error. */
function unpickleFile(bytes: Uint8Array, path: string, maxBytes: number): unknown {
  try {
    return unpickle(bytes, { maxBytes });
  } catch (e) {
    if (e instanceof PickleError) throw new PickleError(`${path}: ${e.message}`);
    throw new CheckpointError(`${path}: ${(e as Error).message}`);
  }
}

/** Depth-first leaves of nested lists/tuples, dropping empty tuples/lists. */
function leaves(x: unknown, out: unknown[] = []): unknown[] {
  if (Array.isArray(x)) {
    for (const v of x) leaves(v, out);
  } else {
    out.push(x);
  }
  return out;
}

function weightsPathFor(path: string): string[] {
  // Trax: file_name[:-6] + 'weights.npy.gz' for '*.pkl.gz', falling back to file_name + '.npy'.
  const c: string[] = [];
  if (path.endsWith('.pkl.gz')) c.push(path.slice(0, -6) + 'weights.npy.gz');
  c.push(path + '.npy');
  return c;
}

function readGzNpy(path: string, limits: LoadLimits = {}): NdArray[] {
  const data = fs.readFileSync(path);
  // Loop writes gzip even at compresslevel 0; accept a plain npy stream too.
  const raw = data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b ? gunzipChecked(data, path, maxBytesFor(data.length, limits)) : data;
  try {
    return readNpyRecords(raw);
  } catch (e) {
    throw new CheckpointError(`${path}: ${(e as Error).message}`);
  }
}

/** Interprets an unpickled checkpoint dict; `path` locates Loop side files. */
export function traxCheckpointFromDict(obj: unknown, path: string, limits: LoadLimits = {}): TraxCheckpoint {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj) || obj instanceof Map) {
    const kind = obj === null ? 'None' : Array.isArray(obj) ? 'a list' : obj instanceof Map ? 'a dict with non-string keys' : typeof obj;
    throw new CheckpointError(`not a Trax checkpoint: ${path} holds ${kind}, expected a dict`);
  }
  const d = obj as Record<string, unknown>;
  if (!Object.prototype.hasOwnProperty.call(d, 'flat_weights')) {
    throw new CheckpointError(`not a Trax checkpoint: missing key flat_weights in ${path}`);
  }
  checkTrees(d, path, limits);
  const fw = d['flat_weights'];
  let format: CheckpointFormat;
  let flatWeights: NdArray[];
  let slots: unknown = d['slots'] ?? null;
  if (typeof fw === 'number') {
    format = 'loop';
    const candidates = weightsPathFor(path);
    const wpath = candidates.find((p) => fs.existsSync(p));
    if (wpath === undefined) {
      throw new CheckpointError(`Loop checkpoint ${path} keeps its weights in a separate file, but none of ${candidates.join(', ')} exists`);
    }
    flatWeights = readGzNpy(wpath, limits);
    const nTasks = typeof d['slots_per_task'] === 'number' ? (d['slots_per_task'] as number) : 0;
    if (path.endsWith('.pkl.gz') && nTasks >= 0) {
      const base = path.slice(0, -6);
      const perTask: NdArray[][] = [];
      for (let i = 0; ; i++) {
        const p = `${base}opt_slots${i}.npy.gz`;
        if (!fs.existsSync(p)) break;
        perTask.push(readGzNpy(p, limits));
      }
      if (perTask.length > 0) slots = perTask;
    }
  } else {
    format = 'version_timestamp' in d && ('slots' in d || 'opt_params' in d) ? 'trainer_lib' : 'layer';
    const ls = leaves(fw);
    flatWeights = ls.map((w, i) => {
      if (!isNdArray(w)) throw new CheckpointError(`flat_weights leaf ${i} in ${path} is not a numpy array`);
      return w;
    });
  }
  const step = d['step'];
  if (step !== undefined && step !== null && !(typeof step === 'number' && Number.isSafeInteger(step) && step >= 0)) {
    throw new CheckpointError(`${path}: field step is ${String(step)}, expected a non-negative integer`);
  }
  const vt = d['version_timestamp'];
  return {
    format,
    step: typeof step === 'number' ? step : null,
    flatWeights,
    flatState: d['flat_state'] === undefined || d['flat_state'] === null ? [] : leaves(d['flat_state']),
    flatEvalState: d['flat_eval_state'] === undefined || d['flat_eval_state'] === null ? null : leaves(d['flat_eval_state']),
    slots,
    optParams: (d['opt_params'] as Record<string, unknown> | undefined) ?? null,
    history: d['history'] ?? null,
    inputSignature: d['input_signature'] ?? null,
    versionTimestamp: typeof vt === 'string' ? vt : null,
    raw: d,
  };
}

/**
 * Before anything is expanded: no cycles or deep nesting anywhere, and the
 * weight, state and slot trees expand (shared references counted as the
 * copies they become) to a bounded number of leaves and bytes.
 */
function checkTrees(d: Record<string, unknown>, path: string, limits: LoadLimits): void {
  const maxBytes = limits.maxBytes ?? maxBytesFor(0, limits);
  const lim = { ...limits, maxBytes };
  try {
    checkAcyclic(d, 'checkpoint', path, limits.maxDepth);
    let bytes = 0;
    for (const key of ['flat_weights', 'flat_state', 'flat_eval_state', 'slots']) {
      if (Array.isArray(d[key])) bytes += countTree(d[key], key, path, lim).bytes;
      if (bytes > maxBytes) throw limitError(path, 'the arrays of weights, state and slots', maxBytes);
    }
  } catch (e) {
    throw e instanceof CheckpointError ? e : new CheckpointError((e as Error).message);
  }
}

/** Reads a Trax `*.pkl.gz` checkpoint (synchronously), within limits (see limits.ts). */
export function readTraxCheckpointSync(path: string, limits: LoadLimits = {}): TraxCheckpoint {
  const data = fs.readFileSync(path);
  const maxBytes = maxBytesFor(data.length, limits);
  return traxCheckpointFromDict(unpickleFile(gunzipChecked(data, path, maxBytes), path, maxBytes), path, { ...limits, maxBytes });
}

/** Reads a Trax `*.pkl.gz` checkpoint, within limits (see limits.ts). */
export async function readTraxCheckpoint(path: string, limits: LoadLimits = {}): Promise<TraxCheckpoint> {
  const data = await fsp.readFile(path);
  const maxBytes = maxBytesFor(data.length, limits);
  return traxCheckpointFromDict(unpickleFile(gunzipChecked(data, path, maxBytes), path, maxBytes), path, { ...limits, maxBytes });
}

// ---------------------------------------------------------------------------
// writing

export interface ShapeDtypeLike {
  shape: readonly number[];
  dtype: string;
}

export interface TraxCheckpointInput {
  step: number;
  flatWeights: readonly NdArray[];
  flatState?: readonly unknown[];
  /** One entry per weight (Adam: [m, v]); written as nested tuples. Default (). */
  slots?: unknown;
  /** name -> value; numbers become 0-d float32 arrays like Trax stores them. */
  optParams?: Record<string, NdArray | number>;
  /** History state { _values: { mode: { metric: [[step, value], ...] } } }. */
  history?: { _values: Record<string, Record<string, readonly (readonly [number, unknown])[]>> } | null;
  /** Batch signature, e.g. [{shape:[16,10], dtype:'int32'}, ...]. */
  inputSignature?: readonly ShapeDtypeLike[] | ShapeDtypeLike | null;
  versionTimestamp?: string;
}

function toTuples(x: unknown): unknown {
  if (Array.isArray(x)) return pyTuple(x.map(toTuples));
  return x;
}

function shapeDtype(s: ShapeDtypeLike): PickledShapeDtype {
  return s instanceof PickledShapeDtype ? s : new PickledShapeDtype([...s.shape], s.dtype);
}

function historyObject(h: TraxCheckpointInput['history']): PyObject {
  const modes: Record<string, PyDefaultDict> = {};
  const values = h?._values ?? {};
  for (const [mode, metrics] of Object.entries(values)) {
    const m: Record<string, unknown[]> = {};
    for (const [name, entries] of Object.entries(metrics)) {
      m[name] = entries.map(([step, v]) => pyTuple([step, typeof v === 'number' ? new PyFloat(v) : v]));
    }
    modes[mode] = new PyDefaultDict(m, new PyGlobalRef('builtins', 'list'));
  }
  return new PyObject('trax.supervised.history', 'History', [], { _values: modes }, 'newobj');
}

/** Builds the trainer_lib checkpoint dict in Trax's key order, ready to pickle. */
export function trainerLibDict(c: TraxCheckpointInput): Record<string, unknown> {
  const optParams: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c.optParams ?? {})) {
    optParams[k] = typeof v === 'number' ? ndarray('float32' as DType, [], [v]) : v;
  }
  let sig: unknown = null;
  if (c.inputSignature) {
    sig = Array.isArray(c.inputSignature)
      ? pyTuple((c.inputSignature as ShapeDtypeLike[]).map(shapeDtype))
      : shapeDtype(c.inputSignature as ShapeDtypeLike);
  }
  return {
    step: c.step,
    flat_weights: [...c.flatWeights],
    slots: c.slots === undefined || c.slots === null ? pyTuple([]) : isPyTuple(c.slots) ? c.slots : toTuples(c.slots),
    opt_params: optParams,
    history: historyObject(c.history ?? null),
    flat_state: [...(c.flatState ?? [])],
    input_signature: sig,
    version_timestamp: c.versionTimestamp ?? 'Jun-18-2020',
  };
}

/** Atomic writes (unique temp file, chunked, fsync, rename): see run_folder.ts. */
export { writeFileAtomic, writeFileAtomicSync };

export interface WriteCheckpointOptions {
  format?: 'trainer_lib';
  /** gzip level; Trax uses 2. */
  compressLevel?: number;
}

/** Encodes a trainer_lib checkpoint as gzip'd pickle bytes. */
export function encodeTraxCheckpoint(c: TraxCheckpointInput, opts: WriteCheckpointOptions = {}): Uint8Array {
  if ((opts.format ?? 'trainer_lib') !== 'trainer_lib') throw new CheckpointError(`unsupported checkpoint format ${opts.format}`);
  return gzipSync(writePickle(trainerLibDict(c)), opts.compressLevel ?? 2);
}

/** Writes a trainer_lib-format `*.pkl.gz` that Trax's init_from_file and Trainer can load. */
export async function writeTraxCheckpoint(path: string, c: TraxCheckpointInput, opts: WriteCheckpointOptions = {}): Promise<void> {
  await writeFileAtomic(path, encodeTraxCheckpoint(c, opts));
}

export function writeTraxCheckpointSync(path: string, c: TraxCheckpointInput, opts: WriteCheckpointOptions = {}): void {
  writeFileAtomicSync(path, encodeTraxCheckpoint(c, opts));
}

/** Writes Loop-style `*.weights.npy.gz` (gzip of np.save records), atomically. */
export async function writeWeightsNpyGz(path: string, arrays: readonly NdArray[], compressLevel = 2): Promise<void> {
  await writeFileAtomic(path, gzipSync(writeNpyRecords(arrays), compressLevel));
}

export function readWeightsNpyGz(path: string, limits: LoadLimits = {}): NdArray[] {
  return readGzNpy(path, limits);
}

// ---------------------------------------------------------------------------
// safetensors

export interface SafetensorsCheckpoint {
  tensors: Map<string, NdArray>;
  metadata: Record<string, string>;
  /** JSON.parse of metadata.config when present. */
  config: unknown;
}

export interface WriteSafetensorsOptions {
  /** Any JSON-serializable model config, stored as metadata.config. */
  config?: unknown;
  metadata?: Record<string, string>;
}

/** NdArray[] gets names '0', '1', ...; readers get them back in the same order. */
function tensorEntries(t: TensorEntries | readonly NdArray[]): TensorEntries {
  if (Array.isArray(t) && (t.length === 0 || isNdArray(t[0]))) {
    return (t as readonly NdArray[]).map((a, i) => [String(i), a] as const);
  }
  return t as TensorEntries;
}

export async function writeSafetensors(
  path: string, tensors: TensorEntries | readonly NdArray[], opts: WriteSafetensorsOptions = {},
): Promise<void> {
  const meta: Record<string, string> = { format: 'trax-ts', ...(opts.metadata ?? {}) };
  if (opts.config !== undefined) meta['config'] = JSON.stringify(opts.config);
  await writeFileAtomic(path, serializeSafetensors(tensorEntries(tensors), meta));
}

export async function readSafetensors(path: string): Promise<SafetensorsCheckpoint> {
  let parsed: ReturnType<typeof parseSafetensors>;
  try {
    parsed = parseSafetensors(await fsp.readFile(path));
  } catch (e) {
    throw new CheckpointError(`${path}: ${(e as Error).message}`);
  }
  const { tensors, metadata } = parsed;
  let config: unknown = undefined;
  if (metadata['config'] !== undefined) {
    try {
      config = JSON.parse(metadata['config']);
    } catch {
      throw new CheckpointError(`safetensors metadata "config" in ${path} is not valid JSON`);
    }
  }
  return { tensors, metadata, config };
}
