// Ctrl-C while training: the first SIGINT asks the run to stop after the
// step in progress (it saves a checkpoint and exits with 130); a second one
// exits at once.

export interface Interrupt {
  readonly signal: AbortSignal;
  /**
   * Removes the handler (the default Ctrl-C behaviour comes back), unless a
   * Ctrl-C has come: then the process is winding down to exit 130, and a
   * second one during that still exits at once with 130.
   */
  dispose(): void;
}

/** Exit status of a run stopped by Ctrl-C (128 + SIGINT). */
export const INTERRUPTED_EXIT = 130;

export function onInterrupt(): Interrupt {
  const controller = new AbortController();
  const handler = (): void => {
    if (controller.signal.aborted) {
      process.stderr.write('\nInterrupted again: exiting without saving.\n');
      process.exit(INTERRUPTED_EXIT);
    }
    process.stderr.write('\nInterrupted: saving a checkpoint after this step (Ctrl-C again to quit at once)...\n');
    controller.abort(new InterruptedError());
  };
  process.on('SIGINT', handler);
  return { signal: controller.signal, dispose: () => { if (!controller.signal.aborted) process.removeListener('SIGINT', handler); } };
}

export class InterruptedError extends Error {
  constructor() {
    super('interrupted (SIGINT)');
    this.name = 'AbortError';
  }
}
