// Optimizer base class with Trax's `trax/optimizers/base.py` semantics: one
// slot entry per flattened weight, global-norm gradient clipping over all
// leaves, then a per-leaf update. Hyperparameters live in `optParams` under
// Trax's snake_case names because checkpoints store them as `opt_params`.

import { tracing } from '../engine/pool.js';
import { Tensor } from '../engine/tensor.js';
import { add, less, minimum, mul, div, sqrt, where, scalar } from '../engine/ops.js';
import { clone, sumSquares } from '../engine/ops/optim.js';

/**
 * Optimizer state for one weight: a tensor, a (possibly nested) array of
 * tensors, or `[]` for none. Mirrors Trax: Adam `[m, v]`, Adafactor
 * `[v_row, v_col]` or `[v]` (then `m` when momentum is on), Momentum `v`,
 * RMSProp `avg`, SM3 `[m or [], v1s, v2s]`, SGD `[]`.
 */
export type Slot = Tensor | Slot[];

/** Hyperparameters by Trax name (`learning_rate`, `b1`, ...). */
export type OptParams = Record<string, number>;

export interface UpdateStats {
  /** Global L2 norm of the gradients, before clipping. */
  gradients_l2: number;
  /** Global L2 norm of the weights, before the update. */
  weights_l2: number;
}

export interface TreeUpdateResult {
  weights: Tensor[];
  slots: Slot[];
  stats: UpdateStats;
}

/** Options every optimizer accepts. Keys may also be given in snake_case. */
export interface OptimizerOptions {
  learningRate?: number;
  /** Same as learningRate (the Trainer calls `optimizer({learning_rate: 0})`). */
  learning_rate?: number;
  /** Clip gradients to this global L2 norm (null or undefined: no clipping). */
  clipGradNorm?: number | null;
  /**
   * Update weight and slot buffers in place instead of allocating new ones.
   * Only safe when the caller owns them (no checkpoint or other reader keeps
   * the previous step's arrays).
   */
  inPlace?: boolean;
}

/** A non-numeric constructor option: its snake_case name and default. */
export type FlagValue = boolean | string | number;

/** What a subclass declares about its hyperparameters. */
export interface OptimizerSpec {
  name: string;
  defaultLearningRate: number;
  /** Dynamic hyperparameters (go into optParams), in Trax's keyword order. */
  params: ReadonlyArray<readonly [snakeName: string, defaultValue: number]>;
  /** Construction-time settings that are not in optParams. */
  flags?: Readonly<Record<string, FlagValue>>;
}

export function camelToSnake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}

/** Deep copy of a slot with fresh buffers. */
export function cloneSlot(slot: Slot): Slot {
  if (isTensor(slot)) return clone(slot);
  return slot.map(cloneSlot);
}

/** A float32 zero tensor of the given shape (fresh host storage, outside any scope). */
export function zeros(shape: readonly number[]): Tensor {
  let n = 1;
  for (const d of shape) n *= d;
  return new Tensor(new Float32Array(n), shape);
}

/** Slot component `i` as a tensor, with a clear error if the structure is wrong. */
export function slotTensor(opt: string, slot: Slot, i?: number): Tensor {
  const s = i === undefined ? slot : Array.isArray(slot) ? slot[i] : undefined;
  if (!isTensor(s)) {
    throw new TypeError(`${opt}: unexpected slot structure (wanted a tensor${i === undefined ? '' : ` at index ${i}`})`);
  }
  return s;
}

/** The sum of squares of all tensors, as a 0-d tensor. */
function totalSquares(ts: readonly Tensor[]): Tensor {
  let s: Tensor = scalar(0);
  for (const t of ts) s = add(s, sumSquares(t));
  return s;
}

/**
 * A 0-d tensor's value for the returned statistics. Read only where values
 * are on the host and the step is not being traced by fastmath.jit; otherwise
 * the statistics are NaN (reading them would wait for the device on every
 * step, or make the step untraceable).
 */
function statValue(t: Tensor): number {
  return t.backend.onHost && !tracing() ? t.item() : NaN;
}

export abstract class Optimizer {
  /** Trax-named hyperparameters, including `learning_rate`; may be edited between steps. */
  optParams: OptParams;
  readonly clipGradNorm: number | null;
  readonly inPlace: boolean;
  /** Slots after the last treeInit/treeUpdate (Trax's `optimizer.slots`). */
  slots: Slot[] | null = null;
  protected readonly flags: Record<string, FlagValue>;
  protected readonly spec: OptimizerSpec;

  /**
   * `new X(lr)`, `new X(lr, {hparams})` or `new X({learningRate, ...hparams})`.
   * Unknown option names throw, listing the valid ones.
   */
  protected constructor(spec: OptimizerSpec, learningRate?: number | object, options?: object) {
    this.spec = spec;
    let opts: Record<string, unknown> = {};
    let lr: number | undefined;
    if (typeof learningRate === 'number') lr = learningRate;
    else if (learningRate !== undefined && learningRate !== null) {
      if (typeof learningRate !== 'object') {
        throw new TypeError(`${spec.name}: learning rate must be a number, got ${typeof learningRate}`);
      }
      opts = { ...(learningRate as Record<string, unknown>) };
    }
    if (options !== undefined && options !== null) opts = { ...opts, ...(options as Record<string, unknown>) };

    const given = new Map<string, unknown>();
    for (const [k, v] of Object.entries(opts)) {
      if (v === undefined) continue;
      const snake = camelToSnake(k);
      if (given.has(snake)) throw new TypeError(`${spec.name}: option '${k}' given twice`);
      given.set(snake, v);
    }
    const take = (name: string): unknown => {
      const v = given.get(name);
      given.delete(name);
      return v;
    };
    const num = (name: string, v: unknown): number => {
      if (typeof v !== 'number') throw new TypeError(`${spec.name}: ${name} must be a number, got ${typeof v}`);
      return v;
    };

    const lrOpt = take('learning_rate');
    if (lrOpt !== undefined) {
      if (lr !== undefined) throw new TypeError(`${spec.name}: learning rate given twice`);
      lr = num('learning_rate', lrOpt);
    }
    const clip = take('clip_grad_norm');
    this.clipGradNorm = clip === undefined || clip === null ? null : num('clip_grad_norm', clip);
    const inPlace = take('in_place');
    this.inPlace = inPlace === undefined ? false : Boolean(inPlace);

    // Trax puts the keyword hparams first and appends learning_rate last.
    this.optParams = {};
    for (const [name, def] of spec.params) {
      const v = take(name);
      this.optParams[name] = v === undefined ? def : num(name, v);
    }
    this.optParams.learning_rate = lr ?? spec.defaultLearningRate;

    this.flags = {};
    for (const [name, def] of Object.entries(spec.flags ?? {})) {
      const v = take(name);
      if (v !== undefined && typeof v !== typeof def) {
        throw new TypeError(`${spec.name}: ${name} must be a ${typeof def}, got ${typeof v}`);
      }
      this.flags[name] = (v as FlagValue | undefined) ?? def;
    }

    if (given.size > 0) {
      const valid = ['learning_rate', 'clip_grad_norm', 'in_place', ...spec.params.map((p) => p[0]),
        ...Object.keys(spec.flags ?? {})];
      throw new TypeError(`${spec.name}: unknown option(s) ${[...given.keys()].join(', ')}; ` +
        `valid options (camelCase or snake_case): ${valid.join(', ')}`);
    }
  }

  get name(): string { return this.spec.name; }
  get learningRate(): number { return this.optParams.learning_rate; }
  set learningRate(v: number) { this.optParams.learning_rate = v; }

  /** Fresh slots for one weight. */
  abstract init(weight: Tensor): Slot;

  /**
   * The update of one float32 weight, done in place on `w` and on the slot
   * tensors' buffers (the base class hands over copies unless inPlace).
   */
  protected abstract updateInPlace(step: number, g: Tensor, w: Tensor, slot: Slot,
    shape: readonly number[], p: OptParams): void;

  /** Slots for every flattened weight, in order. */
  treeInit(weights: readonly Tensor[]): Slot[] {
    this.slots = weights.map((w) => this.init(w));
    return this.slots;
  }

  /**
   * Updates one weight: returns the new weight and slot. Unless inPlace, the
   * inputs are left untouched. int32 weights are returned unchanged.
   */
  update(step: number, grad: Tensor, weight: Tensor, slot: Slot, optParams: OptParams = this.optParams):
    { weight: Tensor; slot: Slot } {
    return this.updateLeaf(step, grad, weight, slot, this.mergedParams(optParams));
  }

  private updateLeaf(step: number, grad: Tensor, weight: Tensor, slot: Slot, p: OptParams):
    { weight: Tensor; slot: Slot } {
    if (weight.dtype !== 'float32') return { weight, slot };
    if (grad.dtype !== 'float32' || grad.size !== weight.size) {
      throw new TypeError(`${this.name}: gradient of shape [${grad.shape}] (${grad.dtype}) does not match ` +
        `weight of shape [${weight.shape}]`);
    }
    const w = this.inPlace ? weight : clone(weight);
    const s = this.inPlace ? slot : cloneSlot(slot);
    this.updateInPlace(step, grad, w, s, weight.shape, p);
    return { weight: w, slot: s };
  }

  /**
   * One optimizer step over all flattened weights: optional global-norm
   * clipping, then `update` per leaf. `optParams` defaults to `this.optParams`;
   * a partial object (e.g. only `learning_rate`) overrides just those keys.
   */
  /**
   * Whether treeUpdate measures gradients_l2 and weights_l2 (NaN when off).
   * The Trainer turns this off: nothing it prints reads them.
   */
  computeStats = true;

  treeUpdate(step: number, grads: readonly Tensor[], weights: readonly Tensor[], slots: readonly Slot[],
    optParams: OptParams = this.optParams): TreeUpdateResult {
    if (grads.length !== weights.length || slots.length !== weights.length) {
      throw new RangeError(`${this.name}.treeUpdate: ${grads.length} gradients, ${weights.length} weights, ` +
        `${slots.length} slots (must all be equal)`);
    }
    // The norms cost two passes over every parameter: skip them when no one reads them.
    const needNorm = this.computeStats || this.clipGradNorm !== null;
    const gradNorm = needNorm ? sqrt(totalSquares(grads)) : null;
    const weightNorm = this.computeStats ? sqrt(totalSquares(weights)) : null;

    let gs = grads;
    const maxNorm = this.clipGradNorm;
    if (maxNorm !== null && gradNorm !== null) {
      // factor = 1 when the norm is below maxNorm, else maxNorm / norm (a
      // tensor: no value leaves the device).
      const factor = where(less(gradNorm, maxNorm), 1, minimum(div(maxNorm, gradNorm), 1));
      gs = grads.map((g) => (g.dtype === 'float32' ? mul(g, factor) : g));
    }
    const p = this.mergedParams(optParams);
    const newWeights: Tensor[] = new Array(weights.length);
    const newSlots: Slot[] = new Array(weights.length);
    for (let i = 0; i < weights.length; i++) {
      const r = this.updateLeaf(step, gs[i], weights[i], slots[i], p);
      newWeights[i] = r.weight;
      newSlots[i] = r.slot;
    }
    this.slots = newSlots;
    return {
      weights: newWeights, slots: newSlots,
      stats: { gradients_l2: gradNorm ? statValue(gradNorm) : NaN, weights_l2: weightNorm ? statValue(weightNorm) : NaN },
    };
  }

  private mergedParams(p: OptParams): OptParams {
    return p === this.optParams ? p : { ...this.optParams, ...p };
  }

  toString(): string {
    const hp = Object.entries(this.optParams).map(([k, v]) => `${k}=${v}`);
    for (const [k, v] of Object.entries(this.flags)) hp.push(`${k}=${v}`);
    if (this.clipGradNorm !== null) hp.push(`clip_grad_norm=${this.clipGradNorm}`);
    return `${this.name}(${hp.join(', ')})`;
  }
}

/**
 * An optimizer that can be used like Trax's class: `Adam(0.01)`,
 * `new Adam(0.01, {b1: 0.8})`, `Adam({learningRate: 0.01})` all build one;
 * `Adam.create(...)` is the same; `x instanceof Adam` works.
 */
export interface OptimizerFactory<T extends Optimizer, O extends OptimizerOptions> {
  (learningRate?: number | O, options?: O): T;
  new (learningRate?: number | O, options?: O): T;
  create(learningRate?: number | O, options?: O): T;
  readonly prototype: T;
  /** The underlying class. */
  readonly optimizerClass: new (learningRate?: number | O, options?: O) => T;
}

export function makeOptimizerFactory<T extends Optimizer, O extends OptimizerOptions>(
  cls: new (learningRate?: number | O, options?: O) => T, name: string): OptimizerFactory<T, O> {
  // A plain function: called with or without `new`, it returns the instance
  // (a constructor returning an object makes `new` yield that object).
  const factory = function (learningRate?: number | O, options?: O): T {
    return new cls(learningRate, options);
  };
  Object.defineProperty(factory, 'name', { value: name });
  factory.prototype = cls.prototype;
  Object.defineProperty(factory, 'create', {
    value: (learningRate?: number | O, options?: O): T => new cls(learningRate, options),
  });
  Object.defineProperty(factory, 'optimizerClass', { value: cls });
  return factory as unknown as OptimizerFactory<T, O>;
}
