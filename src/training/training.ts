// Trax master's training.Loop (trax/supervised/training.py): TrainTask and
// EvalTask bundle data with a loss or metrics; Loop.run(n) trains with 1-based
// steps, evaluates and checkpoints at step 1 and every nStepsPerCheckpoint,
// and writes checkpoints in Loop's split layout (model.pkl.gz holding the
// gzip level in flat_weights, weights and slots in .npy.gz files beside it).
import { Layer, flattenWeightsAndState, type State, type Weights } from '../layers/base.js';
import { Serial } from '../layers/combinators.js';
import type { Optimizer, Slot } from '../optimizers/base.js';
import { ShapeDtype } from '../shapes.js';
import { disposeReplaced } from '../engine/pool.js';
import { Tensor } from '../engine/tensor.js';
import { reshape } from '../engine/ops.js';
import * as random from '../engine/random.js';
import { treeFlatten, treeUnflatten, type TreeDef } from '../engine/tree.js';
import { writeNpyRecords } from '../io/npy.js';
import { PickledShapeDtype, pyTuple } from '../io/pickle.js';
import { pyFloat, writePickle } from '../io/pickle_writer.js';
import { ndToTensor, tensorToNd } from '../io/model_io.js';
import { CheckpointError, readTraxCheckpointSync, writeFileAtomicSync } from '../io/trax_checkpoint.js';
import { lockRunFolder } from '../io/run_folder.js';
import { checkCounterList, expectedLoadLimits } from './resume.js';
import { checkBatch, ensureWritableDir, formatMetric, openIterator, stepLine, type AnyIterator } from './trainer.js';
import type { LRSchedule } from './lr_schedules.js';
import { callableClass } from '../callable.js';
import { digestHex, fs, gzipSync, path as paths } from '../platform/host.js';
import { evaluateMetrics } from './evaluate.js';
import { MetricsWriter, type History, type MetricRecord } from './metrics_writer.js';
import { makeTrainStep, trainStep, type PureTrainStep, type TrainStepModel } from './step.js';
import { yieldToEventLoop } from './yield.js';

type BatchSourceLike = Iterator<unknown> | AsyncIterator<unknown> | Iterable<unknown> | AsyncIterable<unknown>;

export interface TrainTaskOptions {
  /** Iterator or iterable (sync or async) of batches [inputs, targets, weights?]. */
  labeledData: BatchSourceLike;
  lossLayer: Layer;
  /** An optimizer instance, e.g. trax.optimizers.Adam(0.01). */
  optimizer: Optimizer;
  /** Defaults to the optimizer's own learning rate. */
  lrSchedule?: LRSchedule | null;
  nStepsPerCheckpoint?: number;
  nStepsPerPermanentCheckpoint?: number | null;
  /** Defaults to the loss layer's name. */
  lossName?: string | null;
}

export interface EvalTaskOptions {
  labeledData: BatchSourceLike;
  metrics: Layer[];
  /** Defaults to the metric layers' names. */
  metricNames?: string[] | null;
  nEvalBatches?: number;
}

function isOptionsObject(x: unknown, key: string): boolean {
  return typeof x === 'object' && x !== null && key in x && typeof (x as { next?: unknown }).next !== 'function';
}

function positiveInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${what} must be a positive integer, got ${v}`);
  return v;
}

/** A training task: labeled data, loss layer, optimizer and LR schedule. */
export class TrainTaskImpl {
  readonly labeledData: BatchSourceLike;
  readonly lossLayer: Layer;
  readonly optimizer: Optimizer;
  readonly lrSchedule: LRSchedule | null;
  readonly nStepsPerCheckpoint: number;
  readonly nStepsPerPermanentCheckpoint: number | null;
  readonly lossName: string;

  constructor(o: TrainTaskOptions) {
    if (!(o.lossLayer instanceof Layer)) throw new TypeError('TrainTask: lossLayer must be a layer, e.g. trax.layers.WeightedCategoryCrossEntropy()');
    if (!o.optimizer || typeof (o.optimizer as Optimizer).treeUpdate !== 'function') {
      throw new TypeError('TrainTask: optimizer must be an optimizer instance, e.g. trax.optimizers.Adam(0.01)');
    }
    if (o.lrSchedule != null && typeof o.lrSchedule !== 'function') throw new TypeError('TrainTask: lrSchedule must be a function of the step');
    this.labeledData = o.labeledData;
    this.lossLayer = o.lossLayer;
    this.optimizer = o.optimizer;
    this.lrSchedule = o.lrSchedule ?? null;
    this.nStepsPerCheckpoint = positiveInt(o.nStepsPerCheckpoint ?? 100, 'TrainTask: nStepsPerCheckpoint');
    this.nStepsPerPermanentCheckpoint = o.nStepsPerPermanentCheckpoint == null ? null
      : positiveInt(o.nStepsPerPermanentCheckpoint, 'TrainTask: nStepsPerPermanentCheckpoint');
    this.lossName = o.lossName ?? o.lossLayer.name;
  }

  /** Trax: the schedule's value, or the optimizer's learning rate when there is none. */
  learningRate(step: number): number {
    return this.lrSchedule ? this.lrSchedule(step) : this.optimizer.optParams.learning_rate;
  }
}

/** An evaluation task: labeled data and metric layers, averaged over nEvalBatches. */
export class EvalTaskImpl {
  readonly labeledData: BatchSourceLike;
  readonly metrics: Layer[];
  readonly metricNames: string[];
  readonly nEvalBatches: number;

  constructor(o: EvalTaskOptions) {
    if (!Array.isArray(o.metrics) || o.metrics.length === 0 || !o.metrics.every((m) => m instanceof Layer)) {
      throw new TypeError('EvalTask: metrics must be a non-empty array of layers');
    }
    const names = o.metricNames ?? o.metrics.map((m) => m.name);
    if (names.length !== o.metrics.length) {
      throw new RangeError(`EvalTask: ${names.length} metric names for ${o.metrics.length} metrics`);
    }
    this.labeledData = o.labeledData;
    this.metrics = o.metrics;
    this.metricNames = names;
    this.nEvalBatches = positiveInt(o.nEvalBatches ?? 1, 'EvalTask: nEvalBatches');
  }
}

export interface TrainTaskConstructor {
  (opts: TrainTaskOptions): TrainTaskImpl;
  (labeledData: BatchSourceLike, lossLayer: Layer, optimizer: Optimizer, lrSchedule?: LRSchedule | null,
    nStepsPerCheckpoint?: number, nStepsPerPermanentCheckpoint?: number | null, lossName?: string | null): TrainTaskImpl;
  new (opts: TrainTaskOptions): TrainTaskImpl;
  new (labeledData: BatchSourceLike, lossLayer: Layer, optimizer: Optimizer, lrSchedule?: LRSchedule | null,
    nStepsPerCheckpoint?: number, nStepsPerPermanentCheckpoint?: number | null, lossName?: string | null): TrainTaskImpl;
  readonly prototype: TrainTaskImpl;
}

/** `TrainTask({labeledData, lossLayer, optimizer, ...})` or Trax's positional form; `new` optional. */
export const TrainTask = callableClass<TrainTaskConstructor>('TrainTask', TrainTaskImpl, (a: unknown, ...rest: unknown[]): TrainTaskImpl => {
  if (isOptionsObject(a, 'labeledData') && rest.length === 0) return new TrainTaskImpl(a as TrainTaskOptions);
  const [lossLayer, optimizer, lrSchedule, nStepsPerCheckpoint, nStepsPerPermanentCheckpoint, lossName] = rest;
  return new TrainTaskImpl({
    labeledData: a as BatchSourceLike, lossLayer: lossLayer as Layer, optimizer: optimizer as Optimizer,
    lrSchedule: lrSchedule as LRSchedule | null, nStepsPerCheckpoint: nStepsPerCheckpoint as number | undefined,
    nStepsPerPermanentCheckpoint: nStepsPerPermanentCheckpoint as number | null, lossName: lossName as string | null,
  });
});
export type TrainTask = TrainTaskImpl;

export interface EvalTaskConstructor {
  (opts: EvalTaskOptions): EvalTaskImpl;
  (labeledData: BatchSourceLike, metrics: Layer[], metricNames?: string[] | null, nEvalBatches?: number): EvalTaskImpl;
  new (opts: EvalTaskOptions): EvalTaskImpl;
  new (labeledData: BatchSourceLike, metrics: Layer[], metricNames?: string[] | null, nEvalBatches?: number): EvalTaskImpl;
  readonly prototype: EvalTaskImpl;
}

/** `EvalTask({labeledData, metrics, metricNames, nEvalBatches})` or positional; `new` optional. */
export const EvalTask = callableClass<EvalTaskConstructor>('EvalTask', EvalTaskImpl, (a: unknown, ...rest: unknown[]): EvalTaskImpl => {
  if (isOptionsObject(a, 'labeledData') && rest.length === 0) return new EvalTaskImpl(a as EvalTaskOptions);
  const [metrics, metricNames, nEvalBatches] = rest;
  return new EvalTaskImpl({
    labeledData: a as BatchSourceLike, metrics: metrics as Layer[], metricNames: metricNames as string[] | null,
    nEvalBatches: nEvalBatches as number | undefined,
  });
});
export type EvalTask = EvalTaskImpl;

export type StepPredicate = (step: number) => boolean;

export interface LoopOptions {
  /** Model used by the eval tasks; defaults to the training model (as in Trax). */
  evalModel?: Layer | null;
  evalTasks?: EvalTaskImpl | EvalTaskImpl[] | null;
  outputDir?: string | null;
  checkpointAt?: StepPredicate | null;
  permanentCheckpointAt?: StepPredicate | null;
  evalAt?: StepPredicate | null;
  /** Which train task runs at a step; default step % nTasks. */
  whichTask?: ((step: number) => number) | null;
  randomSeed?: number | null;
  /** Where log lines go (default: console.log). */
  log?: (line: string) => void;
  /** Append {step, mode, metric, value} lines to outputDir/metrics.jsonl (default true). */
  writeMetrics?: boolean;
  /**
   * Replay each task's training step through fastmath.jit (default true). A
   * model that cannot be traced trains eagerly, with a warning saying why.
   */
  jit?: boolean;
}


/** Trax's _at_step_1_and_every_nth_step. */
function atStep1AndEvery(period: number | null): StepPredicate {
  if (period === null) return () => false;
  return (step) => step === 1 || (step > 0 && step % period === 0);
}

interface Source { it: AnyIterator | null; data: BatchSourceLike; consumed: number; pending: unknown[] }

const GZIP_LEVEL = 2;
const LOOP_VERSION = 'Mar-10-2021';

function sha1(bytes: Uint8Array): string {
  return digestHex('sha1', bytes);
}

/**
 * training.Loop(model, tasks, {evalModel, evalTasks, outputDir, ...}):
 * `await loop.run(nSteps)` trains; when outputDir holds model.pkl.gz the loop
 * resumes from it (weights, slots, step, history and data positions).
 */
export class Loop {
  private readonly model: Layer;
  private readonly evalModelLayer: Layer;
  private readonly tasks: TrainTaskImpl[];
  private readonly evalTasks: EvalTaskImpl[];
  private readonly outputDir: string | null;
  private readonly checkpointAt: StepPredicate;
  private readonly permanentCheckpointAt: StepPredicate;
  private readonly evalAt: StepPredicate;
  private readonly whichTask: (step: number) => number;
  private readonly seed: number;
  private readonly baseKey: random.PRNGKey;
  private readonly log: (line: string) => void;
  private readonly writeMetrics: boolean;
  private readonly rjustLen: number;
  private readonly sources = new Map<unknown, Source>();
  private readonly ready: Promise<void>;
  private readonly stepFns: PureTrainStep[];

  private _step = 0;
  private flatWeights: Tensor[] = [];
  private weightsDef: TreeDef | null = null;
  private modelState: State = [];
  private evalState: State = [];
  private lossWeights: Weights[] = [];
  private lossStates: State[] = [];
  private withLoss: Layer[] = [];
  private slots: Slot[][] = [];
  private batchSig: ShapeDtype[] = [];
  private readonly metricsLog: MetricsWriter;

  constructor(model: Layer, tasks: TrainTaskImpl | TrainTaskImpl[], opts: LoopOptions = {}) {
    if (!(model instanceof Layer)) throw new TypeError('Loop: model must be a layer (e.g. TransformerLM({mode: "train"}))');
    this.tasks = Array.isArray(tasks) ? tasks : [tasks];
    if (this.tasks.length === 0 || !this.tasks.every((t) => t instanceof TrainTaskImpl)) {
      throw new TypeError('Loop: tasks must be a TrainTask or a non-empty array of them');
    }
    const ev = opts.evalTasks ?? [];
    this.evalTasks = Array.isArray(ev) ? ev : [ev];
    if (!this.evalTasks.every((t) => t instanceof EvalTaskImpl)) throw new TypeError('Loop: evalTasks must be EvalTask objects');
    this.model = model;
    this.evalModelLayer = opts.evalModel ?? model;
    this.outputDir = opts.outputDir ?? null;
    const every = atStep1AndEvery(this.tasks[0].nStepsPerCheckpoint);
    this.evalAt = opts.evalAt ?? every;
    this.checkpointAt = opts.checkpointAt ?? every;
    this.permanentCheckpointAt = opts.permanentCheckpointAt ?? atStep1AndEvery(this.tasks[0].nStepsPerPermanentCheckpoint);
    const n = this.tasks.length;
    this.whichTask = opts.whichTask ?? ((step) => step % n);
    this.seed = opts.randomSeed ?? Math.floor(Math.random() * 2 ** 31);
    if (!Number.isInteger(this.seed)) throw new TypeError(`Loop: randomSeed must be an integer, got ${opts.randomSeed}`);
    this.baseKey = random.key(this.seed);
    this.log = opts.log ?? ((line: string) => console.log(line));
    this.writeMetrics = opts.writeMetrics ?? true;
    this.metricsLog = new MetricsWriter(this.outputDir, this.writeMetrics);
    const names = [...this.tasks.map((t) => t.lossName), ...this.evalTasks.flatMap((t) => t.metricNames)];
    this.rjustLen = Math.max(...names.map((s) => s.length));
    for (const t of [...this.tasks, ...this.evalTasks]) {
      if (!this.sources.has(t.labeledData)) this.sources.set(t.labeledData, { it: null, data: t.labeledData, consumed: 0, pending: [] });
    }
    if (this.outputDir) {
      ensureWritableDir(this.outputDir, 'Loop');
      lockRunFolder(this.outputDir, 'Loop');
    }
    this.stepFns = this.tasks.map((_, ti) => makeTrainStep(() => this.stepModel(ti),
      { jit: opts.jit, name: `the training step of TrainTask ${ti}`, owner: 'Loop' }));
    this.ready = this.initialize();
    // Errors are reported by run(); this only keeps them from being "unhandled" meanwhile.
    this.ready.catch(() => undefined);
  }

  /** The number of steps done so far (1-based numbering: step k is the k-th update). */
  get step(): number { return this._step; }
  get outputDirectory(): string | null { return this.outputDir; }
  get historyValues(): History { return this.metricsLog.history; }
  /** Resolves when the model is initialized (or restored). */
  whenReady(): Promise<void> { return this.ready; }
  /** The training model, holding the current weights and state. */
  get trainedModel(): Layer {
    this.model.weights = this.weightsTree();
    this.model.state = this.modelState;
    return this.model;
  }
  /** The eval model, holding the current weights. */
  get evalModel(): Layer {
    this.evalModelLayer.weights = this.weightsTree();
    this.evalModelLayer.state = this.evalState;
    return this.evalModelLayer;
  }
  /** Flat model weights, in Trax's order. */
  get flatModelWeights(): Tensor[] { return this.flatWeights; }

  private weightsTree(): Weights {
    return treeUnflatten(this.weightsDef!, this.flatWeights) as Weights;
  }

  private async nextBatch(data: BatchSourceLike, where: string): Promise<Tensor[]> {
    const src = this.sources.get(data)!;
    let value: unknown;
    if (src.pending.length) value = src.pending.shift();
    else {
      src.it ??= openIterator(src.data, 'labeledData');
      const r = await src.it.next();
      if (r.done) throw new Error(`Loop: ${where} ran out of batches after ${src.consumed} (step ${this._step})`);
      value = r.value;
    }
    src.consumed++;
    return checkBatch(value, this.batchSig.length ? this.batchSig : null, `batch ${src.consumed - 1} of ${where}`);
  }

  /** The model's part of the batch signature: one ShapeDtype when nIn is 1. */
  private modelInputSig(): ShapeDtype | ShapeDtype[] {
    const n = this.model.nIn;
    return n === 1 ? this.batchSig[0] : this.batchSig.slice(0, n);
  }

  private checkpointPath(basename: string): string {
    return paths.join(this.outputDir!, `${basename}.pkl.gz`);
  }

  private async initialize(): Promise<void> {
    // The signature comes from a sample batch of the first task; the batch is
    // kept and used as the first training batch.
    const first = this.sources.get(this.tasks[0].labeledData)!;
    first.it = openIterator(first.data, 'labeledData');
    const r = await first.it.next();
    if (r.done) throw new Error('Loop: the first TrainTask\'s labeledData is empty');
    first.pending.push(r.value);
    const fields = checkBatch(r.value, null, 'the sample batch of the first TrainTask');
    this.batchSig = fields.map((f) => new ShapeDtype(f.shape, f.dtype));
    const initKey = random.foldIn(this.baseKey, 0x696e6974);
    this.withLoss = this.tasks.map((t) => Serial(this.model, t.lossLayer));
    this.lossWeights = [];
    this.lossStates = [];
    this.withLoss.forEach((wl, i) => {
      if (i === 0) {
        const [w, s] = wl.init(this.batchSig, { rng: initKey });
        const [mw, lw] = w as Weights[];
        const [ms, ls] = s as State[];
        const flat = treeFlatten<Tensor>(mw);
        this.flatWeights = flat.leaves;
        this.weightsDef = flat.def;
        this.modelState = ms;
        this.lossWeights.push(lw);
        this.lossStates.push(ls);
      } else {
        // The model part is shared; only the loss layer is new.
        const sig = this.model.outputSignature(this.modelInputSig());
        const rest = this.batchSig.slice(this.model.nIn);
        const lossIn = [...(Array.isArray(sig) ? sig : [sig]), ...rest].slice(0, this.tasks[i].lossLayer.nIn);
        const [lw, ls] = this.tasks[i].lossLayer.init(lossIn as ShapeDtype[], { rng: initKey });
        this.lossWeights.push(lw);
        this.lossStates.push(ls);
      }
    });
    const [, es] = this.evalModelLayer === this.model
      ? [null, this.modelState]
      : this.evalModelLayer.init(this.modelInputSig(), { rng: initKey });
    this.evalState = es as State;
    this.slots = this.tasks.map((t) => t.optimizer.treeInit(this.flatWeights));
    const path = this.outputDir ? this.checkpointPath('model') : null;
    if (path && fs.existsSync(path)) await this.restore(path);
  }

  /** Loads a Loop checkpoint (model.pkl.gz + model.weights.npy.gz + opt slots) into this loop. */
  private async restore(path: string): Promise<void> {
    let ck;
    try {
      ck = readTraxCheckpointSync(path, expectedLoadLimits(path, this.flatWeights));
    } catch (e) {
      throw new Error(`Loop: cannot resume from ${path}: ${(e as Error).message}`);
    }
    const extra = ck.raw['trax_ts'] as { weights_sha1?: string; slots_sha1?: string[]; data_counters?: number[]; seed?: number } | undefined;
    if (ck.format === 'loop' && extra?.weights_sha1) {
      // The side files are renamed into place one by one; a crash between
      // renames would pair new weights with an old model.pkl.gz.
      const wfile = path.slice(0, -6) + 'weights.npy.gz';
      if (sha1(fs.readFileSync(wfile)) !== extra.weights_sha1) {
        throw new CheckpointError(`${wfile} does not belong to ${path} (a save was interrupted); restore both from a permanent checkpoint model_<step>.*`);
      }
    }
    if (ck.flatWeights.length !== this.flatWeights.length) {
      throw new Error(`Loop: ${path} has ${ck.flatWeights.length} weights but the model has ${this.flatWeights.length}; ` +
        'point outputDir at a fresh directory or delete model.pkl.gz to start over');
    }
    this.flatWeights = ck.flatWeights.map((a, i) => {
      const want = this.flatWeights[i];
      const t = ndToTensor(a, want);
      if (t.size !== want.size) throw new Error(`Loop: weight ${i} in ${path} has shape [${a.shape}], the model expects [${want.shape}]`);
      return reshape(t, want.shape);
    });
    this._step = ck.step ?? 0;
    // Loop layout: one list of flattened slot arrays per task (opt_slots{i}).
    const perTask = ck.format === 'loop' && Array.isArray(ck.slots) ? ck.slots as unknown[][] : null;
    if (perTask) {
      this.slots = this.slots.map((taskSlots, ti) => {
        const stored = perTask[ti];
        const { leaves: want, def } = treeFlatten<Tensor>(taskSlots);
        if (!stored || stored.length !== want.length) {
          throw new Error(`Loop: ${path}: task ${ti}'s optimizer slots hold ${stored ? stored.length : 0} arrays, ` +
            `the ${this.tasks[ti].optimizer.name} optimizer needs ${want.length}`);
        }
        return treeUnflatten(def, stored.map((a, i) => {
          const t = ndToTensor(a as never, want[i]);
          return reshape(t, want[i].shape);
        })) as Slot[];
      });
    }
    this.metricsLog.restore(ck.history);
    // Replay the data streams to where the saved run was (bounded counters).
    const counters = checkCounterList(extra?.data_counters, this._step, path);
    this.metricsLog.cutBack(this._step);
    if (counters) {
      const srcs = [...this.sources.values()];
      for (let i = 0; i < srcs.length && i < counters.length; i++) {
        const src = srcs[i];
        src.it ??= openIterator(src.data, 'labeledData');
        while (src.consumed < counters[i]) {
          if (src.pending.length) src.pending.shift();
          else if ((await src.it.next()).done) throw new Error(`Loop: labeledData ended while replaying it to the saved position (${counters[i]} batches)`);
          src.consumed++;
        }
      }
    }
  }

  /**
   * Runs nSteps training steps, evaluating and checkpointing on schedule. The
   * event loop gets a turn every few milliseconds. When opts.signal is
   * aborted, the loop stops between steps, saves model.pkl.gz (with an
   * outputDir) and rejects with the signal's reason.
   */
  async run(nSteps = 1, opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (!Number.isInteger(nSteps) || nSteps < 0) throw new RangeError(`Loop.run: nSteps must be a non-negative integer, got ${nSteps}`);
    const signal = opts.signal;
    await this.ready;
    try {
      await this.runSteps(nSteps, signal);
    } catch (e) {
      if (signal?.aborted && e === signal.reason && this.outputDir) this.saveCheckpoint('model');
      throw e;
    }
  }

  private async runSteps(nSteps: number, signal: AbortSignal | undefined): Promise<void> {
    let lossAcc = 0, stepAcc = 0;
    let start = performance.now();
    for (let i = 0; i < nSteps; i++) {
      await yieldToEventLoop();
      signal?.throwIfAborted();
      const prevTask = this.whichTask(this._step);
      this._step++;
      const taskIndex = this.whichTask(this._step);
      if (taskIndex !== prevTask) { lossAcc = 0; stepAcc = 0; }
      lossAcc += await this.runOneStep(taskIndex);
      stepAcc++;
      const saved: string[] = [];
      if (this.outputDir && this.checkpointAt(this._step)) saved.push('model');
      if (this.outputDir && this.permanentCheckpointAt(this._step)) saved.push(`model_${this._step}`);
      for (const b of saved) this.saveCheckpoint(b);
      if (this.evalAt(this._step)) {
        this.logTrainingProgress(this.tasks[taskIndex], lossAcc, stepAcc, (performance.now() - start) / 1000);
        await this.runEvals(signal);
        // As in Trax the checkpoint is written before evaluating (a failing
        // eval loses nothing); the small pickle is rewritten after it so the
        // history and eval data positions include this step's evaluation.
        for (const b of saved) this.writeCheckpointPickle(b);
        lossAcc = 0; stepAcc = 0;
        start = performance.now();
      }
    }
  }

  private async runOneStep(taskIndex: number): Promise<number> {
    const task = this.tasks[taskIndex];
    if (!task) throw new RangeError(`Loop: whichTask(${this._step}) gave ${taskIndex}, but there are ${this.tasks.length} tasks`);
    const step = this._step;
    const batch = await this.nextBatch(task.labeledData, `TrainTask ${taskIndex}'s labeledData`);
    const before = [this.flatWeights, [...this.slots], this.modelState];
    const { loss, state } = trainStep(this.stepModel(taskIndex),
      { flatWeights: this.flatWeights, slots: this.slots[taskIndex], modelState: this.modelState },
      batch, random.foldIn(this.baseKey, step), task.learningRate(step), step, this.stepFns[taskIndex]);
    this.flatWeights = state.flatWeights;
    this.slots[taskIndex] = state.slots;
    this.modelState = state.modelState;
    // The weights, slots and state the step replaced are handed back.
    disposeReplaced(before, [this.flatWeights, this.slots, this.modelState]);
    return loss;
  }

  private stepModel(ti: number): TrainStepModel {
    const def = this.weightsDef!;
    const task = this.tasks[ti];
    return {
      withLoss: this.withLoss[ti], weightsTree: (flat) => treeUnflatten(def, flat) as Weights,
      lossWeights: this.lossWeights[ti], lossState: this.lossStates[ti], optimizer: task.optimizer,
      lossLabel: `Loop: ${task.lossName}`,
    };
  }

  private logStep(msg: string): void {
    this.log(stepLine(this._step, msg));
  }

  private logTrainingProgress(task: TrainTaskImpl, totalLoss: number, nSteps: number, secs: number): void {
    const n = Math.max(1, nSteps);
    this.log('');
    if (this._step === 1) this.logStep(`Total number of trainable weights: ${this.flatWeights.reduce((s, t) => s + t.size, 0)}`);
    this.logStep(`Ran ${nSteps} train steps in ${secs.toFixed(2)} secs`);
    this.logSummary({ [task.lossName]: totalLoss / n }, 'metrics/', 'train');
    this.logSummary({ learning_rate: task.learningRate(this._step), steps_per_second: nSteps / Math.max(secs, 1e-9) },
      'training/', 'train', false);
  }

  private logSummary(values: Record<string, number>, valuePrefix: string, logPrefix: string, stdout = true): void {
    for (const [name, value] of Object.entries(values)) {
      if (stdout) this.logStep(`${logPrefix.padEnd(5)} ${name.padStart(this.rjustLen)} | ${formatMetric(value)}`);
      this.metricsLog.record(this._step, logPrefix, valuePrefix + name, value);
    }
  }

  /** Evaluates every EvalTask with the current weights and logs `eval <metric> | v`. */
  async runEvals(signal?: AbortSignal): Promise<Record<string, number>[]> {
    await this.ready;
    const out: Record<string, number>[] = [];
    const w = this.weightsTree();
    for (const [ti, task] of this.evalTasks.entries()) {
      const { means, state } = await evaluateMetrics({
        model: this.evalModelLayer, weights: w, state: this.evalState, metrics: task.metrics, nBatches: task.nEvalBatches,
        nextBatch: () => this.nextBatch(task.labeledData, `EvalTask ${ti}'s labeledData`),
        rng: (b) => random.foldIn(random.foldIn(this.baseKey, 0x6576616c + ti), this._step * 1024 + b),
        carryState: true, signal,
      });
      this.evalState = state;
      const avg: Record<string, number> = {};
      task.metricNames.forEach((name, k) => { avg[name] = means[k]; });
      this.logSummary(avg, 'metrics/', 'eval');
      out.push(avg);
    }
    return out;
  }

  /**
   * Writes outputDir/<basename>.pkl.gz in Loop's layout with
   * <basename>.weights.npy.gz and <basename>.opt_slots{i}.npy.gz beside it.
   * Each file is written atomically; model.pkl.gz goes last and records
   * a hash of the weights file so a mismatched pair is detected on resume.
   */
  saveCheckpoint(basename = 'model'): void {
    if (!this.outputDir) throw new Error('Loop.saveCheckpoint: no outputDir was given');
    const base = paths.join(this.outputDir, basename);
    const weightsBytes = gzipSync(writeNpyRecords(this.flatWeights.map(tensorToNd)), GZIP_LEVEL);
    const slotBytes = this.slots.map((s) => gzipSync(writeNpyRecords(treeFlatten<Tensor>(s).leaves.map(tensorToNd)), GZIP_LEVEL));
    try {
      writeFileAtomicSync(`${base}.weights.npy.gz`, weightsBytes);
      slotBytes.forEach((b, i) => writeFileAtomicSync(`${base}.opt_slots${i}.npy.gz`, b));
    } catch (e) {
      throw new Error(`Loop: saving checkpoint ${base}.pkl.gz at step ${this._step} failed: ${(e as Error).message}`);
    }
    this.weightsSha.set(basename, sha1(weightsBytes));
    this.writeCheckpointPickle(basename);
  }

  private readonly weightsSha = new Map<string, string>();

  /** Writes <basename>.pkl.gz for the weights file saveCheckpoint wrote last. */
  private writeCheckpointPickle(basename: string): void {
    const base = paths.join(this.outputDir!, basename);
    const [, flatState] = flattenWeightsAndState([], this.modelState);
    const [, flatEvalState] = flattenWeightsAndState([], this.evalState);
    const nd = (s: unknown) => (s instanceof Tensor ? tensorToNd(s) : s);
    const history: Record<string, Record<string, unknown[]>> = {};
    for (const [mode, metrics] of Object.entries(this.metricsLog.history)) {
      history[mode] = {};
      for (const [k, v] of Object.entries(metrics)) history[mode][k] = v.map(([s, x]) => pyTuple([s, pyFloat(x)]));
    }
    const dict: Record<string, unknown> = {
      step: this._step,
      flat_weights: GZIP_LEVEL,
      flat_state: flatState.map(nd),
      flat_eval_state: flatEvalState.map(nd),
      history: { _values: history },
      slots_per_task: GZIP_LEVEL,
      input_signature: pyTuple(this.batchSig.slice(0, this.model.nIn).map((s) => new PickledShapeDtype([...s.shape], s.dtype))),
      version_timestamp: LOOP_VERSION,
      trax_ts: {
        version: 1, seed: this.seed,
        data_counters: [...this.sources.values()].map((s) => s.consumed),
        weights_sha1: this.weightsSha.get(basename) ?? null,
      },
    };
    try {
      writeFileAtomicSync(`${base}.pkl.gz`, gzipSync(writePickle(dict), GZIP_LEVEL));
    } catch (e) {
      throw new Error(`Loop: saving checkpoint ${base}.pkl.gz at step ${this._step} failed: ${(e as Error).message}`);
    }
  }

  /** Reads outputDir/metrics.jsonl. */
  static readMetricsHistory(outputDir: string): MetricRecord[] {
    return MetricsWriter.read(outputDir);
  }
}
