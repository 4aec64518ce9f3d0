// npm run bench:gpu-browser: the webgpu backend in headless Chromium
// (navigator.gpu; SwiftShader on a machine without a GPU): a reverse-task
// training step and cached greedy decoding of the quick-start-sized model
// (d32, 2 layers, vocabulary 32), both through the device-resident model of
// bench/gpu_lm.ts. Prints one JSON line.
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const chromiumPath = process.env['CHROMIUM'] ?? '/usr/bin/chromium';

// Runs in the page: plain JavaScript, importing the built modules from the local server.
const PAGE = `(async () => {
  const m = await import('/dist/src/backends/webgpu/index.js');
  const { DeviceLM } = await import('/dist/bench/gpu_lm.js');
  const be = await m.webgpuBackend();
  const s = { vocab: 32, d: 32, ff: 128, layers: 2, heads: 8, batch: 16, seq: 10, dropout: 0.1 };
  const lm = new DeviceLM(be, s);
  const BL = 160;
  const x = Int32Array.from({ length: BL }, (_, i) => 1 + (i * 7) % 31);
  const tg = [be.fromHost(x)], w = [be.fromHost(new Float32Array(BL).fill(1))], l = [be.runtime.alloc(BL)];
  const sh = be.fromHost(x);
  for (let i = 0; i < 2; i++) lm.trainStep(sh, tg, w, l);
  await be.sync();
  const steps = ${Number(process.env['STEPS'] ?? 3)};
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) lm.trainStep(sh, tg, w, l);
  await be.sync();
  const stepMs = (performance.now() - t0) / steps;
  const gen = new DeviceLM(be, { ...s, dropout: 0 });
  await gen.generate(4);
  const t1 = performance.now();
  await gen.generate(16);
  return { source: be.adapter.source, adapter: be.adapter.description || be.adapter.vendor,
    reverse_step_ms: +stepMs.toFixed(1), decode_tokens_per_s: +(16 / ((performance.now() - t1) / 1000)).toFixed(1) };
})()`;

async function main(): Promise<void> {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing (run scripts/setup-browser.sh, or set CHROMIUM)`);
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (path === '/') { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<!doctype html><title>bench</title>'); return; }
    const file = join(root, path);
    if (!file.startsWith(join(root, 'dist')) || !existsSync(file)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--headless', '--enable-unsafe-webgpu'] });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const r = await page.evaluate(PAGE);
    console.log(JSON.stringify({ what: 'webgpu in headless Chromium (quick-start-sized model)', ...(r as object) }));
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((e) => { console.error(`bench:gpu-browser: ${(e as Error).message}`); process.exit(1); });
