// The browser's side of host.ts (same names and types): no file system, gzip
// through CompressionStream/DecompressionStream, Web Crypto randomness, fetch.
// Bundlers pick this file through package.json's "browser" map.
import type * as NodeFs from 'node:fs';
import type * as NodeFsp from 'node:fs/promises';
import type * as NodePath from 'node:path';
import type { loadNativeKernels } from '../backends/native.js';

function noFileSystem(what: string): never {
  throw new Error(`${what}: there is no file system in the browser; load from bytes or a URL ` +
    '(model.initFromBytes, model.initFromFile(url), ...fromBytes) and save to bytes (model.saveToBytes)');
}

// Any fs call names itself in the error.
const fsStub = (prefix: string) => new Proxy({}, {
  get: (_t, name) => (name === 'constants' ? {} : (...args: unknown[]) => noFileSystem(`${prefix}.${String(name)}(${args.length && typeof args[0] === 'string' ? JSON.stringify(args[0]) : ''})`)),
});

export const fs = fsStub('fs') as typeof NodeFs;
export const fsp = fsStub('fs.promises') as typeof NodeFsp;

function normalize(p: string): string {
  const abs = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') { if (out.length && out[out.length - 1] !== '..') out.pop(); else if (!abs) out.push('..'); } else out.push(part);
  }
  return (abs ? '/' : '') + out.join('/') || (abs ? '/' : '.');
}

// POSIX path arithmetic, for the names the library builds (no file is touched).
export const path = {
  sep: '/',
  join: (...parts: string[]) => normalize(parts.filter(Boolean).join('/')),
  resolve: (...parts: string[]) => {
    let p = '';
    for (const part of parts) p = part.startsWith('/') ? part : p ? `${p}/${part}` : part;
    return normalize(p.startsWith('/') ? p : `/${p}`);
  },
  dirname: (p: string) => { const i = p.replace(/\/+$/, '').lastIndexOf('/'); return i < 0 ? '.' : i === 0 ? '/' : p.slice(0, i); },
  basename: (p: string) => p.replace(/\/+$/, '').split('/').pop() ?? '',
} as unknown as typeof NodePath;

export const platformName: 'node' | 'browser' = 'browser';
export const hasFileSystem = false;

export function gzipSync(_data: Uint8Array, _level = 6): Uint8Array {
  throw new Error('synchronous gzip is not available in the browser; use the async form (e.g. model.saveToBytes)');
}

export function gunzipSync(_data: Uint8Array, _maxBytes?: number): Uint8Array {
  throw new Error('synchronous gunzip is not available in the browser; use the async form (e.g. model.initFromBytes)');
}

async function pipe(data: Uint8Array, stream: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }, maxBytes = Infinity): Promise<Uint8Array> {
  const reader = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(stream).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    // Stop inflating at the cap, so a gzip bomb costs at most maxBytes.
    if (total > maxBytes) {
      await reader.cancel();
      throw new RangeError(`decompressed data too large: over maxOutputLength ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

export async function gzip(data: Uint8Array, _level = 6): Promise<Uint8Array> {
  return pipe(data, new CompressionStream('gzip'));
}

export async function gunzip(data: Uint8Array, maxBytes?: number): Promise<Uint8Array> {
  try {
    return await pipe(data, new DecompressionStream('gzip'), maxBytes);
  } catch (e) {
    if (e instanceof RangeError) throw e;
    // Browsers report a cut-off stream as a generic TypeError; say what it is.
    throw new Error(`unexpected end of gzip data or corrupt gzip stream (${(e as Error).message})`);
  }
}

export function digestHex(algorithm: 'sha1' | 'sha256', _data: Uint8Array | string): string {
  throw new Error(`${algorithm} digests are used only for files on disk, which the browser has none of`);
}

export function randomUint32(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

export function env(_name: string): string | undefined {
  return undefined;
}

export function warn(message: string, _code: string): void {
  console.warn(message);
}

export function loadNative(): ReturnType<typeof loadNativeKernels> {
  return { error: 'the native addon is for Node; browsers use the js or webgpu backend' };
}

export function brotliDecompressSync(_data: Uint8Array): Uint8Array {
  throw new Error('brotli decompression is not available in the browser');
}

export function tempDir(): string {
  return noFileSystem('the temporary folder');
}

export function pid(): number {
  return 0;
}

export function hostName(): string {
  return 'browser';
}

export function processAlive(_id: number): boolean {
  return true;
}

export function onExit(_fn: () => void): void {
  // A page has no exit to hook; run-folder locks need a file system anyway.
}

export function packageRoot(): string {
  return noFileSystem('the package folder');
}

/**
 * URL of a file inside the package, by its path from the package root, for
 * pages that load the package's modules unbundled. This file is
 * dist/src/platform/host.browser.js; the URL is computed (not a literal) so
 * that bundlers do not copy every model into every app.
 */
export function packageFileUrl(relative: string): URL {
  return new URL(`../../../${relative}`, import.meta.url);
}

export async function fetchBytes(url: string | URL): Promise<Uint8Array> {
  const u = typeof url === 'string' ? new URL(url, (globalThis as { location?: { href: string } }).location?.href) : url;
  let res: Response;
  try {
    res = await fetch(u);
  } catch (e) {
    throw new Error(`cannot fetch ${u.href}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new Error(`cannot fetch ${u.href}: HTTP ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
}
