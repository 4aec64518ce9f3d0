// Long training runs give the event loop a turn every few milliseconds, so
// signal handlers, timers and I/O (a Ctrl-C, a server's requests, an
// AbortController's timeout) run while a model trains. A turn costs a few
// microseconds, well under 1% of a 5 ms window.

/** Milliseconds of work between two turns of the event loop (default). */
export const YIELD_EVERY_MS = 5;

let every = YIELD_EVERY_MS;

/** Changes the interval (Infinity: never yield); bench/yield.ts compares the two. */
export function setYieldEveryMs(ms: number): void { every = ms; }

let last = performance.now();

const nextTurn: () => Promise<void> = typeof setImmediate === 'function'
  ? () => new Promise((resolve) => setImmediate(resolve))
  : () => new Promise((resolve) => setTimeout(resolve, 0));

let turns = 0, turnMs = 0;

/** Turns taken and milliseconds spent in them since the process started (bench/yield.ts reads them). */
export function yieldStats(): { turns: number; ms: number } { return { turns, ms: turnMs }; }

/** Returns at once unless YIELD_EVERY_MS have passed since the last turn; then waits for one. */
export async function yieldToEventLoop(): Promise<void> {
  const t0 = performance.now();
  if (t0 - last < every) return;
  await nextTurn();
  last = performance.now();
  turns++;
  turnMs += last - t0;
}
