/**
 * A training run's folder, safe against kills and concurrent writers:
 *  - files are written to a temp file with a name unique to this process and
 *    write, fsync'd, then renamed over the target (a kill leaves the old file);
 *  - writes go out in chunks, so files of 2 GiB and more can be written;
 *  - one process at a time may write: `.lock` holds the writer's pid; a second
 *    writer is refused with the holder's pid, and a lock left by a dead process
 *    on this host is taken over (with its leftover temp files removed);
 *  - on resume, metrics.jsonl is cut back to the resumed step.
 */

import { fs, fsp, hostName, onExit, path as paths, pid, processAlive } from '../platform/host.js';

export const LOCK_FILE = '.lock';
export const TEMP_SUFFIX = '._tmp_';
/** fs.writeSync refuses lengths of 2 GiB and more; write in pieces well below that. */
const WRITE_CHUNK = 256 * 2 ** 20;

let tempSeq = 0;

/** A temp name beside path, unique to this process and this write: path.<pid>-<n>._tmp_ */
export function tempPathFor(path: string): string {
  return `${path}.${pid()}-${++tempSeq}${TEMP_SUFFIX}`;
}

/** Writes all of data to fd, at most chunkBytes per call. */
export function writeAllSync(fd: number, data: Uint8Array, chunkBytes = WRITE_CHUNK): void {
  let off = 0;
  while (off < data.length) {
    off += fs.writeSync(fd, data.subarray(off, off + Math.min(chunkBytes, data.length - off)));
  }
}

/** Writes data to path atomically: unique temp file, chunked writes, fsync, rename. */
export function writeFileAtomicSync(path: string, data: Uint8Array | string, opts: { chunkBytes?: number } = {}): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = tempPathFor(path);
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'w');
    writeAllSync(fd, bytes, opts.chunkBytes);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) try { fs.closeSync(fd); } catch { /* already failing */ }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export async function writeFileAtomic(path: string, data: Uint8Array | string, opts: { chunkBytes?: number } = {}): Promise<void> {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const chunk = opts.chunkBytes ?? WRITE_CHUNK;
  const tmp = tempPathFor(path);
  try {
    const fh = await fsp.open(tmp, 'w');
    try {
      for (let off = 0; off < bytes.length;) off += (await fh.write(bytes, off, Math.min(chunk, bytes.length - off))).bytesWritten;
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, path);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

// ------------------------------------------------------------------ lock

interface LockInfo { pid: number; host: string; since: string }

const held = new Map<string, number>();

function readLock(p: string): LockInfo | null {
  try {
    const o = JSON.parse(fs.readFileSync(p, 'utf8')) as LockInfo;
    return Number.isSafeInteger(o.pid) && o.pid > 0 ? o : null;
  } catch {
    return null;
  }
}

function alive(id: number): boolean {
  return processAlive(id);
}

/** Removes temp files left in dir by processes that no longer run. */
function removeDeadTemps(dir: string): void {
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return; }
  for (const n of names) {
    const m = /\.(\d+)-\d+\._tmp_$/.exec(n);
    if (m && Number(m[1]) !== pid() && !alive(Number(m[1]))) fs.rmSync(paths.join(dir, n), { force: true });
    else if (n.endsWith(TEMP_SUFFIX) && !m) fs.rmSync(paths.join(dir, n), { force: true }); // the old shared temp name
  }
}

function releaseAll(): void {
  for (const dir of held.keys()) {
    const p = paths.join(dir, LOCK_FILE);
    if (readLock(p)?.pid === pid()) fs.rmSync(p, { force: true });
  }
  held.clear();
}
let exitHook = false;

/**
 * Makes this process the folder's only writer until it exits (or
 * releaseRunFolder). Re-entrant within a process. Throws naming the holder's
 * pid when another live process holds the folder.
 */
export function lockRunFolder(dir: string, who = 'trax-ts'): void {
  fs.mkdirSync(dir, { recursive: true });
  const key = fs.realpathSync(dir);
  if (held.has(key)) { held.set(key, held.get(key)! + 1); return; }
  const p = paths.join(key, LOCK_FILE);
  const me: LockInfo = { pid: pid(), host: hostName(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      fs.writeFileSync(p, JSON.stringify(me) + '\n', { flag: 'wx' });
      held.set(key, 1);
      if (!exitHook) { exitHook = true; onExit(releaseAll); }
      removeDeadTemps(key);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`${who}: cannot lock ${dir}: ${(e as Error).message}`);
    }
    const holder = readLock(p);
    if (holder && (holder.host !== me.host || alive(holder.pid)) && holder.pid !== pid()) {
      throw new Error(`${who}: ${dir} is in use by process ${holder.pid}${holder.host !== me.host ? ` on ${holder.host}` : ''} ` +
        `(since ${holder.since}); wait for it to finish, or use another output directory. If that process is gone, delete ${p}`);
    }
    if (!holder) {
      // Being written this instant, or garbage: give a writer a moment, then treat as stale.
      const age = Date.now() - (fs.statSync(p, { throwIfNoEntry: false })?.mtimeMs ?? 0);
      if (age < 2000 && attempt < 4) { sleep(100); continue; }
    }
    takeOverStale(p, holder);
  }
  throw new Error(`${who}: could not lock ${dir}: the lock file ${p} keeps changing`);
}

/**
 * Moves a dead process's lock aside. Only one of several racing processes
 * succeeds in renaming a given file; one that renamed a fresh lock by mistake
 * (another taker's, written in between) puts it back.
 */
function takeOverStale(p: string, stale: LockInfo | null): void {
  const aside = `${p}.stale-${pid()}-${++tempSeq}`;
  try { fs.renameSync(p, aside); } catch { return; }
  const moved = readLock(aside);
  if (moved && stale && moved.pid !== stale.pid && alive(moved.pid)) {
    try { fs.linkSync(aside, p); } catch { /* a newer lock is in place */ }
  }
  fs.rmSync(aside, { force: true });
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** How many holds this process has on dir (0 when it does not hold it). */
export function runFolderHolds(dir: string): number {
  try { return held.get(fs.realpathSync(dir)) ?? 0; } catch { return 0; }
}

/** Gives up this process's hold on dir (when the last holder within the process releases it). */
export function releaseRunFolder(dir: string): void {
  let key: string;
  try { key = fs.realpathSync(dir); } catch { return; }
  const n = held.get(key);
  if (n === undefined) return;
  if (n > 1) { held.set(key, n - 1); return; }
  held.delete(key);
  const p = paths.join(key, LOCK_FILE);
  if (readLock(p)?.pid === pid()) fs.rmSync(p, { force: true });
}

// --------------------------------------------------------------- metrics

/**
 * Cuts metrics.jsonl back to the resumed step: lines for later steps (written
 * before a kill, after the last checkpoint) and a torn last line are dropped,
 * so a resumed run does not repeat them.
 */
export function trimMetrics(dir: string, step: number, file = 'metrics.jsonl'): void {
  const p = paths.join(dir, file);
  let text: string;
  try { text = fs.readFileSync(p, 'utf8'); } catch { return; }
  const lines = text.split('\n');
  const keep: string[] = [];
  for (const line of lines) {
    if (!line) continue;
    try {
      const o = JSON.parse(line) as { step?: unknown };
      if (typeof o.step === 'number' && o.step > step) continue;
    } catch {
      continue;
    }
    keep.push(line);
  }
  const out = keep.map((l) => l + '\n').join('');
  if (out !== text) writeFileAtomicSync(p, out);
}
