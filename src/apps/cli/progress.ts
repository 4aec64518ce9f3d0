// Training progress: a redrawn bar on a terminal, plain periodic lines when
// the output goes to a file or a pipe (so logs stay readable).

export interface ProgressOptions {
  /** Step the run ends at. */
  total: number;
  /** Step the run starts from (non-zero when resuming). */
  start?: number;
  /** Where to write; default process.stdout. */
  out?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Force the bar (true) or plain lines (false); default: out.isTTY. */
  tty?: boolean;
  /** Plain mode: a line every this many steps (default: a tenth of the run). */
  every?: number;
  label?: string;
  /** Tokens per step (batch x sequence length): adds tokens/s to the status. */
  tokensPerStep?: number;
}

/** 75 -> "1m15s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export class Progress {
  private readonly out: NonNullable<ProgressOptions['out']>;
  private readonly tty: boolean;
  private readonly total: number;
  private readonly start: number;
  private readonly every: number;
  private readonly label: string;
  private readonly tokensPerStep: number | undefined;
  private readonly t0 = performance.now();
  private step: number;
  private loss = NaN;
  private lastDraw = 0;
  private drawn = false;
  private lastPlainStep: number;

  constructor(opts: ProgressOptions) {
    this.out = opts.out ?? process.stdout;
    this.tty = opts.tty ?? Boolean(this.out.isTTY);
    this.total = opts.total;
    this.start = opts.start ?? 0;
    this.step = this.start;
    this.lastPlainStep = this.start;
    this.every = opts.every ?? Math.max(1, Math.ceil((this.total - this.start) / 10));
    this.label = opts.label ?? 'train';
    this.tokensPerStep = opts.tokensPerStep;
  }

  /** Steps per second over this run so far. */
  get rate(): number {
    const secs = (performance.now() - this.t0) / 1000;
    return secs > 0 ? (this.step - this.start) / secs : 0;
  }

  /** Smoothed training loss (exponential moving average). */
  get smoothedLoss(): number { return this.loss; }

  update(step: number, loss?: number): void {
    this.step = step;
    if (loss !== undefined && Number.isFinite(loss)) this.loss = Number.isNaN(this.loss) ? loss : 0.9 * this.loss + 0.1 * loss;
    if (this.tty) {
      const now = performance.now();
      // Redraw at most ~12 times a second; terminals are slower than training.
      if (now - this.lastDraw > 80 || step >= this.total) { this.lastDraw = now; this.draw(); }
    } else if (step - this.lastPlainStep >= this.every || (step >= this.total && step > this.lastPlainStep)) {
      this.lastPlainStep = step;
      this.out.write(this.status() + '\n');
    }
  }

  private status(): string {
    const rate = this.rate;
    const eta = rate > 0 ? (this.total - this.step) / rate : NaN;
    const loss = Number.isNaN(this.loss) ? '-' : this.loss.toFixed(4);
    const width = String(this.total).length;
    const tokens = this.tokensPerStep ? ` | ${Math.round(rate * this.tokensPerStep).toLocaleString('en-US')} tokens/s` : '';
    return `${this.label} step ${String(this.step).padStart(width)}/${this.total} | ${rate.toFixed(1)} steps/s${tokens} | ` +
      `loss ${loss} | ETA ${this.step >= this.total ? '0s' : formatDuration(eta)}`;
  }

  private draw(): void {
    const cols = Math.max(40, (this.out.columns || 100) - 1);
    const frac = this.total > 0 ? Math.min(1, this.step / this.total) : 1;
    const text = ` ${(frac * 100).toFixed(0).padStart(3)}% ${this.status()}`;
    const barWidth = Math.max(10, Math.min(30, cols - text.length - 2));
    const filled = Math.round(frac * barWidth);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${text}`;
    this.out.write(`\r${line.slice(0, cols)}\x1b[K`);
    this.drawn = true;
  }

  private clear(): void {
    if (this.tty && this.drawn) { this.out.write('\r\x1b[K'); this.drawn = false; }
  }

  /** Prints a line above the bar (e.g. Trax's evaluation lines). */
  println(line: string): void {
    this.clear();
    this.out.write(line + '\n');
    if (this.tty && this.step < this.total) this.draw();
  }

  /** Ends the bar with a final newline (terminal) or a final line. */
  done(): void {
    if (this.tty) {
      this.draw();
      this.out.write('\n');
      this.drawn = false;
    } else if (this.step > this.lastPlainStep) {
      this.lastPlainStep = this.step;
      this.out.write(this.status() + '\n');
    }
  }
}
