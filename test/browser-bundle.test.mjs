// trax-ts as a browser dependency, bundled the way users do with no
// configuration: esbuild with --platform=browser and Vite. The bundles must
// not contain Node built-ins, the native addon or the Node host layer; the
// library's gzipped size (everything exported, minified, no weights) stays
// under 250 kB; the app's bundler copies the pre-trained model it names (and
// no other); and the small consumers run in headless Chromium and print the
// quick-start's sort: [[3, 9, 14, 15]].
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const CHROMIUM = '/usr/bin/chromium';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const noChromium = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: run scripts/setup-browser.sh to install Debian's chromium`;
const NODE_ONLY = /^node:|(^|\/)(dist|src)\/platform\/host\.(js|ts)$|(^|\/)backends\/native\.(js|ts)$|\.node$/;

// The consumer, as the README shows it.
const CONSUMER = `import * as trax from 'trax-ts';
const model = trax.models.TransformerLM({ vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2, mode: 'predict' });
await model.initFromFile(MODEL_URL, { weightsOnly: true, inputSignature: trax.shapes.ShapeDtype([1, 1], 'int32') });
const out = await trax.supervised.decoding.autoregressiveSample(model, [[0, 3, 14, 15, 9, 0]], { temperature: 0, maxLength: 4 });
document.body.textContent = JSON.stringify(await out.array()) + ' ' + trax.backendName();
`;

let dir;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'trax-bundle-'));
  mkdirSync(join(dir, 'node_modules'));
  // An installed trax-ts: the package folder itself.
  symlinkSync(root, join(dir, 'node_modules', 'trax-ts'), 'dir');
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

function assertNoNodeCode(code, what) {
  for (const pat of [/\brequire\(\s*["']/, /from\s*["']node:/, /import\(\s*["']node:/, /createRequire/, /\.node["']/]) {
    assert.doesNotMatch(code, pat, `${what} contains Node-only code (${pat})`);
  }
}

async function runInChromium(siteDir, t) {
  const { serve } = await import('../scripts/serve-playground.mjs');
  const server = await serve({ dir: siteDir, port: 0 });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    await page.goto(server.url);
    await page.waitForFunction(() => document.body.textContent.startsWith('[['), null, { timeout: 60_000 }).catch(() => {});
    const text = await page.textContent('body');
    t.diagnostic(`page says: ${text}`);
    assert.deepEqual(problems, []);
    assert.equal(text, '[[3,9,14,15]] js');
  } finally {
    await browser.close();
    await server.close();
  }
}

test('esbuild --platform=browser: no Node built-in in the bundle, size, and it runs in a page', { timeout: 300_000 }, async (t) => {
  const { build } = await import('esbuild');
  const site = join(dir, 'esbuild-site');
  mkdirSync(site);
  // esbuild copies files it is told to load as files (it leaves new URL(...) alone).
  writeFileSync(join(dir, 'main.js'), "import modelFile from 'trax-ts/pretrained/sort-transformer.pkl.gz';\n" +
    CONSUMER.replace('MODEL_URL', 'new URL(modelFile, import.meta.url)'));
  const res = await build({
    entryPoints: [join(dir, 'main.js')], bundle: true, platform: 'browser', format: 'esm', outdir: site,
    loader: { '.gz': 'file' }, metafile: true, logLevel: 'silent', absWorkingDir: dir,
  });
  assert.deepEqual(readdirSync(site).filter((f) => f.endsWith('.gz')).map((f) => f.replace(/-\w+\.gz$/, '')), ['sort-transformer.pkl']);
  const inputs = Object.keys(res.metafile.inputs);
  assert.deepEqual(inputs.filter((f) => NODE_ONLY.test(f)), []);
  assert.ok(inputs.some((f) => f.endsWith('platform/host.browser.js')), 'the browser host layer was not used');
  assertNoNodeCode(readFileSync(join(site, 'main.js'), 'utf8'), 'the consumer bundle');

  // The whole library, minified, without weights.
  writeFileSync(join(dir, 'all.js'), "export * from 'trax-ts';\n");
  const all = await build({ entryPoints: [join(dir, 'all.js')], bundle: true, platform: 'browser', format: 'esm', minify: true, write: false, logLevel: 'silent', absWorkingDir: dir });
  const code = all.outputFiles[0].contents;
  const gz = gzipSync(code, { level: 9 }).length;
  t.diagnostic(`the whole library for browsers: ${(code.length / 1024).toFixed(0)} kB minified, ${(gz / 1024).toFixed(1)} kB gzipped`);
  assert.ok(gz < 250 * 1024, `browser bundle is ${gz} bytes gzipped (limit 250 kB)`);
  assertNoNodeCode(new TextDecoder().decode(code), 'the library bundle');

  if (noChromium) { t.diagnostic(`not run in a page: ${noChromium}`); return; }
  writeFileSync(join(site, 'index.html'), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><body>loading</body><script type="module" src="main.js"></script>');
  await runInChromium(site, t);
});

test('Vite: builds with no configuration, emits the pre-trained model the app names (only that one), runs in a page', { timeout: 300_000 }, async (t) => {
  const { build } = await import('vite');
  const app = join(dir, 'vite-app');
  mkdirSync(app);
  writeFileSync(join(app, 'index.html'), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><body>loading</body><script type="module" src="./main.js"></script>');
  writeFileSync(join(app, 'main.js'), CONSUMER.replace('MODEL_URL', "new URL('trax-ts/pretrained/sort-transformer.pkl.gz', import.meta.url)"));
  symlinkSync(join(dir, 'node_modules'), join(app, 'node_modules'), 'dir');
  await build({ root: app, logLevel: 'silent', configFile: false, build: { outDir: join(app, 'dist'), target: 'es2022' } });
  const assets = readdirSync(join(app, 'dist', 'assets'));
  t.diagnostic(`vite emitted: ${assets.join(', ')}`);
  assert.deepEqual(assets.filter((f) => f.endsWith('.gz')).map((f) => f.replace(/-[\w-]+\.gz$/, '')), ['sort-transformer.pkl'], 'the named model, and only it, is emitted');
  for (const f of assets.filter((f) => f.endsWith('.js'))) assertNoNodeCode(readFileSync(join(app, 'dist', 'assets', f), 'utf8'), `vite's ${f}`);
  if (noChromium) { t.diagnostic(`not run in a page: ${noChromium}`); return; }
  await runInChromium(join(app, 'dist'), t);
});
