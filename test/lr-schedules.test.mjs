// Learning-rate schedules against their Trax definitions (reference doc 6.4).
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  constant, warmup, warmupAndRsqrtDecay, multifactor, MULTIFACTOR_FACTORS,
} from '../dist/src/training/lr_schedules.js';

const close = (a, b, what) => assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test('constant: 0 at step 0 (Trax BodyAndTail quirk), value from step 1', () => {
  const lr = constant(0.001);
  assert.equal(lr(0), 0);
  assert.equal(lr(1), 0.001);
  assert.equal(lr(2), 0.001);
  assert.equal(lr(100000), 0.001);
  assert.equal(lr.description, 'constant(0.001)');
  assert.equal(String(lr), 'constant(0.001)');
});

test('warmup: linear ramp to (n+1, max), then flat', () => {
  const lr = warmup(4, 0.5);
  for (let s = 0; s <= 4; s++) close(lr(s), (s / 5) * 0.5, `step ${s}`);
  assert.equal(lr(5), 0.5);
  assert.equal(lr(1000), 0.5);
});

test('warmupAndRsqrtDecay: ramp, then max*sqrt(n+1)/sqrt(step)', () => {
  const lr = warmupAndRsqrtDecay(3, 0.2);
  close(lr(0), 0, 'step 0');
  close(lr(2), (2 / 4) * 0.2, 'step 2');
  close(lr(3), (3 / 4) * 0.2, 'step 3');
  close(lr(4), 0.2, 'step 4 (tail start)');
  close(lr(16), 0.2 * Math.sqrt(4) / 4, 'step 16');
  close(lr(100), 0.2 * 2 / 10, 'step 100');
});

test('multifactor: default = constant * linear_warmup * rsqrt_decay', () => {
  const lr = multifactor();
  close(lr(0), 0, 'step 0');
  close(lr(100), 0.1 * (100 / 400) / Math.sqrt(400), 'step 100');
  close(lr(400), 0.1 / 20, 'step 400');
  close(lr(1600), 0.1 / 40, 'step 1600');
});

test('multifactor: each factor', () => {
  const steps = [0, 1, 50, 100, 150, 250, 999, 1000, 2500];
  const o = { constant: 0.3, warmupSteps: 100, decayFactor: 0.5, stepsPerDecay: 200, stepsPerCycle: 300,
    secondConstant: 0.07, secondConstantStep: 150 };
  const expect = {
    constant: () => 0.3,
    two_constants: (s) => (s < 150 ? 0.3 : 0.07),
    linear_warmup: (s) => Math.min(1, s / 100),
    rsqrt_decay: (s) => 1 / Math.sqrt(Math.max(s, 100)),
    rsqrt_normalized_decay: (s) => Math.sqrt(100) / Math.sqrt(Math.max(s, 100)),
    decay_every: (s) => 0.5 ** Math.floor(s / 200),
    cosine_decay: (s) => {
      const p = Math.max(0, (s - 100) / 300);
      return 0.5 * (1 + Math.cos(Math.PI * (p - Math.floor(p))));
    },
  };
  assert.deepEqual([...MULTIFACTOR_FACTORS].sort(), Object.keys(expect).sort());
  for (const [name, f] of Object.entries(expect)) {
    const lr = multifactor({ ...o, factors: name });
    for (const s of steps) close(lr(s), f(s), `${name} at ${s}`);
  }
  // Spot values.
  close(multifactor({ ...o, factors: 'decay_every' })(450), 0.25, 'decay_every 450');
  close(multifactor({ ...o, factors: 'cosine_decay' })(250), 0.5, 'cosine half way');
  close(multifactor({ ...o, factors: 'cosine_decay' })(400), 1, 'cosine restart');
  // Products, with whitespace around '*'.
  const lr = multifactor({ ...o, factors: 'constant*linear_warmup *  decay_every' });
  close(lr(50), 0.3 * 0.5, 'product at 50');
  close(lr(450), 0.3 * 0.25, 'product at 450');
});

test('multifactor: minimum clamps from below; snake_case options', () => {
  const lr = multifactor({ factors: 'constant * rsqrt_decay', constant: 1, warmupSteps: 4, minimum: 0.1 });
  close(lr(4), 0.5, 'above minimum');
  close(lr(400), 0.1, 'clamped');
  // @ts-expect-error: Trax's snake_case names are accepted too
  const snake = multifactor({ factors: 'constant * linear_warmup', warmup_steps: 10, constant: 2 });
  close(snake(5), 1, 'snake_case warmup_steps');
});

test('multifactor: unknown factor or option names are clear errors', () => {
  assert.throws(() => multifactor({ factors: 'constant * linear_warmpu' }),
    /unknown factor 'linear_warmpu'.*valid factors: constant, two_constants, linear_warmup/);
  // @ts-expect-error: deliberately the wrong type
  assert.throws(() => multifactor({ warmup: 10 }), /unknown option 'warmup'/);
  assert.match(multifactor().description, /^multifactor\(\{factors: 'constant \* linear_warmup \* rsqrt_decay'/);
});
