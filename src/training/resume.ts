// Checks on what a resumed checkpoint may hold: its size is bounded by the
// model being resumed, and what it says about where its data streams stood
// cannot make a resume replay billions of batches.
import { fs } from '../platform/host.js';
import { type LoadLimits, maxBytesFor } from '../io/limits.js';

/**
 * Load limits for resuming a model with these weights: the weights and up to
 * three optimizer copies of them (Adam's two slots, plus slack), whatever the
 * file's compression.
 */
export function expectedLoadLimits(path: string, weights: readonly { size: number }[]): LoadLimits {
  const bytes = weights.reduce((a, w) => a + 4 * w.size, 0);
  let fileSize = 0;
  try { fileSize = fs.statSync(path).size; } catch { /* reported by the read */ }
  return { maxBytes: maxBytesFor(fileSize, {}, 4 * bytes + 2 ** 20) };
}

export interface DataCounters { train: number; eval: number; trainEval: number }

/** Most evaluation batches a run may have drawn per training step (far above any real schedule). */
export const MAX_EVAL_BATCHES_PER_STEP = 1000;

/**
 * The stored data counters, or null when the checkpoint has none. Each must be
 * a non-negative integer; the train stream has given at most step + 1 batches
 * (one per step, plus the signature batch), and each evaluation stream at most
 * MAX_EVAL_BATCHES_PER_STEP per step. Throws naming the file and the field.
 */
export function checkDataCounters(raw: unknown, step: number, file: string): DataCounters | null {
  checkResumeStep(step, file);
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file}: trax_ts.data_counters is not a dict`);
  const o = raw as Record<string, unknown>;
  const limits: Record<keyof DataCounters, number> = {
    train: step + 1,
    eval: MAX_EVAL_BATCHES_PER_STEP * (step + 1),
    trainEval: MAX_EVAL_BATCHES_PER_STEP * (step + 1),
  };
  const out = {} as DataCounters;
  for (const k of Object.keys(limits) as (keyof DataCounters)[]) {
    const v = o[k] ?? 0;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > limits[k]) {
      throw new Error(`${file}: trax_ts.data_counters.${k} is ${String(v)}, but a run at step ${step} has drawn at most ${limits[k]} batches ` +
        'from that stream; the checkpoint is corrupt (use --fresh, or another output directory)');
    }
    out[k] = v;
  }
  return out;
}

/** Loop's per-source counters: each a non-negative integer of at most MAX_EVAL_BATCHES_PER_STEP per step. */
export function checkCounterList(raw: unknown, step: number, file: string): number[] | null {
  checkResumeStep(step, file);
  if (raw === undefined || raw === null) return null;
  if (!Array.isArray(raw) || raw.length > 1024) throw new Error(`${file}: trax_ts.data_counters is not a short list`);
  const cap = MAX_EVAL_BATCHES_PER_STEP * (step + 1);
  return raw.map((v, i) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > cap) {
      throw new Error(`${file}: trax_ts.data_counters[${i}] is ${String(v)}, but a run at step ${step} has drawn at most ${cap} batches ` +
        'from a stream; the checkpoint is corrupt (use another output directory)');
    }
    return v;
  });
}

/** The largest step a resumed run may claim: replaying its data must stay practical. */
export const MAX_RESUME_STEP = 1e8;

export function checkResumeStep(step: number, file: string): void {
  if (step > MAX_RESUME_STEP) throw new Error(`${file}: step ${step} is beyond any run this trainer can have made (at most ${MAX_RESUME_STEP}); the checkpoint is corrupt`);
}
