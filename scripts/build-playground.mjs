#!/usr/bin/env node
// Builds the browser playground as static files in dist/playground: the page,
// its script, the engine's worker (trax-ts bundled through its "browser"
// export, as any consumer's bundler would), the pre-trained models, and a
// service worker that keeps them all for offline use. Run after `npm run build`.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'playground');
const out = join(root, 'dist', 'playground');

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'models', 'moby-dick-char'), { recursive: true });

const result = await build({
  entryPoints: { main: join(src, 'src', 'main.ts'), worker: join(src, 'src', 'worker.ts') },
  bundle: true, platform: 'browser', format: 'esm', target: 'es2022', minify: true, sourcemap: true,
  outdir: out, metafile: true, logLevel: 'warning', absWorkingDir: root,
});
const builtins = Object.keys(result.metafile.inputs).filter((f) => f.startsWith('node:') || /(^|\/)platform\/host\.js$/.test(f));
if (builtins.length) throw new Error(`the playground bundle reaches Node-only modules: ${builtins.join(', ')}`);

for (const f of ['index.html', 'style.css']) copyFileSync(join(src, f), join(out, f));
copyFileSync(join(root, 'pretrained', 'sort-transformer.pkl.gz'), join(out, 'models', 'sort-transformer.pkl.gz'));
for (const f of ['lm.json', 'model.pkl.gz']) copyFileSync(join(root, 'pretrained', 'moby-dick-char', f), join(out, 'models', 'moby-dick-char', f));

// The service worker caches every file under a name that changes with their contents.
const files = [];
const walk = (d) => { for (const e of readdirSync(d)) { const p = join(d, e); if (statSync(p).isDirectory()) walk(p); else if (!p.endsWith('.map')) files.push(p); } };
walk(out);
const hash = createHash('sha256');
for (const f of files.sort()) hash.update(relative(out, f)).update(readFileSync(f));
const list = ['./', ...files.map((f) => './' + relative(out, f).split('\\').join('/'))];
writeFileSync(join(out, 'sw.js'), readFileSync(join(src, 'sw.js'), 'utf8')
  .replace('__VERSION__', hash.digest('hex').slice(0, 16)).replace('__FILES__', JSON.stringify(list)));

const gz = (f) => gzipSync(readFileSync(join(out, f)), { level: 9 }).length;
console.log(`playground: ${relative(root, out)} (worker.js ${(statSync(join(out, 'worker.js')).size / 1024).toFixed(0)} kB, ` +
  `${(gz('worker.js') / 1024).toFixed(1)} kB gzipped; main.js ${(gz('main.js') / 1024).toFixed(1)} kB gzipped)`);
