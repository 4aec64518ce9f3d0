// A small line plot on a canvas: redrawn whole on every update (a few
// thousand points at most), y axis from the data, x from 0 to the last step.
export interface PlotSeries { name: string; color: string; points: { x: number; y: number }[] }

export function drawPlot(canvas: HTMLCanvasElement, series: PlotSeries[], opts: { yMin?: number; yMax?: number; xMax?: number } = {}): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const W = canvas.width, H = canvas.height, L = 44, R = 10, T = 10, B = 24;
  ctx.clearRect(0, 0, W, H);
  const all = series.flatMap((s) => s.points);
  const xMax = Math.max(opts.xMax ?? 1, ...all.map((p) => p.x));
  let yMin = opts.yMin ?? Math.min(...all.map((p) => p.y));
  let yMax = opts.yMax ?? Math.max(...all.map((p) => p.y));
  if (!Number.isFinite(yMin) || !Number.isFinite(yMax)) { yMin = 0; yMax = 1; }
  if (yMax - yMin < 1e-9) { yMax += 0.5; yMin -= 0.5; }
  const sx = (x: number) => L + (x / xMax) * (W - L - R);
  const sy = (y: number) => T + (1 - (y - yMin) / (yMax - yMin)) * (H - T - B);
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#6b7486';
  ctx.strokeStyle = '#e6e9ef';
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = yMin + ((yMax - yMin) * i) / 4;
    ctx.beginPath(); ctx.moveTo(L, sy(y)); ctx.lineTo(W - R, sy(y)); ctx.stroke();
    ctx.fillText(y.toFixed(yMax - yMin < 2 ? 2 : 1), 4, sy(y) + 4);
  }
  ctx.fillText('0', L, H - 6);
  ctx.fillText(`step ${xMax}`, W - R - 60, H - 6);
  series.forEach((s, k) => {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    s.points.forEach((p, i) => (i ? ctx.lineTo(sx(p.x), sy(p.y)) : ctx.moveTo(sx(p.x), sy(p.y))));
    ctx.stroke();
    ctx.fillStyle = s.color;
    ctx.fillText(s.name, W - R - 120, T + 12 + 13 * k);
  });
}
