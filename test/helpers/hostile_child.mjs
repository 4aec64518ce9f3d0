// Runs fuzz_child.mjs under a memory limit and a per-input time limit, and
// collects its report. A line that is late by more than perInputMs means a
// hang: the child is killed and the input named.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'fuzz_child.mjs');
export const MEMORY_MB = 256;

export function runLoadChild(args, { perInputMs = 2000, startupMs = 20000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${MEMORY_MB}`, '--expose-gc', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const results = [];
    let buf = '', err = '', maxRss = 0, last = -1, timer = null, hung = null;
    const arm = (ms) => {
      clearTimeout(timer);
      timer = setTimeout(() => { hung = last + 1; child.kill('SIGKILL'); }, ms);
    };
    arm(startupMs);
    child.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const [a, b, c, rss] = line.split('\t');
        if (a === 'done') { maxRss = Number(b); continue; }
        last = Number(a);
        results.push({ i: last, outcome: b, ms: Number(c), rss: Number(rss) });
        arm(perInputMs);
      }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (hung !== null) reject(new Error(`input ${hung} did not finish loading within ${perInputMs} ms (args ${args.join(' ')})`));
      else if (code !== 0) reject(new Error(`loader process died (code ${code}, signal ${signal}) after input ${last}: ${err.slice(-2000)}`));
      else resolve({ results, maxRss });
    });
  });
}
