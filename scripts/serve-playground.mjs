#!/usr/bin/env node
// Serves dist/playground on localhost (static files, nothing else).
// Usage: node scripts/serve-playground.mjs [--port 8080] [--dir dist/playground]
// Also imported by the browser tests: serve({ dir, port: 0 }) -> { url, close }.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.map': 'application/json', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.gz': 'application/octet-stream', '.safetensors': 'application/octet-stream', '.txt': 'text/plain; charset=utf-8',
};

export function serve({ dir = join(root, 'dist', 'playground'), port = 8080, host = '127.0.0.1' } = {}) {
  const base = resolve(dir);
  if (!existsSync(join(base, 'index.html'))) throw new Error(`${base} has no index.html; build it first: node scripts/build-playground.mjs`);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let file = normalize(join(base, path));
    if (file !== base && !file.startsWith(base + sep)) { res.writeHead(403).end(); return; }
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file)) { res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`); return; }
    // Served as stored: .gz models are data for the page, not a content encoding.
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: p } = /** @type {import('node:net').AddressInfo} */ (server.address());
      resolvePromise({ url: `http://${host === '0.0.0.0' ? 'localhost' : host}:${p}/`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' }, dir: { type: 'string' } }, strict: true });
  const { url } = await serve({ port: Number(values.port), dir: values.dir });
  console.log(`trax-ts playground: ${url}  (Ctrl-C to stop)`);
}
