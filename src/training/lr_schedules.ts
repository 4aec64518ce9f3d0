// Learning-rate schedules (Trax `trax/supervised/lr_schedules.py`, exposed
// as `trax.lr`): each is a function from step number to learning rate.

/**
 * A learning-rate schedule: step number -> learning rate. Trainer and Loop
 * take any such function; the schedules built here say how in `description`.
 */
export interface LRSchedule {
  (step: number): number;
  readonly description?: string;
}

function schedule(fn: (step: number) => number, description: string): LRSchedule {
  Object.defineProperty(fn, 'description', { value: description, enumerable: true });
  Object.defineProperty(fn, 'toString', { value: () => description });
  return fn as LRSchedule;
}

type TailFn = (step: number, tailStart: number, bodyValue: number) => number;

/**
 * Trax's `_BodyAndTail`: a linear ramp from (0, 0) to (bodyStart, bodyValue),
 * then the constant body, then (from tailStart on) tailFn.
 */
function bodyAndTail(bodyValue: number, bodyStart: number | null, tailStart: number | null,
  tailFn: TailFn | null): (step: number) => number {
  if (bodyStart === null && tailStart === null) throw new Error('lr schedule: both body start and tail start are null');
  if (tailStart !== null && tailFn === null) throw new Error(`lr schedule: tail start is ${tailStart} but no tail function`);
  const start = bodyStart ?? tailStart ?? 1;
  return (step: number): number => {
    if (step < start) return (step / start) * bodyValue;
    if (tailStart !== null && tailFn !== null && step >= tailStart) return tailFn(step, tailStart, bodyValue);
    return bodyValue;
  };
}

const rsqrtTail: TailFn = (step, tailStart, bodyValue) => bodyValue * (Math.sqrt(tailStart) / Math.sqrt(step));

/**
 * Constant learning rate from step 1 on.
 *
 * Trax quirk, kept on purpose: this is `_BodyAndTail(value, body_start=1)`,
 * so step 0 falls in the (one-step) warm-up ramp and gives 0. The old Trainer
 * starts counting at step 0, so its very first update uses learning rate 0.
 */
export function constant(value: number): LRSchedule {
  return schedule(bodyAndTail(value, 1, null, null), `constant(${value})`);
}

/**
 * Linear warm-up on the line from (0, 0) to (nWarmupSteps + 1, maxValue),
 * then maxValue.
 */
export function warmup(nWarmupSteps: number, maxValue: number): LRSchedule {
  return schedule(bodyAndTail(maxValue, nWarmupSteps + 1, null, null), `warmup(${nWarmupSteps}, ${maxValue})`);
}

/**
 * Linear warm-up as in `warmup`, then from step nWarmupSteps + 1 on
 * maxValue * sqrt(nWarmupSteps + 1) / sqrt(step).
 */
export function warmupAndRsqrtDecay(nWarmupSteps: number, maxValue: number): LRSchedule {
  return schedule(bodyAndTail(maxValue, null, nWarmupSteps + 1, rsqrtTail),
    `warmupAndRsqrtDecay(${nWarmupSteps}, ${maxValue})`);
}

export interface MultifactorOptions {
  /** Factor names joined by '*', e.g. 'constant * linear_warmup * rsqrt_decay'. */
  factors?: string;
  constant?: number;
  warmupSteps?: number;
  decayFactor?: number;
  stepsPerDecay?: number;
  stepsPerCycle?: number;
  secondConstant?: number;
  secondConstantStep?: number;
  /** The result never goes below this. */
  minimum?: number;
}

/** Factor names `multifactor` understands. */
export const MULTIFACTOR_FACTORS = [
  'constant', 'two_constants', 'linear_warmup', 'rsqrt_decay', 'rsqrt_normalized_decay', 'decay_every',
  'cosine_decay',
] as const;
export type MultifactorFactor = typeof MULTIFACTOR_FACTORS[number];

const MULTIFACTOR_DEFAULTS: Required<MultifactorOptions> = {
  factors: 'constant * linear_warmup * rsqrt_decay',
  constant: 0.1,
  warmupSteps: 400,
  decayFactor: 0.5,
  stepsPerDecay: 20000,
  stepsPerCycle: 100000,
  secondConstant: 0.01,
  secondConstantStep: 10000,
  minimum: 0,
};

/**
 * Product of named factors (Trax master's `multifactor`):
 * - constant: x constant
 * - two_constants: x constant before secondConstantStep, x secondConstant from then on
 * - linear_warmup: x min(1, step / warmupSteps)
 * - rsqrt_decay: / sqrt(max(step, warmupSteps))
 * - rsqrt_normalized_decay: x sqrt(warmupSteps) / sqrt(max(step, warmupSteps))
 * - decay_every: x decayFactor^floor(step / stepsPerDecay)
 * - cosine_decay: x 0.5 (1 + cos(pi * frac(max(0, step - warmupSteps) / stepsPerCycle)))
 * The result is clamped below at minimum. Options may also be given in
 * snake_case (warmup_steps, ...). Unknown factor names throw here rather
 * than at the first call.
 */
export function multifactor(options: MultifactorOptions = {}): LRSchedule {
  const o: Required<MultifactorOptions> = { ...MULTIFACTOR_DEFAULTS };
  const valid = Object.keys(MULTIFACTOR_DEFAULTS);
  for (const [k, v] of Object.entries(options)) {
    if (v === undefined) continue;
    const camel = k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
    if (!valid.includes(camel)) {
      throw new TypeError(`multifactor: unknown option '${k}'; valid options: ${valid.join(', ')}`);
    }
    (o as unknown as Record<string, unknown>)[camel] = v;
  }
  const names = o.factors.split('*').map((s) => s.trim());
  for (const name of names) {
    if (!(MULTIFACTOR_FACTORS as readonly string[]).includes(name)) {
      throw new Error(`multifactor: unknown factor '${name}' in '${o.factors}'; ` +
        `valid factors: ${MULTIFACTOR_FACTORS.join(', ')}`);
    }
  }
  const factors = names as MultifactorFactor[];
  const fn = (step: number): number => {
    let ret = 1.0;
    for (const name of factors) {
      switch (name) {
        case 'constant': ret *= o.constant; break;
        case 'two_constants': ret *= step < o.secondConstantStep ? o.constant : o.secondConstant; break;
        case 'linear_warmup': ret *= Math.min(1.0, step / o.warmupSteps); break;
        case 'rsqrt_decay': ret /= Math.sqrt(Math.max(step, o.warmupSteps)); break;
        case 'rsqrt_normalized_decay':
          ret *= Math.sqrt(o.warmupSteps);
          ret /= Math.sqrt(Math.max(step, o.warmupSteps));
          break;
        case 'decay_every': ret *= Math.pow(o.decayFactor, Math.floor(step / o.stepsPerDecay)); break;
        case 'cosine_decay': {
          const progress = Math.max(0.0, (step - o.warmupSteps) / o.stepsPerCycle);
          ret *= 0.5 * (1.0 + Math.cos(Math.PI * (progress % 1.0)));
          break;
        }
      }
    }
    return ret <= o.minimum ? o.minimum : ret;
  };
  const shown = Object.entries(o).map(([k, v]) => `${k}: ${typeof v === 'string' ? `'${v}'` : v}`);
  return schedule(fn, `multifactor({${shown.join(', ')}})`);
}
