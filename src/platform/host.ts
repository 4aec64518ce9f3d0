// What the library needs from its host, on Node: files, gzip, hashes,
// randomness, environment, the native addon. Every other module reaches Node
// only through this file, so that bundlers can swap it for host.browser.ts
// (package.json's "browser" map) and the browser build imports no Node
// built-in. Both files export the same names with the same types.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { brotliDecompressSync as zBrotliDecompress, gunzipSync as zGunzip, gzipSync as zGzip } from 'node:zlib';
import { loadNativeKernels } from '../backends/native.js';
import { PACKAGE_ROOT } from '../package_root.js';

export { fs, fsp, path };

export const platformName: 'node' | 'browser' = 'node';
/** True where files can be read and written by path. */
export const hasFileSystem = true;

export function gzipSync(data: Uint8Array, level = 6): Uint8Array {
  return zGzip(data, { level });
}

/** Inflates; maxBytes caps the output (a RangeError past it), so a gzip bomb costs at most that. */
export function gunzipSync(data: Uint8Array, maxBytes?: number): Uint8Array {
  return maxBytes === undefined ? zGunzip(data) : zGunzip(data, { maxOutputLength: maxBytes });
}

export async function gzip(data: Uint8Array, level = 6): Promise<Uint8Array> {
  return gzipSync(data, level);
}

export async function gunzip(data: Uint8Array, maxBytes?: number): Promise<Uint8Array> {
  return gunzipSync(data, maxBytes);
}

export function digestHex(algorithm: 'sha1' | 'sha256', data: Uint8Array | string): string {
  return createHash(algorithm).update(data).digest('hex');
}

export function randomUint32(): number {
  return randomBytes(4).readUInt32LE(0);
}

export function env(name: string): string | undefined {
  return process.env[name];
}

export function warn(message: string, code: string): void {
  process.emitWarning(message, { code });
}

export function loadNative(): ReturnType<typeof loadNativeKernels> {
  return loadNativeKernels();
}

export function brotliDecompressSync(data: Uint8Array): Uint8Array {
  return zBrotliDecompress(data);
}

export function tempDir(): string {
  return tmpdir();
}

export function pid(): number {
  return process.pid;
}

export function hostName(): string {
  return hostname();
}

/** Whether a process with this id runs (on this host). */
export function processAlive(id: number): boolean {
  try {
    process.kill(id, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs fn when the process exits. */
export function onExit(fn: () => void): void {
  process.once('exit', fn);
}

/** The package's root folder, as the native loader finds it (src/package_root.ts, ES module and CommonJS builds). */
export function packageRoot(): string {
  return PACKAGE_ROOT;
}

/** URL of a file inside the package, by its path from the package root (e.g. 'pretrained/x.pkl.gz'). */
export function packageFileUrl(relative: string): URL {
  return pathToFileURL(path.join(PACKAGE_ROOT, relative));
}

/** Bytes of a URL: file: URLs are read from disk, others fetched. */
export async function fetchBytes(url: string | URL): Promise<Uint8Array> {
  const u = typeof url === 'string' ? new URL(url) : url;
  if (u.protocol === 'file:') return new Uint8Array(await fsp.readFile(u));
  const res = await fetch(u);
  if (!res.ok) throw new Error(`cannot fetch ${u.href}: HTTP ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
}
