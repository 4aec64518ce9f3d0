// The HTML report in a real browser: a short real training run on the
// reverse task, the report written from it, opened in headless Chromium.
// Checks the diagram, the curves and the attention maps rendered (non-empty
// SVGs with the expected element counts) with no console errors, and saves
// a screenshot to test-artifacts/report.png.
// Chromium comes from Debian's package (scripts/setup-browser.sh installs it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import * as trax from '../dist/src/index.js';

const CHROMIUM = '/usr/bin/chromium';
const here = dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = join(here, '..', 'test-artifacts');
const CFG = { vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2 };
const STEPS_PER_EPOCH = 50, EPOCHS = 6;

const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: run npm run setup:browser (.ci/run does) to install Debian's chromium`;

test('report from a real training run renders in headless Chromium', { skip, timeout: 600_000 }, async (t) => {
  const { chromium } = await import('playwright-core');
  const dir = mkdtempSync(join(tmpdir(), 'trax-report-'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--headless', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
  });
  try {
    // A short real run of the quick-start model on the reverse task.
    const model = (mode) => trax.models.TransformerLM({ ...CFG, dropout: 0, mode });
    const inputs = new trax.data.Inputs(() => trax.data.reverseIntsTask(16, { seed: 1 }), () => trax.data.reverseIntsTask(16, { seed: 2 }));
    const trainer = new trax.supervised.Trainer({
      model, lossFn: trax.layers.CrossEntropyLoss(), optimizer: trax.optimizers.Adam,
      lrSchedule: trax.lr.warmupAndRsqrtDecay(50, 0.01), inputs, outputDir: dir, randomSeed: 0, log: () => {},
    });
    const t0 = performance.now();
    for (let e = 0; e < EPOCHS; e++) await trainer.trainEpoch(STEPS_PER_EPOCH, 2);
    t.diagnostic(`trained ${STEPS_PER_EPOCH * EPOCHS} steps on the ${trax.backendName()} backend in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const [x] = trax.data.reverseIntsTask(4, { seed: 7 }).next().value;
    const samples = [];
    for (let r = 0; r < 4; r++) {
      const row = Array.from(x.dataSync().subarray(r * 10, (r + 1) * 10));
      samples.push({ prompt: row.slice(0, 6), target: row.slice(6) });
    }
    const path = await trax.viz.writeReport(dir, { model, samples, title: 'Reverse task' });

    // The attention of the trained model shows the reversal: answer position q
    // attends to the input position holding its token (key 11 - q, right-shifted).
    const maps = await trax.viz.captureAttention(model, [[...samples[0].prompt, ...samples[0].target]], { checkpoint: join(dir, 'model.pkl.gz') });
    let bestHead = 0;
    for (const m of maps) {
      for (let h = 0; h < m.nHeads; h++) {
        let hits = 0;
        for (let q = 6; q < 10; q++) {
          const row = m.probs.dataSync().subarray((h * 10 + q) * 10, (h * 10 + q + 1) * 10);
          if (row.indexOf(Math.max(...row)) === 11 - q) hits++;
        }
        bestHead = Math.max(bestHead, hits);
      }
    }
    assert.ok(bestHead >= 3, `no head attends along the anti-diagonal (best ${bestHead} of 4)`);

    const rows = trax.viz.summary(model('eval'), new trax.shapes.ShapeDtype([1, 10], 'int32')).rows.length;
    // The curves plot loss, accuracy and learning rate (not every metric recorded).
    const plotted = ['metrics/loss', 'training/loss', 'metrics/accuracy', 'metrics/sequence_accuracy', 'training/learning_rate'];
    const nSeries = trax.viz.historySeries(trax.supervised.Trainer.readMetricsHistory(dir)).filter((s) => plotted.includes(s.metric)).length;

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = [];
    page.on('console', (msg) => { if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console ${msg.type()}: ${msg.text()}`); });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()}`));
    const requests = [];
    page.on('request', (req) => requests.push(req.url()));
    await page.goto(pathToFileURL(path).href, { waitUntil: 'load' });

    const info = await page.evaluate(() => {
      const box = (sel) => { const e = document.querySelector(sel); if (!e) return null; const r = e.getBoundingClientRect(); return { w: r.width, h: r.height }; };
      const count = (sel) => document.querySelectorAll(sel).length;
      const repeat = document.querySelector('#diagram-collapsed svg g.repeat');
      return {
        diagramBox: box('#diagram-collapsed svg'),
        diagramLayers: count('#diagram-collapsed svg g.layer'),
        hidden: repeat ? Number(repeat.getAttribute('data-hidden-layers')) : 0,
        fullLayers: count('#diagram-full svg g.layer'),
        titledLayers: [...document.querySelectorAll('#diagram-full svg g.layer')].filter((g) => g.firstElementChild?.tagName === 'title').length,
        curvesBox: box('#curves svg'),
        series: [...document.querySelectorAll('#curves svg path.series')].map((p) => p.getTotalLength()),
        attentionBox: box('#attention svg'),
        heatmaps: count('#attention svg g.heatmap'),
        cells: count('#attention svg rect.cell'),
        sampleRows: count('#samples tbody tr'),
        matches: count('#samples tbody .ok'),
      };
    });
    t.diagnostic(JSON.stringify({ ...info, series: info.series.length }));
    for (const k of ['diagramBox', 'curvesBox', 'attentionBox']) {
      assert.ok(info[k] && info[k].w > 100 && info[k].h > 100, `${k} did not render: ${JSON.stringify(info[k])}`);
    }
    assert.equal(info.fullLayers, rows);
    assert.equal(info.titledLayers, rows);
    assert.equal(info.hidden, 32);
    assert.equal(info.diagramLayers, rows - info.hidden);
    assert.equal(info.series.length, nSeries);
    assert.equal(nSeries, 8);
    for (const len of info.series) assert.ok(len > 10, `a curve has length ${len}`);
    assert.equal(info.heatmaps, CFG.nLayers * 8);
    assert.equal(info.cells, CFG.nLayers * 8 * 10 * 10);
    assert.equal(info.sampleRows, 4);

    // Expanding the diagram is CSS only and shows every layer.
    await page.click('label[for="expand-diagram"]');
    const fullBox = await page.evaluate(() => document.querySelector('#diagram-full svg').getBoundingClientRect().height);
    assert.ok(fullBox > info.diagramBox.h);
    await page.click('label[for="expand-diagram"]');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
    t.diagnostic(`screenshot: ${join(ARTIFACTS, 'report.png')}`);

    assert.deepEqual(problems, []);
    assert.ok(requests.every((u) => u.startsWith('file:')), `the page fetched ${requests.filter((u) => !u.startsWith('file:')).join(', ')}`);
    assert.equal(requests.length, 1);
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
