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
 * Files are written atomically: to `path + '._tmp_'`, fsync'd, then renamed.
 */

import { fs, fsp, gunzip, gunzipSync, gzipSync } from '../platform/host.js';

import { type DType, type NdArray, isNdArray, ndarray } from './ndarray.js';
import { readNpyRecords, writeNpyRecords } from './npy.js';
import { PickledShapeDtype, isPyTuple, pyTuple, unpickle } from './pickle.js';
import { PyDefaultDict, PyFloat, PyGlobalRef, PyObject, writePickle } from './pickle_writer.js';
import { type TensorEntries, parseSafetensors, serializeSafetensors } from './safetensors.js';

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

function gzipError(e: unknown, path: string): CheckpointError {
  const msg = (e as Error).message;
  if (/unexpected end/i.test(msg)) return new CheckpointError(`truncated gzip: ${path} ends before the compressed stream does`);
  return new CheckpointError(`corrupt gzip data in ${path}: ${msg}`);
}

function gunzipChecked(data: Uint8Array, path: string): Uint8Array {
  checkGzipMagic(data, path);
  try {
    return gunzipSync(data);
  } catch (e) {
    throw gzipError(e, path);
  }
}

/** gunzipChecked without blocking: the only form browsers have. */
export async function gunzipCheckedAsync(data: Uint8Array, path: string): Promise<Uint8Array> {
  checkGzipMagic(data, path);
  try {
    return await gunzip(data);
  } catch (e) {
    throw gzipError(e, path);
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

function readGzNpy(path: string): NdArray[] {
  const data = fs.readFileSync(path);
  // Loop writes gzip even at compresslevel 0; accept a plain npy stream too.
  const raw = data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b ? gunzipChecked(data, path) : data;
  return readNpyRecords(raw);
}

/** Interprets an unpickled checkpoint dict; `path` locates Loop side files. */
export function traxCheckpointFromDict(obj: unknown, path: string): TraxCheckpoint {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj) || obj instanceof Map) {
    const kind = obj === null ? 'None' : Array.isArray(obj) ? 'a list' : obj instanceof Map ? 'a dict with non-string keys' : typeof obj;
    throw new CheckpointError(`not a Trax checkpoint: ${path} holds ${kind}, expected a dict`);
  }
  const d = obj as Record<string, unknown>;
  if (!Object.prototype.hasOwnProperty.call(d, 'flat_weights')) {
    throw new CheckpointError(`not a Trax checkpoint: missing key flat_weights in ${path}`);
  }
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
    flatWeights = readGzNpy(wpath);
    const nTasks = typeof d['slots_per_task'] === 'number' ? (d['slots_per_task'] as number) : 0;
    if (path.endsWith('.pkl.gz') && nTasks >= 0) {
      const base = path.slice(0, -6);
      const perTask: NdArray[][] = [];
      for (let i = 0; ; i++) {
        const p = `${base}opt_slots${i}.npy.gz`;
        if (!fs.existsSync(p)) break;
        perTask.push(readGzNpy(p));
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
  const vt = d['version_timestamp'];
  return {
    format,
    step: typeof step === 'number' ? step : typeof step === 'bigint' ? Number(step) : null,
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

/** Reads a Trax `*.pkl.gz` checkpoint (synchronously). */
export function readTraxCheckpointSync(path: string): TraxCheckpoint {
  const data = fs.readFileSync(path);
  return traxCheckpointFromDict(unpickle(gunzipChecked(data, path)), path);
}

/** Reads a Trax `*.pkl.gz` checkpoint. */
export async function readTraxCheckpoint(path: string): Promise<TraxCheckpoint> {
  const data = await fsp.readFile(path);
  return traxCheckpointFromDict(unpickle(gunzipChecked(data, path)), path);
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

/** Writes `data` to `path` atomically: temp file, fsync, rename. */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = path + '._tmp_';
  const fh = await fsp.open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, path);
}

export function writeFileAtomicSync(path: string, data: Uint8Array): void {
  const tmp = path + '._tmp_';
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path);
}

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

export function readWeightsNpyGz(path: string): NdArray[] {
  return readGzNpy(path);
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
  const { tensors, metadata } = parseSafetensors(await fsp.readFile(path));
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
