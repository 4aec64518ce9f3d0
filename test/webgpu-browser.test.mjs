// The webgpu backend in a browser: headless Chromium gives pages a WebGPU
// adapter (SwiftShader on a machine without a GPU) through navigator.gpu; the
// page loads the backend's modules and runs kernels whose results must equal
// the js kernels' (a GEMM within 1e-4, a dropout mask exactly).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jsKernels } from '../dist/src/backends/js.js';

const CHROMIUM = '/usr/bin/chromium';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: run scripts/setup-browser.sh (CI does) to install Debian's chromium`;

test('webgpu backend through navigator.gpu in headless Chromium agrees with the js kernels', { skip, timeout: 120000 }, async (t) => {
  // Serves the built modules (and a blank page) from the repository.
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    if (path === '/') { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<!doctype html><title>webgpu</title>'); return; }
    const file = join(root, path);
    if (!file.startsWith(join(root, 'dist')) || !existsSync(file)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    const result = await page.evaluate(async () => {
      if (!navigator.gpu) return { skip: 'navigator.gpu is missing' };
      const m = await import('/dist/src/backends/webgpu/index.js');
      let be;
      try { be = await m.webgpuBackend(); } catch (e) { return { skip: String(e.message) }; }
      const a = Float32Array.from({ length: 37 * 29 }, (_, i) => Math.sin(i)), b = Float32Array.from({ length: 29 * 45 }, (_, i) => Math.cos(i));
      const c = be.runtime.alloc(37 * 45);
      be.kernels.matmul(be.fromHost(a), be.fromHost(b), c, 1, 37, 45, 29, false, false, 0, 0, false);
      const mask = be.runtime.alloc(1001);
      be.kernels.dropoutMask(0x12345678, 7, 0.9, 1 / 0.9, mask);
      return {
        source: be.adapter.source, c: Array.from(await be.read(c, 'float32')), mask: Array.from(await be.read(mask, 'float32')),
      };
    });
    if (result.skip) { t.skip(`no WebGPU adapter in Chromium: ${result.skip}`); return; }
    assert.equal(result.source, 'navigator.gpu');
    const a = Float32Array.from({ length: 37 * 29 }, (_, i) => Math.sin(i)), b = Float32Array.from({ length: 29 * 45 }, (_, i) => Math.cos(i));
    const want = new Float32Array(37 * 45);
    jsKernels.matmul(a, b, want, 1, 37, 45, 29, false, false, 0, 0, false);
    let scale = 1;
    for (const v of want) scale = Math.max(scale, Math.abs(v));
    want.forEach((w, i) => assert.ok(Math.abs(result.c[i] - w) <= 1e-4 * scale, `matmul[${i}]: ${result.c[i]} vs ${w}`));
    const wantMask = new Float32Array(1001);
    jsKernels.dropoutMask(0x12345678, 7, 0.9, 1 / 0.9, wantMask);
    assert.deepEqual(Float32Array.from(result.mask), wantMask);
  } finally {
    await browser.close();
    server.close();
  }
});
