// Trax's Inputs bundle (trax.data.inputs.Inputs): stream functions for
// training and evaluation, plus the batch signature the trainer initializes
// the model with, read from one peeked training batch.

import type { DType } from '../engine/tensor.js';
import { ShapeDtype } from '../shapes.js';
import { type Example, describeValue, fieldDtype, fieldShape, isField, leadingDim } from './fields.js';
import { isAsyncIterable, isSyncIterable } from './stream.js';
import { callableClass } from '../callable.js';

/** What a stream function may return: a generator, an array of batches, any (async) iterable. */
export type BatchSource = Iterable<Example> | AsyncIterable<Example> | Iterator<Example>;

/** A function of the number of devices returning a stream of batches (Trax's train_stream). */
export type StreamFn = (nDevices: number) => BatchSource;

/** A batch stream handed out by Inputs: a sync or async generator of validated batches. */
export type BatchStream = Generator<Example, void, undefined> | AsyncGenerator<Example, void, undefined>;

/**
 * Checks that a batch is an array of one or more fields sharing one leading
 * (batch) dimension and returns that batch size. Cheap: only the top level
 * of each field is looked at. `where` starts the error message, e.g.
 * "batch 3 from the train stream".
 */
export function validateBatch(batch: unknown, where: string): number {
  if (!Array.isArray(batch)) {
    throw new TypeError(`${where}: expected an array of fields like [inputs, targets, weights], got ${describeValue(batch)}`);
  }
  if (batch.length === 0) throw new RangeError(`${where}: the batch has no fields`);
  let size = -1;
  for (let k = 0; k < batch.length; k++) {
    const f = batch[k];
    if (!isField(f)) throw new TypeError(`${where}: field ${k} is ${describeValue(f)}, not a Tensor, typed array or nested number array`);
    const n = leadingDim(f);
    if (n === undefined) throw new RangeError(`${where}: field ${k} is a scalar; every field needs a leading batch axis`);
    if (k === 0) size = n;
    else if (n !== size) throw new RangeError(`${where}: field ${k} has batch size ${n}, field 0 has ${size}`);
  }
  return size;
}

type AnyIterator = Iterator<Example> | AsyncIterator<Example>;

function openStream(fn: StreamFn, nDevices: number, name: string): { it: AnyIterator; async: boolean } {
  const src = fn(nDevices) as unknown;
  if (isSyncIterable(src)) return { it: (src as Iterable<Example>)[Symbol.iterator](), async: false };
  if (isAsyncIterable(src)) return { it: (src as AsyncIterable<Example>)[Symbol.asyncIterator](), async: true };
  if (src != null && typeof (src as Iterator<Example>).next === 'function') return { it: src as Iterator<Example>, async: false };
  throw new TypeError(`Inputs: the ${name} function returned ${describeValue(src)}; it must return an iterable of batches (a generator, an array of batches or an async iterable)`);
}

function* validatedSync(first: Example | undefined, it: Iterator<Example>, name: string): Generator<Example, void, undefined> {
  let i = 0;
  if (first !== undefined) { i++; yield first; }
  for (;;) {
    const r = it.next();
    if (r.done) return;
    validateBatch(r.value, `batch ${i} from the ${name}`);
    i++;
    yield r.value;
  }
}

async function* validatedAsync(
  first: Promise<Example | undefined> | undefined, it: AsyncIterator<Example>, name: string,
): AsyncGenerator<Example, void, undefined> {
  let i = 0;
  if (first !== undefined) {
    const b = await first;
    if (b === undefined) return;
    i++;
    yield b;
  }
  for (;;) {
    const r = await it.next();
    if (r.done) return;
    validateBatch(r.value, `batch ${i} from the ${name}`);
    i++;
    yield r.value;
  }
}

/** What the peeked batch tells: the signature the model is initialized with. */
export interface BatchSignature {
  /** Field 0's shape without the batch axis. */
  inputShape: number[];
  inputDtype: DType;
  /** The LAST field's shape without the batch axis (Trax reads example[-1]). */
  targetShape: number[];
  targetDtype: DType;
  /** Every field's full shape (with the batch axis) and dtype. */
  exampleShapeDtype: ShapeDtype[];
}

function batchSignature(batch: Example): BatchSignature {
  const all = batch.map((f) => new ShapeDtype(fieldShape(f), fieldDtype(f)));
  const last = all[all.length - 1];
  return {
    inputShape: all[0].shape.slice(1), inputDtype: all[0].dtype,
    targetShape: last.shape.slice(1), targetDtype: last.dtype,
    exampleShapeDtype: all,
  };
}

class InputsImpl {
  private readonly trainFn: StreamFn;
  private readonly evalFn: StreamFn;
  private readonly trainEvalFn: StreamFn;
  private sig: BatchSignature | undefined;
  private asyncFirst: Promise<Example | undefined> | undefined;
  // The peeked stream: handed, first batch included, to the first trainStream(1) call.
  private pending: { it: AnyIterator; async: boolean; first?: Example; firstAsync?: Promise<Example | undefined> } | undefined;

  constructor(trainStream: StreamFn, evalStream?: StreamFn | null, trainEvalStream?: StreamFn | null) {
    if (typeof trainStream !== 'function') {
      throw new TypeError('Inputs should be initialized with a function of nDevices returning a stream of batches; '
        + 'if your inputs do not use nDevices, try `new Inputs(() => yourStream)`');
    }
    for (const [name, f] of [['evalStream', evalStream], ['trainEvalStream', trainEvalStream]] as const) {
      if (f != null && typeof f !== 'function') throw new TypeError(`Inputs: ${name} must be a function of nDevices, got ${describeValue(f)}`);
    }
    this.trainFn = trainStream;
    this.evalFn = evalStream ?? trainStream;
    this.trainEvalFn = trainEvalStream ?? trainStream;
    // Peek one batch for the signature, like Trax; unlike Trax, that batch is
    // not lost: the first train stream yields it before the rest.
    const { it, async } = openStream(trainStream, 1, 'train stream');
    if (!async) {
      const r = (it as Iterator<Example>).next();
      if (r.done) throw new RangeError('Inputs: the train stream is empty; it needs at least one batch');
      validateBatch(r.value, 'batch 0 from the train stream');
      this.sig = batchSignature(r.value);
      this.pending = { it, async, first: r.value };
    } else {
      this.pending = { it, async };
    }
  }

  /**
   * Reads the signature; for an async train stream this awaits its first
   * batch (the getters need it done first). Sync streams are peeked by the constructor.
   */
  async peek(): Promise<BatchSignature> {
    if (this.sig) return this.sig;
    const p = this.pending;
    if (p && p.async) await this.readFirstAsync(p);
    else if (this.asyncFirst) await this.asyncFirst;
    if (!this.sig) throw new Error('Inputs: no batch signature (the train stream was handed out before it was peeked)');
    return this.sig;
  }

  private readFirstAsync(p: NonNullable<InputsImpl['pending']>): Promise<Example | undefined> {
    if (!p.firstAsync) {
      p.firstAsync = (async () => {
        const r = await (p.it as AsyncIterator<Example>).next();
        if (r.done) throw new RangeError('Inputs: the train stream is empty; it needs at least one batch');
        validateBatch(r.value, 'batch 0 from the train stream');
        this.sig = batchSignature(r.value);
        return r.value;
      })();
      // Errors surface where the promise is awaited; this only silences "unhandled".
      p.firstAsync.catch(() => undefined);
      this.asyncFirst = p.firstAsync;
    }
    return p.firstAsync;
  }

  private get signature(): BatchSignature {
    if (!this.sig) throw new Error('Inputs: the train stream is async; `await inputs.peek()` before reading shapes');
    return this.sig;
  }

  get inputShape(): number[] { return this.signature.inputShape; }
  get inputDtype(): DType { return this.signature.inputDtype; }
  get targetShape(): number[] { return this.signature.targetShape; }
  get targetDtype(): DType { return this.signature.targetDtype; }
  get exampleShapeDtype(): ShapeDtype[] { return this.signature.exampleShapeDtype; }

  private stream(fn: StreamFn, nDevices: number, name: string): BatchStream {
    if (fn === this.trainFn && nDevices === 1 && this.pending) {
      const p = this.pending;
      this.pending = undefined;
      if (!p.async) return validatedSync(p.first, p.it as Iterator<Example>, name);
      return validatedAsync(this.readFirstAsync(p), p.it as AsyncIterator<Example>, name);
    }
    const { it, async } = openStream(fn, nDevices, name);
    return async ? validatedAsync(undefined, it as AsyncIterator<Example>, name) : validatedSync(undefined, it as Iterator<Example>, name);
  }

  /** Training batches. The first call with nDevices 1 starts with the peeked batch. */
  trainStream(nDevices = 1): BatchStream {
    return this.stream(this.trainFn, nDevices, 'train stream');
  }

  /** Evaluation batches (the train stream when none was given). */
  evalStream(nDevices = 1): BatchStream {
    return this.stream(this.evalFn, nDevices, 'eval stream');
  }

  /**
   * Training data for evaluation: the trainEvalStream function when one was
   * given, else the train stream. (Trax stores that argument but always
   * returns the train stream here.)
   */
  trainEvalStream(nDevices = 1): BatchStream {
    return this.stream(this.trainEvalFn, nDevices, this.trainEvalFn === this.trainFn ? 'train stream' : 'train-eval stream');
  }
}

export interface InputsConstructor {
  new (trainStream: StreamFn, evalStream?: StreamFn | null, trainEvalStream?: StreamFn | null): InputsImpl;
  (trainStream: StreamFn, evalStream?: StreamFn | null, trainEvalStream?: StreamFn | null): InputsImpl;
  readonly prototype: InputsImpl;
}

/** `Inputs(train, eval?, trainEval?)` or `new Inputs(...)`: callable both ways, as in Python. */
export const Inputs = callableClass<InputsConstructor>('Inputs', InputsImpl,
  (trainStream: StreamFn, evalStream?: StreamFn | null, trainEvalStream?: StreamFn | null) => new InputsImpl(trainStream, evalStream, trainEvalStream));
export type Inputs = InputsImpl;
