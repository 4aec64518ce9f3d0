// The browser playground (dist/playground, built by scripts/build-playground.mjs)
// driven in headless Chromium twice: with WebGPU (--enable-unsafe-webgpu gives
// SwiftShader's adapter) and without it (the js backend in a worker). Each run
// sorts with the pre-trained model, trains the reverse task and sees the loss
// fall while the page stays responsive, stops training with the button,
// reverses typed numbers and draws their attention, downloads the trained
// checkpoint (loaded back in Node), samples text from the
// character model, and saves a screenshot to test-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as trax from '../dist/src/index.js';

const CHROMIUM = '/usr/bin/chromium';
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const ARTIFACTS = join(root, 'test-artifacts');
// The webgpu backend is part of the build when its module was compiled.
const HAS_WEBGPU_BACKEND = existsSync(join(root, 'dist', 'src', 'backends', 'webgpu'));
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: run scripts/setup-browser.sh (CI does) to install Debian's chromium`;

let server;
before(async () => {
  if (skip) return;
  execFileSync(process.execPath, [join(root, 'scripts', 'build-playground.mjs')], { stdio: 'pipe' });
  const { serve } = await import('../scripts/serve-playground.mjs');
  server = await serve({ port: 0 });
});
after(async () => { await server?.close(); });

const BASE_ARGS = ['--no-sandbox', '--headless', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

async function drive(t, { name, args, wantBackend, reverseSteps }) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...BASE_ARGS, ...args] });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const problems = [];
    page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`); });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
    const backend = await page.getAttribute('#backend', 'data-backend');
    t.diagnostic(`${name}: backend ${backend} (${await page.getAttribute('#backend', 'title')})`);
    assert.equal(backend, wantBackend);
    assert.ok(await page.locator('#diagram svg g.layer').count() > 10, 'the diagram has its layers');
    assert.match(await page.textContent('#summary'), /93,088/);

    // 1. The quick-start's sort, from the pre-trained model.
    await page.fill('#sort-input', '3, 14, 15, 9');
    await page.click('#sort-run');
    await page.waitForFunction(() => document.querySelector('#sort-output').textContent !== '', null, { timeout: 60_000 });
    assert.equal(await page.textContent('#sort-output'), '[3, 9, 14, 15]');

    // 2. Training: the loss falls; the page answers while the worker trains; Stop stops it.
    await page.fill('#train-steps', '5000');
    await page.click('#train-run');
    await page.waitForFunction(() => Number(/** @type {HTMLElement} */ (document.querySelector('#train-progress')).dataset.step ?? 0) >= 20, null, { timeout: 120_000 });
    const lag = await page.evaluate(() => new Promise((r) => { const t0 = performance.now(); setTimeout(() => r(performance.now() - t0), 0); }));
    t.diagnostic(`${name}: main-thread timer lag while training ${lag.toFixed(1)} ms`);
    assert.ok(lag < 250, `the page is blocked while training (${lag} ms)`);
    await page.waitForFunction((n) => Number(/** @type {HTMLElement} */ (document.querySelector('#train-progress')).dataset.step ?? 0) >= n, reverseSteps, { timeout: 420_000 });
    await page.click('#train-stop');
    await page.waitForSelector('#train-progress[data-done]', { timeout: 60_000 });
    const done = Number(await page.getAttribute('#train-progress', 'data-done'));
    const losses = await page.evaluate(() => /** @type {any} */ (window).playground.loss.map((p) => p.y));
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(losses.slice(0, 10)), last = mean(losses.slice(-10));
    t.diagnostic(`${name}: stopped at step ${done}; loss ${first.toFixed(3)} -> ${last.toFixed(3)}; ${await page.textContent('#train-progress')}`);
    assert.ok(done >= reverseSteps && done < 5000, `Stop did not stop training (step ${done})`);
    assert.equal(losses.length, done);
    assert.ok(last < first * 0.6, `the loss did not fall: ${first} -> ${last}`);
    assert.ok(await page.evaluate(() => /** @type {any} */ (window).playground.accuracy.length) >= 1, 'no accuracy point was drawn');

    // Reverse typed numbers with the model just trained, and see its attention.
    await page.fill('#reverse-input', '4, 6, 8, 10');
    await page.click('#reverse-run');
    await page.waitForFunction(() => document.querySelector('#reverse-output').textContent !== '', null, { timeout: 60_000 });
    const reversed = await page.textContent('#reverse-output');
    t.diagnostic(`${name}: reverse [4, 6, 8, 10] -> ${reversed}`);
    assert.equal(reversed, '[10, 8, 6, 4]');
    assert.equal(await page.locator('#attention-maps svg g.heatmap').count(), 2 * 8);

    // The checkpoint download is Trax's format: it loads in Node and reverses there too.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#train-download')]);
    assert.equal(download.suggestedFilename(), 'reverse-model.pkl.gz');
    const bytes = readFileSync(await download.path());
    const m = trax.models.TransformerLM({ vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2, mode: 'predict' });
    await m.initFromBytes(bytes, { weightsOnly: true });
    const out = await trax.supervised.decoding.autoregressiveSample(m, [[0, 4, 6, 8, 10, 0]], { temperature: 0, maxLength: 4 });
    assert.deepEqual(out.arraySync(), [[10, 8, 6, 4]]);

    // 4. Text streamed from the character model.
    await page.fill('#gen-length', '80');
    await page.click('#gen-run');
    await page.waitForSelector('#gen-info[data-tokens]', { timeout: 120_000 });
    const text = await page.textContent('#gen-output');
    t.diagnostic(`${name}: ${JSON.stringify(text)} (${await page.textContent('#gen-info')})`);
    assert.equal(await page.getAttribute('#gen-info', 'data-tokens'), '80');
    assert.ok(text.startsWith('Call me') && [...text].length === 'Call me'.length + 80, `unexpected sample ${JSON.stringify(text)}`);

    assert.equal(await page.isHidden('#error'), true, `the page shows an error: ${await page.textContent('#error')}`);
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, `playground-${name}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`screenshot: ${shot}`);
    assert.deepEqual(problems, []);

    // Once loaded it works offline: the service worker serves the page, scripts and models.
    await page.waitForFunction(() => document.querySelector('#offline').textContent === 'works offline', null, { timeout: 60_000 });
    await page.context().setOffline(true);
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
    await page.fill('#sort-input', '30 1 17 2');
    await page.click('#sort-run');
    await page.waitForFunction(() => document.querySelector('#sort-output').textContent !== '', null, { timeout: 60_000 });
    assert.equal(await page.textContent('#sort-output'), '[1, 2, 17, 30]');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
}

test('playground with WebGPU (SwiftShader adapter)', { skip, timeout: 900_000 }, async (t) => {
  await drive(t, {
    name: 'webgpu', args: ['--enable-unsafe-webgpu'],
    // Until the webgpu backend is in the build, the page says so and runs js.
    wantBackend: HAS_WEBGPU_BACKEND ? 'webgpu' : 'js', reverseSteps: 300,
  });
});

test('playground without WebGPU: js backend in a worker', { skip, timeout: 900_000 }, async (t) => {
  await drive(t, { name: 'js', args: ['--disable-gpu'], wantBackend: 'js', reverseSteps: 300 });
});
