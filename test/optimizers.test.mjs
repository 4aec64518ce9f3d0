// Optimizers against hand-written float64 references of the Trax formulas
// (reference doc section 6), on both backends.
import test from 'node:test';
import assert from 'node:assert/strict';
import { setBackend, nativeUnavailableReason } from '../dist/src/backends/index.js';
import { Tensor } from '../dist/src/engine/tensor.js';
import {
  Adam, AdamOptimizer, Adafactor, Momentum, RMSProp, SGD, SM3, Optimizer,
} from '../dist/src/optimizers/index.js';

const nativeReason = nativeUnavailableReason();
const BACKENDS = ['js', 'native'];

function backendTest(name, fn) {
  for (const be of BACKENDS) {
    const skip = be === 'native' && nativeReason !== null ? `native unavailable: ${nativeReason}` : false;
    test(`${name} [${be}]`, { skip }, () => {
      setBackend(be);
      try { fn(); } finally { setBackend('js'); }
    });
  }
}

// ---- fixtures: a 2x3 matrix and a 3-vector (and a 2x2x3 tensor for Adafactor) ----

const SHAPES = [[2, 3], [3]];
const size = (shape) => shape.reduce((a, b) => a * b, 1);

function initialWeights(shapes) {
  return shapes.map((shape, l) =>
    Array.from({ length: size(shape) }, (_, i) => Math.fround(0.5 * Math.cos(1.7 * i + l) + 0.1 * (i - 1))));
}
function gradsAt(shapes, step, scale = 1) {
  return shapes.map((shape, l) =>
    Array.from({ length: size(shape) }, (_, i) =>
      Math.fround(scale * Math.sin(1.3 * i + 0.7 * step + 0.4 * l + 0.1) * (1 + 0.5 * step))));
}
const toTensors = (arrs, shapes) => arrs.map((a, l) => new Tensor(Float32Array.from(a), shapes[l]));
const LRS = [0.05, 0.02, 0.01, 0.03];

function assertClose(actual, expected, what, rtol = 2e-5, atol = 2e-6) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    assert.ok(d <= atol + rtol * Math.abs(expected[i]),
      `${what}[${i}]: got ${actual[i]}, expected ${expected[i]} (diff ${d})`);
  }
}

/**
 * Runs `opt` for LRS.length steps with the learning rate injected through
 * optParams, and a float64 reference `ref(step, g, w, state, lr, leafIndex)`
 * that updates w and its own state arrays in place. Compares weights every step.
 */
function runAgainstReference(opt, shapes, refInit, ref, gradScale = 1) {
  let weights = toTensors(initialWeights(shapes), shapes);
  let slots = opt.treeInit(weights);
  const refW = initialWeights(shapes);
  const refState = shapes.map((shape) => refInit(shape));
  for (let step = 0; step < LRS.length; step++) {
    const g = gradsAt(shapes, step, gradScale);
    const before = weights;
    ({ weights, slots } = opt.treeUpdate(step, toTensors(g, shapes), weights, slots, { learning_rate: LRS[step] }));
    assert.notEqual(weights[0], before[0]);
    for (let l = 0; l < shapes.length; l++) {
      ref(step, g[l], refW[l], refState[l], LRS[step], shapes[l]);
      assertClose(Array.from(weights[l].dataSync()), refW[l], `${opt.name} step ${step} leaf ${l}`);
      assert.deepEqual(weights[l].shape, shapes[l]);
    }
  }
  return { weights, slots, refState };
}

// ---- SGD ----

backendTest('SGD: w - lr*g', () => {
  const opt = SGD(0.1);
  assert.deepEqual(opt.treeInit(toTensors(initialWeights(SHAPES), SHAPES)), [[], []]);
  runAgainstReference(opt, SHAPES, () => ({}), (step, g, w, _s, lr) => {
    for (let i = 0; i < w.length; i++) w[i] -= lr * g[i];
  });
});

// ---- Momentum ----

function momentumRef(mass, wd, nesterov) {
  return (step, g, w, s, lr) => {
    for (let i = 0; i < w.length; i++) {
      s.v[i] = mass * s.v[i] + g[i];
      const upd = nesterov ? mass * s.v[i] + g[i] : s.v[i];
      w[i] = (1 - wd) * w[i] - lr * upd;
    }
  };
}
const zerosState = (shape) => ({ v: new Array(size(shape)).fill(0) });

backendTest('Momentum: Nesterov with weight decay (defaults)', () => {
  const opt = Momentum();
  assert.deepEqual(opt.optParams, { mass: 0.9, weight_decay_rate: 1e-5, learning_rate: 0.01 });
  runAgainstReference(opt, SHAPES, zerosState, momentumRef(0.9, 1e-5, true));
});

backendTest('Momentum: classic, larger weight decay', () => {
  const opt = Momentum(0.01, { mass: 0.8, weightDecayRate: 0.01, nesterov: false });
  const { slots, refState } = runAgainstReference(opt, SHAPES, zerosState, momentumRef(0.8, 0.01, false));
  assertClose(Array.from(slots[0].dataSync()), refState[0].v, 'velocity');
});

// ---- RMSProp ----

backendTest('RMSProp: avg starts at ones', () => {
  const opt = RMSProp(0.01, { gamma: 0.8 });
  const slots = opt.treeInit(toTensors(initialWeights(SHAPES), SHAPES));
  assert.deepEqual(Array.from(slots[1].dataSync()), [1, 1, 1]);
  runAgainstReference(opt, SHAPES, (shape) => ({ avg: new Array(size(shape)).fill(1) }), (step, g, w, s, lr) => {
    for (let i = 0; i < w.length; i++) {
      s.avg[i] = 0.8 * s.avg[i] + 0.2 * g[i] * g[i];
      w[i] -= lr * g[i] / (Math.sqrt(s.avg[i]) + 1e-8);
    }
  });
});

// ---- Adam ----

function adamRef(b1, b2, eps, wd) {
  return (step, g, w, s, lr) => {
    for (let i = 0; i < w.length; i++) {
      s.m[i] = (1 - b1) * g[i] + b1 * s.m[i];
      s.v[i] = (1 - b2) * g[i] * g[i] + b2 * s.v[i];
      const mhat = s.m[i] / (1 - b1 ** (step + 1));
      const vhat = s.v[i] / (1 - b2 ** (step + 1));
      w[i] = (1 - wd) * w[i] - lr * mhat / (Math.sqrt(vhat) + eps);
    }
  };
}
const mvState = (shape) => ({ m: new Array(size(shape)).fill(0), v: new Array(size(shape)).fill(0) });

backendTest('Adam: defaults', () => {
  const opt = Adam();
  assert.deepEqual(Object.keys(opt.optParams), ['weight_decay_rate', 'b1', 'b2', 'eps', 'learning_rate']);
  assert.equal(opt.optParams.learning_rate, 1e-4);
  const { slots, refState } = runAgainstReference(opt, SHAPES, mvState, adamRef(0.9, 0.999, 1e-5, 1e-5));
  assertClose(Array.from(slots[0][0].dataSync()), refState[0].m, 'm');
  assertClose(Array.from(slots[0][1].dataSync()), refState[0].v, 'v');
});

backendTest('Adam: strong weight decay is not scaled by lr', () => {
  const opt = Adam(0.01, { weightDecayRate: 0.1, b1: 0.8, b2: 0.95, eps: 1e-3 });
  runAgainstReference(opt, SHAPES, mvState, adamRef(0.8, 0.95, 1e-3, 0.1));
});

backendTest('Adam: global-norm gradient clipping over all leaves', () => {
  const maxNorm = 0.5;
  const opt = Adam(0.01, { clipGradNorm: maxNorm, weightDecayRate: 0 });
  const base = adamRef(0.9, 0.999, 1e-5, 0);
  // Reference: scale the whole gradient list by maxNorm/||g|| when ||g|| >= maxNorm.
  let weights = toTensors(initialWeights(SHAPES), SHAPES);
  let slots = opt.treeInit(weights);
  const refW = initialWeights(SHAPES);
  const refS = SHAPES.map(mvState);
  for (let step = 0; step < 4; step++) {
    const g = gradsAt(SHAPES, step);
    const norm = Math.sqrt(g.flat().reduce((a, x) => a + x * x, 0));
    const wnorm = Math.sqrt(refW.flat().reduce((a, x) => a + x * x, 0));
    assert.ok(norm > maxNorm);
    const gc = g.map((leaf) => leaf.map((x) => x * (maxNorm / norm)));
    const r = opt.treeUpdate(step, toTensors(g, SHAPES), weights, slots, { learning_rate: LRS[step] });
    ({ weights, slots } = r);
    assert.ok(Math.abs(r.stats.gradients_l2 - norm) < 1e-5 * norm, 'gradients_l2 is the pre-clip norm');
    assert.ok(Math.abs(r.stats.weights_l2 - wnorm) < 1e-5 * wnorm, 'weights_l2 is the pre-update norm');
    for (let l = 0; l < SHAPES.length; l++) {
      base(step, gc[l], refW[l], refS[l], LRS[step]);
      assertClose(Array.from(weights[l].dataSync()), refW[l], `clipped Adam step ${step} leaf ${l}`);
    }
  }
  // Below the threshold nothing is scaled.
  const opt2 = Adam(0.01, { clipGradNorm: 1e6 });
  runAgainstReference(opt2, SHAPES, mvState, adamRef(0.9, 0.999, 1e-5, 1e-5));
});

// ---- Adafactor ----

/**
 * Float64 Adafactor for one weight, master math, written from the reference:
 * shape (...batch, R, C) when factored.
 */
function adafactorRef(cfg) {
  const {
    factored = true, scaleByParam = true, clipping = true, momentum = false, beta1 = 0, decayRate = 0.8,
    clipThreshold = 1, wd = 1e-5, wdSteps = 0, eps1 = 1e-16, eps2 = 1e-3,
  } = cfg;
  const init = (shape) => {
    const n = size(shape);
    const s = { m: new Array(n).fill(0) };
    if (factored && shape.length >= 2) {
      s.vr = new Array(n / shape.at(-1)).fill(0);
      s.vc = new Array((n / (shape.at(-1) * shape.at(-2))) * shape.at(-1)).fill(0);
    } else s.v = new Array(n).fill(0);
    return s;
  };
  const step = (t, g, w, s, lr, shape) => {
    const n = w.length;
    const decay = 1 - (t + 1) ** -decayRate;
    const mix = 1 - decay;
    let scale = lr;
    if (scaleByParam) scale = lr * Math.max(Math.sqrt(w.reduce((a, x) => a + x * x, 0) / n), eps2);
    const y = new Array(n);
    if (factored && shape.length >= 2) {
      const C = shape.at(-1), R = shape.at(-2), B = n / (R * C);
      for (let b = 0; b < B; b++) {
        for (let r = 0; r < R; r++) {
          let m = 0;
          for (let c = 0; c < C; c++) m += g[(b * R + r) * C + c] ** 2;
          s.vr[b * R + r] = decay * s.vr[b * R + r] + mix * (m / C);
        }
        for (let c = 0; c < C; c++) {
          let m = 0;
          for (let r = 0; r < R; r++) m += g[(b * R + r) * C + c] ** 2;
          s.vc[b * C + c] = decay * s.vc[b * C + c] + mix * (m / R);
        }
        let rowMean = 0;
        for (let r = 0; r < R; r++) rowMean += s.vr[b * R + r] / R;
        for (let r = 0; r < R; r++) {
          for (let c = 0; c < C; c++) {
            const i = (b * R + r) * C + c;
            y[i] = g[i] * Math.sqrt(rowMean / (s.vr[b * R + r] + eps1)) * (s.vc[b * C + c] + eps1) ** -0.5;
          }
        }
      }
    } else {
      for (let i = 0; i < n; i++) {
        s.v[i] = decay * s.v[i] + mix * g[i] * g[i];
        y[i] = g[i] * (s.v[i] + eps1) ** -0.5;
      }
    }
    if (clipping) {
      const rms = Math.sqrt(y.reduce((a, x) => a + x * x, 0) / n);
      const denom = Math.max(1, rms / clipThreshold);
      for (let i = 0; i < n; i++) y[i] /= denom;
    }
    const wdt = wdSteps >= 1 ? wd * Math.max(wdSteps - t, 0) / wdSteps : wd;
    for (let i = 0; i < n; i++) {
      let sub = scale * y[i];
      if (momentum) { s.m[i] = beta1 * s.m[i] + (1 - beta1) * sub; sub = s.m[i]; }
      w[i] = (1 - wdt) * w[i] - sub;
    }
  };
  return { init, step };
}

const AF_SHAPES = [[2, 3], [3], [2, 2, 3]];

backendTest('Adafactor: defaults (factored, parameter scale, clipping)', () => {
  const opt = Adafactor();
  assert.deepEqual(opt.optParams, {
    beta1: 0, decay_rate: 0.8, clipping_threshold: 1, weight_decay_rate: 1e-5, weight_decay_n_steps: 0,
    epsilon1: 1e-16, epsilon2: 1e-3, learning_rate: 0.05,
  });
  const ref = adafactorRef({});
  const { slots, refState } = runAgainstReference(opt, AF_SHAPES, ref.init, ref.step);
  assert.deepEqual(slots.map((s) => s.map((t) => t.shape)), [[[2], [3]], [[3]], [[2, 2], [2, 3]]]);
  assertClose(Array.from(slots[0][0].dataSync()), refState[0].vr, 'v_row');
  assertClose(Array.from(slots[2][1].dataSync()), refState[2].vc, 'v_col (batched)');
});

backendTest('Adafactor: unfactored, no parameter scale, no clipping', () => {
  const opt = Adafactor(0.01, { factored: false, multiplyByParameterScale: false, doClipping: false });
  const ref = adafactorRef({ factored: false, scaleByParam: false, clipping: false });
  const { slots } = runAgainstReference(opt, AF_SHAPES, ref.init, ref.step);
  assert.deepEqual(slots.map((s) => s.map((t) => t.shape)), [[[2, 3]], [[3]], [[2, 2, 3]]]);
});

backendTest('Adafactor: momentum, weight decay schedule, tight clipping', () => {
  const opt = Adafactor(0.05, {
    doMomentum: true, beta1: 0.9, clippingThreshold: 0.5, weightDecayRate: 0.05, weightDecayNSteps: 3,
    decayRate: 0.7,
  });
  const ref = adafactorRef({ momentum: true, beta1: 0.9, clipThreshold: 0.5, wd: 0.05, wdSteps: 3, decayRate: 0.7 });
  const { slots, refState } = runAgainstReference(opt, AF_SHAPES, ref.init, ref.step);
  assert.equal(slots[0].length, 3);
  assert.equal(slots[1].length, 2);
  assertClose(Array.from(slots[0][2].dataSync()), refState[0].m, 'momentum');
});

backendTest('Adafactor: parameter scale floor eps2 and eps1 on the accumulators', () => {
  // Tiny weights hit the eps2 floor; tiny gradients make eps1 matter.
  const opt = Adafactor(0.1, { epsilon1: 1e-6, epsilon2: 0.5, weightDecayRate: 0 });
  const ref = adafactorRef({ eps1: 1e-6, eps2: 0.5, wd: 0 });
  runAgainstReference(opt, AF_SHAPES, ref.init, ref.step, 1e-3);
});

backendTest('Adafactor: momentum stored at bfloat16 precision', () => {
  const opt = Adafactor(0.05, { doMomentum: true, beta1: 0.5, momentumInBfloat16: true });
  let weights = toTensors(initialWeights(SHAPES), SHAPES);
  let slots = opt.treeInit(weights);
  ({ weights, slots } = opt.treeUpdate(0, toTensors(gradsAt(SHAPES, 0), SHAPES), weights, slots));
  const bits = new Uint32Array(slots[0][2].dataSync().buffer);
  assert.ok(bits.every((b) => (b & 0xffff) === 0));
  assert.ok(slots[0][2].dataSync().some((x) => x !== 0));
});

// ---- SM3 ----

/** Float64 SM3 for a rank-2 (R, C) or rank-1 weight, written from Trax's sm3.py formulas. */
function sm3Ref({ momentum = 0.9, beta2 = 1, wd = 0, type = 'ema' } = {}) {
  const graft = beta2 !== 1;
  const mix = beta2 === 1 ? 1 : 1 - beta2;
  const pc = (a) => (a > 0 ? 1 / (Math.sqrt(a) + 1e-16) : 0);
  const init = (shape) => ({
    m: new Array(size(shape)).fill(0),
    v1: shape.map((d) => new Array(d).fill(0)),
    v2: shape.map((d) => new Array(d).fill(0)),
  });
  const step = (t, g, w, s, lr, shape) => {
    const n = w.length;
    const C = shape.at(-1), R = shape.length === 2 ? shape[0] : 1;
    const acc = new Array(n), acc2 = new Array(n);
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < C; c++) {
        const i = r * C + c;
        const prev = shape.length === 2 ? Math.min(s.v1[0][r], s.v1[1][c]) : s.v1[0][c];
        const prev2 = shape.length === 2 ? Math.min(s.v2[0][r], s.v2[1][c]) : s.v2[0][c];
        acc[i] = beta2 * prev + mix * g[i] * g[i];
        acc2[i] = prev2 + g[i] * g[i];
      }
    }
    let pg = g.map((x, i) => x * pc(acc[i]));
    if (graft) {
      const pgg = g.map((x, i) => x * pc(acc2[i]));
      const nrm = (a) => Math.sqrt(a.reduce((u, x) => u + x * x, 0));
      const k = nrm(pgg) / (nrm(pg) + 1e-16);
      pg = pg.map((x) => x * k);
    }
    for (let i = 0; i < n; i++) {
      const u = pg[i] + w[i] * wd;
      let upd = u;
      if (momentum > 0) {
        if (type === 'ema') { s.m[i] = (1 - momentum) * u + momentum * s.m[i]; upd = s.m[i]; }
        else if (type === 'heavy_ball') { s.m[i] = u + momentum * s.m[i]; upd = s.m[i]; }
        else { s.m[i] = u + momentum * s.m[i]; upd = u + momentum * s.m[i]; }
      }
      w[i] -= lr * upd;
    }
    if (shape.length === 2) {
      for (let r = 0; r < R; r++) {
        s.v1[0][r] = Math.max(...acc.slice(r * C, r * C + C));
        if (graft) s.v2[0][r] = Math.max(...acc2.slice(r * C, r * C + C));
      }
      for (let c = 0; c < C; c++) {
        s.v1[1][c] = Math.max(...Array.from({ length: R }, (_, r) => acc[r * C + c]));
        if (graft) s.v2[1][c] = Math.max(...Array.from({ length: R }, (_, r) => acc2[r * C + c]));
      }
    } else {
      s.v1[0] = acc.slice();
      if (graft) s.v2[0] = acc2.slice();
    }
  };
  return { init, step };
}

backendTest('SM3: defaults (EMA momentum, AdaGrad-style sums)', () => {
  const opt = SM3();
  assert.deepEqual(opt.optParams, { momentum: 0.9, second_moment_averaging: 1, weight_decay: 0, learning_rate: 0.01 });
  const ref = sm3Ref();
  const { slots, refState } = runAgainstReference(opt, SHAPES, ref.init, ref.step);
  assert.deepEqual(slots[0][1].map((t) => t.shape), [[2], [3]]);
  assert.deepEqual(slots[0][2], []);
  assertClose(Array.from(slots[0][1][0].dataSync()), refState[0].v1[0], 'v1 rows');
  assertClose(Array.from(slots[0][1][1].dataSync()), refState[0].v1[1], 'v1 cols');
});

backendTest('SM3: grafting, weight decay, Nesterov', () => {
  const opt = SM3(0.02, { secondMomentAveraging: 0.9, weightDecay: 0.01, momentumType: 'nesterov', momentum: 0.8 });
  const ref = sm3Ref({ beta2: 0.9, wd: 0.01, type: 'nesterov', momentum: 0.8 });
  runAgainstReference(opt, SHAPES, ref.init, ref.step);
});

backendTest('SM3: heavy ball; no momentum slot when momentum is 0', () => {
  const ref = sm3Ref({ type: 'heavy_ball', momentum: 0.5 });
  runAgainstReference(SM3(0.01, { momentumType: 'heavy_ball', momentum: 0.5 }), SHAPES, ref.init, ref.step);
  const opt = SM3(0.01, { momentum: 0 });
  const slots = opt.treeInit(toTensors(initialWeights(SHAPES), SHAPES));
  assert.deepEqual(slots[0][0], []);
  const ref0 = sm3Ref({ momentum: 0 });
  runAgainstReference(opt, SHAPES, ref0.init, ref0.step);
});

// ---- construction, immutability, in-place ----

test('factories: with and without new, options, errors', () => {
  const a = Adam(0.01);
  const b = new Adam(0.02, { b1: 0.8 });
  const c = Adam({ learningRate: 0.03, b2: 0.9 });
  const d = Adam.create({ learning_rate: 0.04, weight_decay_rate: 0 });
  for (const o of [a, b, c, d]) {
    assert.ok(o instanceof Adam);
    assert.ok(o instanceof AdamOptimizer);
    assert.ok(o instanceof Optimizer);
  }
  assert.equal(a.optParams.learning_rate, 0.01);
  assert.equal(b.optParams.b1, 0.8);
  assert.equal(c.optParams.b2, 0.9);
  assert.equal(d.optParams.weight_decay_rate, 0);
  // The Trainer receives the factory and builds it with learning_rate 0.
  const fromTrainer = ((opt) => opt({ learning_rate: 0.0 }))(Adafactor);
  assert.equal(fromTrainer.optParams.learning_rate, 0);
  assert.ok(fromTrainer instanceof Adafactor);
  assert.equal(Adam.name, 'Adam');
  assert.throws(() => Adam(0.01, { beta1: 0.9 }), /unknown option.*beta1.*valid options/);
  assert.throws(() => Adam(0.01, { learningRate: 0.1 }), /given twice/);
  assert.throws(() => Adafactor({ factored: 1 }), /must be a boolean/);
  assert.throws(() => SM3({ momentumType: 'fast' }), /momentumType/);
  assert.match(String(Adam(0.01)), /^Adam\(weight_decay_rate=0.00001, b1=0.9, b2=0.999, eps=0.00001, learning_rate=0.01\)$/);
});

backendTest('treeUpdate leaves inputs untouched; inPlace reuses buffers; int32 weights skipped', () => {
  const shapes = [[2, 3], [3]];
  const w0 = toTensors(initialWeights(shapes), shapes);
  const ints = new Tensor(new Int32Array([1, 2, 3]), [3]);
  const weights = [...w0, ints];
  const grads = [...toTensors(gradsAt(shapes, 0), shapes), new Tensor(new Float32Array(3).fill(1), [3])];
  for (const make of [(o) => Adam(0.1, o), (o) => Adafactor(0.1, { doMomentum: true, beta1: 0.5, ...o }),
    (o) => SM3(0.1, o), (o) => Momentum(0.1, o), (o) => RMSProp(0.1, o), (o) => SGD(0.1, o)]) {
    const opt = make({});
    const slots = opt.treeInit(weights);
    const wCopy = weights.map((t) => Array.from(t.dataSync()));
    const sCopy = JSON.stringify(slots, (k, v) => (v instanceof Tensor ? Array.from(v.dataSync()) : v));
    const r = opt.treeUpdate(0, grads, weights, slots);
    assert.deepEqual(weights.map((t) => Array.from(t.dataSync())), wCopy, `${opt.name}: weights untouched`);
    assert.equal(JSON.stringify(slots, (k, v) => (v instanceof Tensor ? Array.from(v.dataSync()) : v)), sCopy,
      `${opt.name}: slots untouched`);
    assert.notDeepEqual(Array.from(r.weights[0].dataSync()), wCopy[0], `${opt.name}: weights changed`);
    assert.equal(r.weights[2], ints, `${opt.name}: int32 weight passed through`);
    assert.equal(opt.slots, r.slots);

    const inPlace = make({ inPlace: true });
    const wIp = weights.map((t) => new Tensor(t.dataSync().slice(), t.shape));
    const sIp = inPlace.treeInit(wIp);
    const rIp = inPlace.treeUpdate(0, grads, wIp, sIp);
    assert.equal(rIp.weights[0], wIp[0]);
    assert.equal(rIp.weights[0].storage, wIp[0].storage);
    assertClose(Array.from(wIp[0].dataSync()), Array.from(r.weights[0].dataSync()), `${opt.name} in place`, 1e-6, 1e-7);
  }
});

test('treeUpdate checks lengths', () => {
  const opt = SGD(0.1);
  const w = toTensors(initialWeights(SHAPES), SHAPES);
  assert.throws(() => opt.treeUpdate(0, [w[0]], w, opt.treeInit(w)), /must all be equal/);
});

backendTest('SM3: rank-3 weight keeps one accumulator per axis', () => {
  const shape = [2, 2, 3];
  const [A, B, C] = shape;
  const opt = SM3(0.05, { momentum: 0.5, secondMomentAveraging: 0.8 });
  const ref = {
    init: () => ({ m: new Array(12).fill(0), v1: shape.map((d) => new Array(d).fill(0)),
      v2: shape.map((d) => new Array(d).fill(0)) }),
    step: (t, g, w, s, lr) => {
      const pc = (x) => (x > 0 ? 1 / (Math.sqrt(x) + 1e-16) : 0);
      const acc = [], acc2 = [];
      for (let a = 0; a < A; a++) for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) {
        const i = (a * B + b) * C + c;
        acc[i] = 0.8 * Math.min(s.v1[0][a], s.v1[1][b], s.v1[2][c]) + 0.2 * g[i] * g[i];
        acc2[i] = Math.min(s.v2[0][a], s.v2[1][b], s.v2[2][c]) + g[i] * g[i];
      }
      const pg = g.map((x, i) => x * pc(acc[i]));
      const pgg = g.map((x, i) => x * pc(acc2[i]));
      const nrm = (v) => Math.sqrt(v.reduce((u, x) => u + x * x, 0));
      const k = nrm(pgg) / (nrm(pg) + 1e-16);
      for (let i = 0; i < 12; i++) {
        s.m[i] = 0.5 * pg[i] * k + 0.5 * s.m[i];
        w[i] -= lr * s.m[i];
      }
      for (const [vs, ac] of [[s.v1, acc], [s.v2, acc2]]) {
        for (const v of vs) v.fill(-Infinity);
        for (let a = 0; a < A; a++) for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) {
          const x = ac[(a * B + b) * C + c];
          vs[0][a] = Math.max(vs[0][a], x); vs[1][b] = Math.max(vs[1][b], x); vs[2][c] = Math.max(vs[2][c], x);
        }
      }
    },
  };
  const { slots, refState } = runAgainstReference(opt, [shape], ref.init, ref.step);
  for (let k = 0; k < 3; k++) {
    assertClose(Array.from(slots[0][1][k].dataSync()), refState[0].v1[k], `v1[${k}]`);
    assertClose(Array.from(slots[0][2][k].dataSync()), refState[0].v2[k], `v2[${k}]`);
  }
});

backendTest('update(): one leaf, same result as treeUpdate', () => {
  const opt = Adam(0.01);
  const [w] = toTensors(initialWeights([[2, 3]]), [[2, 3]]);
  const [g] = toTensors(gradsAt([[2, 3]], 0), [[2, 3]]);
  const slot = opt.init(w);
  const one = opt.update(0, g, w, slot);
  const tree = opt.treeUpdate(0, [g], [w], [slot]);
  assert.deepEqual(Array.from(one.weight.dataSync()), Array.from(tree.weights[0].dataSync()));
  assert.deepEqual(Array.from(one.slot[1].dataSync()), Array.from(tree.slots[0][1].dataSync()));
});
