// The quick-start's Trainer (trax/supervised/trainer_lib.py, v1.3.4 surface):
// model as a function of mode, loss layer, optimizer class, LR schedule,
// Inputs; trainEpoch prints Trax's log lines and checkpoints atomically.
import { Layer, flattenWeightsAndState, isMarker, type Mode, type State, type Weights } from '../layers/base.js';
import { Serial } from '../layers/combinators.js';
import { Negate } from '../layers/core.js';
import { Accuracy, CrossEntropyLoss, SequenceAccuracy, SumOfWeights } from '../layers/metrics.js';
import type { Optimizer, Slot } from '../optimizers/base.js';
import { ShapeDtype } from '../shapes.js';
import { disposeReplaced } from '../engine/pool.js';
import type { JitFunction } from '../engine/jit.js';
import { Tensor } from '../engine/tensor.js';
import { reshape } from '../engine/ops.js';
import * as random from '../engine/random.js';
import { treeUnflatten, treeFlatten } from '../engine/tree.js';
import { fieldToTensor } from '../data/fields.js';
import { validateBatch } from '../data/inputs.js';
import { writePickle } from '../io/pickle_writer.js';
import { ndToTensor, tensorToNd } from '../io/model_io.js';
import { readTraxCheckpointSync, trainerLibDict, writeFileAtomicSync } from '../io/trax_checkpoint.js';
import { isNdArray } from '../io/ndarray.js';
import { lockRunFolder } from '../io/run_folder.js';
import { checkDataCounters, expectedLoadLimits } from './resume.js';
import type { LRSchedule } from './lr_schedules.js';
import { fs, gzipSync, path as paths } from '../platform/host.js';
import { evaluateMetrics } from './evaluate.js';
import { MetricsWriter, type History, type MetricRecord } from './metrics_writer.js';
import { makeTrainStep, trainStep, type PureTrainStep, type TrainStepModel } from './step.js';
import { yieldToEventLoop } from './yield.js';

export type ModelFn = (mode: Mode) => Layer;
type OptimizerCtor = ((opts: { learning_rate: number }) => Optimizer) | (new (opts: { learning_rate: number }) => Optimizer);

/** What Inputs provides (trax.data.Inputs). */
export interface InputsLike {
  trainStream(nDevices?: number): Iterator<unknown> | AsyncIterator<unknown> | Iterable<unknown> | AsyncIterable<unknown>;
  evalStream(nDevices?: number): Iterator<unknown> | AsyncIterator<unknown> | Iterable<unknown> | AsyncIterable<unknown>;
  trainEvalStream?(nDevices?: number): Iterator<unknown> | AsyncIterator<unknown> | Iterable<unknown> | AsyncIterable<unknown>;
}

export interface TrainerOptions {
  model: ModelFn | Layer;
  lossFn: Layer;
  optimizer: OptimizerCtor | Optimizer;
  lrSchedule: LRSchedule;
  inputs: InputsLike | (() => InputsLike);
  outputDir?: string | null;
  randomSeed?: number | null;
  nDevices?: number;
  checkpointsAt?: number[] | null;
  shouldSaveCheckpoints?: boolean;
  shouldWriteSummaries?: boolean;
  /** name -> metric layer; defaults to Trax 1.3.4's five metrics. */
  metrics?: Record<string, Layer> | null;
  checkpointHighest?: string | null;
  checkpointLowest?: string | null;
  /** Where log lines go (default: console.log). */
  log?: (line: string) => void;
  /**
   * Replay the training step through fastmath.jit (default true): traced on
   * its first two steps, then one recorded kernel sequence per step. A model
   * that cannot be traced trains eagerly, with a warning saying why.
   */
  jit?: boolean;
  /** JSON-able run settings stored in each checkpoint (the CLI's config.json, recoverable from the checkpoint). */
  runConfig?: unknown;
}

/** Trax 1.3.4's default metrics, evaluated in sorted key order. */
export function defaultMetrics(): Record<string, Layer> {
  return {
    loss: CrossEntropyLoss(),
    accuracy: Accuracy(),
    sequence_accuracy: SequenceAccuracy(),
    neg_log_perplexity: Serial(CrossEntropyLoss(), Negate()),
    weights_per_batch_per_core: SumOfWeights(),
  };
}

/** 'Step %6d: msg' exactly as Trax formats it (Python's '% 6d'). */
export function stepLine(step: number, msg: string): string {
  const n = String(step);
  return `Step ${n.length >= 6 ? ' ' + n : n.padStart(6)}: ${msg}`;
}

/** Python's '% .8f': a space where a minus sign would go. */
export function formatMetric(value: number): string {
  if (Number.isNaN(value)) return ' nan';
  if (!Number.isFinite(value)) return value > 0 ? ' inf' : '-inf';
  const s = Math.abs(value).toFixed(8);
  return (value < 0 && Number(s) !== 0 ? '-' : value < 0 ? '-' : ' ') + s;
}

function isOptimizerInstance(x: unknown): x is Optimizer {
  return typeof x === 'object' && x !== null && typeof (x as Optimizer).treeUpdate === 'function';
}

export type AnyIterator = Iterator<unknown> | AsyncIterator<unknown>;

export function openIterator(src: unknown, what: string): AnyIterator {
  const s = src as { next?: unknown; [Symbol.iterator]?: () => Iterator<unknown>; [Symbol.asyncIterator]?: () => AsyncIterator<unknown> };
  if (s && typeof s.next === 'function') return s as AnyIterator;
  if (s && typeof s[Symbol.asyncIterator] === 'function') return s[Symbol.asyncIterator]!();
  if (s && typeof s[Symbol.iterator] === 'function') return s[Symbol.iterator]!();
  throw new TypeError(`${what} must be an iterator or iterable of batches`);
}

/** Per-batch check against the signature the model was initialized with. */
export function checkBatch(batch: unknown, sig: ShapeDtype[] | null, where: string): Tensor[] {
  validateBatch(batch, where);
  const fields = (batch as unknown[]).map((f, i) => fieldToTensor(f as never, `${where}, field ${i}`));
  if (sig) {
    if (fields.length !== sig.length) {
      throw new Error(`${where}: has ${fields.length} fields, but the first batch had ${sig.length} (inputs, targets[, weights])`);
    }
    fields.forEach((f, i) => {
      if (f.dtype !== sig[i].dtype) {
        throw new Error(`${where}: field ${i} has dtype ${f.dtype}, but the first batch had ${sig[i].dtype}`);
      }
      if (f.rank !== sig[i].shape.length) {
        throw new Error(`${where}: field ${i} has shape [${f.shape}], but the first batch had rank ${sig[i].shape.length} ([${sig[i].shape}])`);
      }
    });
  }
  return fields;
}

/** Creates dir if needed and proves it writable, or throws a clear error naming who needs it. */
export function ensureWritableDir(dir: string, who: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
    const probe = paths.join(dir, '.write_probe');
    fs.writeFileSync(probe, '');
    fs.unlinkSync(probe);
  } catch (e) {
    throw new Error(`${who}: cannot write to output directory ${dir}: ${(e as Error).message}`);
  }
}

interface Counters { train: number; eval: number; trainEval: number }

/**
 * Trainer({model, lossFn, optimizer, lrSchedule, inputs, outputDir, ...}):
 * the quick-start's training driver. trainEpoch(nSteps, nEvalSteps) trains,
 * evaluates, prints Trax's log lines and saves outputDir/model.pkl.gz.
 */
export class Trainer {
  private readonly modelTrain: Layer;
  private readonly modelEval: Layer;
  private readonly lossFn: Layer;
  private readonly modelWithLoss: Layer;
  private readonly optimizer: Optimizer;
  private readonly lrSchedule: LRSchedule;
  private readonly inputs: InputsLike;
  private readonly outputDir: string | null;
  private readonly metrics: Record<string, Layer>;
  private readonly metricNames: string[];
  private readonly log: (line: string) => void;
  private readonly checkpointsAt: Set<number>;
  private readonly shouldSave: boolean;
  private readonly shouldWriteSummaries: boolean;
  private readonly nDevices: number;
  private readonly baseKey: random.PRNGKey;
  private readonly seed: number;
  private readonly checkpointHighest: string | null;
  private readonly checkpointLowest: string | null;
  private bestHigh = -Infinity;
  private bestLow = Infinity;

  private _step = 0;
  private flatWeights: Tensor[] = [];
  private weightsDef: ReturnType<typeof treeFlatten>['def'] | null = null;
  private modelState: State = [];
  private lossState: State = [];
  private lossWeights: Weights = [];
  private slots: Slot[] = [];
  private batchSig: ShapeDtype[] | null = null;
  private metricsLog!: MetricsWriter;
  private trainIt: AnyIterator | null = null;
  private evalIt: AnyIterator | null = null;
  private trainEvalIt: AnyIterator | null = null;
  private counters: Counters = { train: 0, eval: 0, trainEval: 0 };
  private restoredCounters: Counters | null = null;
  private ready: Promise<void>;
  private lastLoss = NaN;
  private readonly stepFn: PureTrainStep;
  private readonly runConfig: unknown;

  constructor(opts: TrainerOptions) {
    const modelFn: ModelFn = typeof opts.model === 'function' && !(opts.model instanceof Layer)
      ? opts.model as ModelFn : () => opts.model as Layer;
    if (!(opts.lossFn instanceof Layer)) throw new TypeError('Trainer: lossFn must be a layer, e.g. trax.layers.CrossEntropyLoss()');
    if (typeof opts.lrSchedule !== 'function') throw new TypeError('Trainer: lrSchedule must be a function of the step, e.g. trax.lr.constant(0.001)');
    this.modelTrain = modelFn('train');
    this.modelEval = modelFn('eval');
    if (!(this.modelTrain instanceof Layer)) throw new TypeError('Trainer: model must be a layer or a function of the mode returning a layer');
    this.lossFn = opts.lossFn;
    this.modelWithLoss = Serial(this.modelTrain, this.lossFn);
    if (isOptimizerInstance(opts.optimizer)) this.optimizer = opts.optimizer;
    else if (typeof opts.optimizer === 'function') {
      // Trax calls optimizer(learning_rate=0.0) and injects the schedule every step.
      // The Trainer owns weights and slots, so the update may overwrite them in place.
      this.optimizer = (opts.optimizer as (o: { learning_rate: number; inPlace: boolean }) => Optimizer)({ learning_rate: 0.0, inPlace: true });
      this.optimizer.computeStats = false;
    } else throw new TypeError('Trainer: optimizer must be an optimizer class (e.g. trax.optimizers.Adafactor) or instance');
    this.lrSchedule = opts.lrSchedule;
    this.inputs = typeof opts.inputs === 'function' ? (opts.inputs as () => InputsLike)() : opts.inputs;
    if (!this.inputs || typeof this.inputs.trainStream !== 'function') {
      throw new TypeError('Trainer: inputs must be a trax.data.Inputs (or a function returning one)');
    }
    this.outputDir = opts.outputDir ?? null;
    this.metrics = opts.metrics ?? defaultMetrics();
    this.metricNames = Object.keys(this.metrics).sort();
    this.log = opts.log ?? ((line: string) => console.log(line));
    this.checkpointsAt = new Set(opts.checkpointsAt ?? []);
    this.shouldSave = opts.shouldSaveCheckpoints ?? true;
    this.shouldWriteSummaries = opts.shouldWriteSummaries ?? true;
    this.nDevices = opts.nDevices ?? 1;
    this.seed = opts.randomSeed ?? Math.floor(Math.random() * 2 ** 31);
    if (!Number.isInteger(this.seed)) throw new TypeError(`Trainer: randomSeed must be an integer, got ${opts.randomSeed}`);
    this.baseKey = random.key(this.seed);
    this.checkpointHighest = opts.checkpointHighest ?? null;
    this.checkpointLowest = opts.checkpointLowest ?? null;
    if (this.outputDir) {
      ensureWritableDir(this.outputDir, 'Trainer');
      lockRunFolder(this.outputDir, 'Trainer');
    }
    this.runConfig = opts.runConfig;
    this.metricsLog = new MetricsWriter(this.outputDir, this.shouldWriteSummaries, { train: {}, eval: {} });
    this.stepFn = makeTrainStep(() => this.stepModel(), { jit: opts.jit, name: 'the training step', owner: 'Trainer' });
    this.ready = this.reset();
  }

  /** Whether the training step now replays a recorded plan. */
  get stepReplays(): number { return (this.stepFn as Partial<JitFunction<unknown[], unknown>>).replays ?? 0; }

  private stepModel(): TrainStepModel {
    return {
      withLoss: this.modelWithLoss, weightsTree: (flat) => this.weightsTree(flat),
      lossWeights: this.lossWeights, lossState: this.lossState, optimizer: this.optimizer, lossLabel: 'Trainer: loss',
    };
  }

  /** The current step (number of updates done). */
  get step(): number { return this._step; }
  get modelWeights(): Weights { return this.weightsTree(); }
  get modelStateTree(): State { return this.modelState; }
  /** The train-mode model, holding the current weights. */
  get model(): Layer { this.modelTrain.weights = this.weightsTree(); return this.modelTrain; }
  get evalModel(): Layer { this.modelEval.weights = this.weightsTree(); return this.modelEval; }
  get optimizerInstance(): Optimizer { return this.optimizer; }
  get historyValues(): History { return this.metricsLog.history; }

  private leafTemplate: unknown[] = [];

  private weightsTree(flat: Tensor[] = this.flatWeights): Weights {
    let i = 0;
    const leaves = this.leafTemplate.map((x) => (x instanceof Tensor ? flat[i++] : x));
    return treeUnflatten(this.weightsDef!, leaves) as Weights;
  }

  private async firstBatch(): Promise<unknown> {
    const it = this.trainIterator();
    const r = await it.next();
    if (r.done) throw new Error('Trainer: the train stream is empty');
    this.counters.train++;
    return r.value;
  }

  private trainIterator(): AnyIterator {
    return this.trainIt ??= openIterator(this.inputs.trainStream(this.nDevices), 'the train stream');
  }

  private evalIterator(): AnyIterator {
    if (this.evalIt) return this.evalIt;
    const src = this.inputs.evalStream(this.nDevices);
    const it = openIterator(src, 'the eval stream');
    this.evalIt = it;
    return it;
  }

  private trainEvalIterator(): AnyIterator {
    if (this.trainEvalIt) return this.trainEvalIt;
    const f = this.inputs.trainEvalStream ?? this.inputs.trainStream;
    this.trainEvalIt = openIterator(f.call(this.inputs, this.nDevices), 'the train-eval stream');
    return this.trainEvalIt;
  }

  private checkpointPath(name = 'model.pkl.gz'): string | null {
    return this.outputDir ? paths.join(this.outputDir, name) : null;
  }

  /** Initializes, or resumes from outputDir/model.pkl.gz when it exists. */
  async reset(): Promise<void> {
    const path = this.checkpointPath();
    const resume = path !== null && fs.existsSync(path);
    // The signature comes from one batch, as Trax's Inputs peeks one.
    let first: unknown;
    if (resume) first = await this.peekSignatureBatch();
    else first = await this.firstBatch();
    const fields = checkBatch(first, null, 'batch 0 from the train stream');
    this.batchSig = fields.map((f) => new ShapeDtype(f.shape, f.dtype));
    const initKey = random.foldIn(this.baseKey, 0x696e6974);
    const [w, s] = this.modelWithLoss.init(this.batchSig, { rng: initKey });
    const [mw, lw] = w as Weights[];
    this.lossWeights = lw;
    const [ms, ls] = s as State[];
    // Shared layers leave cache markers in the tree: keep them out of the
    // trainable list and put them back when rebuilding the tree.
    const flat = treeFlatten<unknown>(mw, (x) => x instanceof Tensor || isMarker(x));
    this.weightsDef = flat.def;
    this.leafTemplate = flat.leaves;
    this.flatWeights = flat.leaves.filter((x): x is Tensor => x instanceof Tensor);
    this.modelState = ms;
    this.lossState = ls;
    this.slots = this.optimizer.treeInit(this.flatWeights);
    this.modelEval.init(this.batchSig[0], { rng: initKey });
    if (resume) {
      this.restore(path!);
      this.pendingFirst = null;
    } else {
      this.pendingFirst = first;
      if (this.shouldSave && path) this.saveState();
    }
  }

  private pendingFirst: unknown = null;

  private async peekSignatureBatch(): Promise<unknown> {
    // On resume the stream is re-opened and replayed to the saved position in
    // restore(); the signature batch is taken from a separate fresh stream.
    const it = openIterator(this.inputs.trainStream(this.nDevices), 'the train stream');
    const r = await it.next();
    if (r.done) throw new Error('Trainer: the train stream is empty');
    this.trainIt = it;
    this.counters.train = 1;
    return r.value;
  }

  private restore(path: string): void {
    const ck = readTraxCheckpointSync(path, expectedLoadLimits(path, this.flatWeights));
    if (ck.flatWeights.length !== this.flatWeights.length) {
      throw new Error(`Trainer: ${path} has ${ck.flatWeights.length} weights but the model has ${this.flatWeights.length}; ` +
        'point outputDir at a fresh directory or delete model.pkl.gz to start over');
    }
    this.flatWeights = ck.flatWeights.map((a, i) => {
      const t = ndToTensor(a, this.flatWeights[i]);
      if (t.size !== this.flatWeights[i].size) {
        throw new Error(`Trainer: weight ${i} in ${path} has shape [${a.shape}], the model expects [${this.flatWeights[i].shape}]`);
      }
      return reshape(t, this.flatWeights[i].shape);
    });
    this._step = ck.step ?? 0;
    // Slots: same nested structure as treeInit gives, refilled in order.
    const slotLeaves = treeFlatten<unknown>(ck.slots, (x) => isNdArray(x)).leaves.filter(isNdArray);
    const { leaves: want, def } = treeFlatten<Tensor>(this.slots);
    if (slotLeaves.length === want.length) {
      this.slots = treeUnflatten(def, slotLeaves.map((a, i) => reshape(ndToTensor(a, want[i]), want[i].shape))) as Slot[];
    } else {
      throw new Error(`Trainer: ${path} has ${slotLeaves.length} optimizer slot arrays, the ${this.optimizer.name} optimizer needs ${want.length}`);
    }
    this.metricsLog.restore(ck.history);
    this.metricsLog.history = { train: {}, eval: {}, ...this.metricsLog.history };
    const extra = ck.raw['trax_ts'] as { data_counters?: unknown; seed?: number } | undefined;
    this.restoredCounters = checkDataCounters(extra?.data_counters, this._step, path);
    this.metricsLog.cutBack(this._step);
  }

  /** Replays the streams to where the saved run left them (exact resume). */
  private async replayStreams(): Promise<void> {
    const c = this.restoredCounters;
    if (!c) return;
    this.restoredCounters = null;
    const train = this.trainIterator();
    let skipTrain = c.train - this.counters.train;
    const evalIt = this.evalIterator();
    const te = this.trainEvalIterator();
    // Streams that are one shared generator (Inputs(() => gen)) are skipped once.
    if (evalIt === train) skipTrain += c.eval;
    if (te === train) skipTrain += c.trainEval;
    for (let i = 0; i < skipTrain; i++) await train.next();
    this.counters.train = c.train;
    if (evalIt !== train) { for (let i = 0; i < c.eval; i++) await evalIt.next(); }
    if (te !== train && te !== evalIt) { for (let i = 0; i < c.trainEval; i++) await te.next(); }
    this.counters.eval = c.eval;
    this.counters.trainEval = c.trainEval;
  }

  private async nextTrainBatch(): Promise<Tensor[]> {
    if (this.pendingFirst !== null) {
      const b = this.pendingFirst;
      this.pendingFirst = null;
      return checkBatch(b, this.batchSig, `batch ${this.counters.train - 1} from the train stream`);
    }
    const r = await this.trainIterator().next();
    if (r.done) throw new Error(`Trainer: the train stream ended after ${this.counters.train} batches (step ${this._step})`);
    this.counters.train++;
    return checkBatch(r.value, this.batchSig, `batch ${this.counters.train - 1} from the train stream`);
  }

  /** One gradient step on one batch; returns the loss. */
  trainStepOn(batch: Tensor[]): number {
    const before = [this.flatWeights, this.slots, this.modelState];
    const { loss, state } = trainStep(this.stepModel(), { flatWeights: this.flatWeights, slots: this.slots, modelState: this.modelState },
      batch, random.foldIn(this.baseKey, this._step), this.lrSchedule(this._step), this._step, this.stepFn);
    this.flatWeights = state.flatWeights;
    this.slots = state.slots;
    this.modelState = state.modelState;
    // The weights, slots and state the step replaced are handed back.
    disposeReplaced(before, [this.flatWeights, this.slots, this.modelState]);
    this._step++;
    this.lastLoss = loss;
    if (this.checkpointsAt.has(this._step) && this.shouldSave && this.outputDir) {
      this.saveState(`model_${this._step}.pkl.gz`);
    }
    return loss;
  }

  /** Runs one training step on the next batch of the train stream. */
  async trainStep(): Promise<number> {
    await this.ready;
    await this.replayStreams();
    await yieldToEventLoop();
    return this.trainStepOn(await this.nextTrainBatch());
  }

  /**
   * Trains nSteps, then evaluates on nEvalSteps batches (if > 0) and saves the
   * checkpoint, printing Trax's log lines. The event loop gets a turn every
   * few milliseconds. When opts.signal is aborted, training stops after the
   * step in progress, the checkpoint is saved (with an outputDir) and the
   * promise rejects with the signal's reason; the next call continues from
   * that step.
   */
  async trainEpoch(nSteps: number, nEvalSteps: number, opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (!Number.isInteger(nSteps) || nSteps < 0) throw new RangeError(`trainEpoch: nSteps must be a non-negative integer, got ${nSteps}`);
    const signal = opts.signal;
    await this.ready;
    await this.replayStreams();
    this.log('');
    try {
      const t0 = performance.now();
      for (let i = 0; i < nSteps; i++) {
        await yieldToEventLoop();
        signal?.throwIfAborted();
        this.trainStepOn(await this.nextTrainBatch());
      }
      const secs = (performance.now() - t0) / 1000;
      this.log(stepLine(this._step, `Ran ${nSteps} train steps in ${secs.toFixed(2)} secs`));
      this.recordHistory('train', 'training/learning_rate', this.lrSchedule(this._step));
      if (Number.isFinite(this.lastLoss)) this.recordHistory('train', 'training/loss', this.lastLoss);
      if (nEvalSteps > 0) await this.evaluate(nEvalSteps, { signal });
    } catch (e) {
      // Stopped on request: keep what was trained.
      if (signal?.aborted && e === signal.reason && this.shouldSave && this.outputDir) this.saveState();
      throw e;
    }
    if (this.shouldSave && this.outputDir) this.saveState();
  }

  private async evalOn(it: AnyIterator, counter: keyof Counters, nSteps: number, where: string, signal?: AbortSignal): Promise<Record<string, number>> {
    const rng = random.foldIn(this.baseKey, 0x6576616c);
    const { means } = await evaluateMetrics({
      model: this.modelEval, weights: this.weightsTree(), state: this.modelState,
      metrics: this.metricNames.map((n) => this.metrics[n]), nBatches: nSteps, rng: () => rng, carryState: false, signal,
      nextBatch: async () => {
        const r = await it.next();
        if (r.done) throw new Error(`Trainer: the ${where} stream ended during evaluation`);
        this.counters[counter]++;
        return checkBatch(r.value, this.batchSig, `batch ${this.counters[counter] - 1} from the ${where} stream`);
      },
    });
    const out: Record<string, number> = {};
    this.metricNames.forEach((n, k) => { out[n] = means[k]; });
    return out;
  }

  /** Evaluates every metric on nEvalSteps batches of the train and eval streams. */
  async evaluate(nEvalSteps: number, opts: { signal?: AbortSignal } = {}): Promise<Record<string, Record<string, number>>> {
    await this.ready;
    await this.replayStreams();
    this.log(stepLine(this._step, 'Evaluation'));
    const width = Math.max(...this.metricNames.map((n) => n.length));
    const results: Record<string, Record<string, number>> = {};
    const trainIt = this.trainEvalIterator();
    for (const [prefix, it, counter] of [['train', trainIt, 'trainEval'], ['eval', this.evalIterator(), 'eval']] as const) {
      const vals = await this.evalOn(it, counter, nEvalSteps, prefix, opts.signal);
      results[prefix] = vals;
      for (const name of this.metricNames) {
        this.log(stepLine(this._step, `${prefix.padEnd(5)} ${name.padStart(width)} | ${formatMetric(vals[name])}`));
        this.recordHistory(prefix, `metrics/${name}`, vals[name]);
      }
    }
    this.log(stepLine(this._step, 'Finished evaluation'));
    this.maybeSaveBest(results['eval']);
    return results;
  }

  private maybeSaveBest(evalResults: Record<string, number>): void {
    if (!this.outputDir || !this.shouldSave) return;
    if (this.checkpointHighest && evalResults[this.checkpointHighest] > this.bestHigh) {
      this.bestHigh = evalResults[this.checkpointHighest];
      this.saveState(`highest_${this.checkpointHighest}.pkl.gz`);
    }
    if (this.checkpointLowest && evalResults[this.checkpointLowest] < this.bestLow) {
      this.bestLow = evalResults[this.checkpointLowest];
      this.saveState(`lowest_${this.checkpointLowest}.pkl.gz`);
    }
  }

  private recordHistory(mode: string, metric: string, value: number): void {
    (this.metricsLog.history[mode] ??= {});
    this.metricsLog.record(this._step, mode, metric, value);
  }

  /** Logs and returns the number of trainable weights. */
  printNWeights(): number {
    const n = this.flatWeights.reduce((s, t) => s + t.size, 0);
    this.log(stepLine(this._step, `Total number of trainable weights: ${n}`));
    return n;
  }

  /** Writes outputDir/<name> (default model.pkl.gz) atomically in Trax's trainer_lib layout. */
  saveState(name = 'model.pkl.gz'): void {
    const path = this.checkpointPath(name);
    if (!path) throw new Error('Trainer.saveState: no outputDir was given');
    const slotsNd = (s: unknown): unknown => (s instanceof Tensor ? tensorToNd(s) : Array.isArray(s) ? s.map(slotsNd) : s);
    const [, flatState] = flattenWeightsAndState([], this.modelState);
    const dict = trainerLibDict({
      step: this._step,
      flatWeights: this.flatWeights.map(tensorToNd),
      flatState: flatState.map((s) => (s instanceof Tensor ? tensorToNd(s) : s)),
      slots: this.slots.map(slotsNd),
      optParams: { ...this.optimizer.optParams, learning_rate: this.lrSchedule(this._step) },
      history: { _values: this.metricsLog.history },
      inputSignature: this.batchSig!.map((s) => ({ shape: s.shape, dtype: s.dtype })),
    });
    dict['trax_ts'] = { data_counters: { ...this.counters }, seed: this.seed, version: 1, ...(this.runConfig !== undefined ? { run_config: this.runConfig } : {}) };
    writeFileAtomicSync(path, gzipSync(writePickle(dict), 2));
  }

  /** Reads the metrics history written beside the checkpoint (metrics.jsonl). */
  static readMetricsHistory(outputDir: string): MetricRecord[] {
    return MetricsWriter.read(outputDir);
  }
}

