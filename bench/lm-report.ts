// Markdown from saved bench:lm runs (the JSON files it writes): the result
// table, the mean gap per thread count, and both sides' loss curves.
//
//   node dist/bench/lm-report.js RUN.json [RUN.json ...]
import { readFileSync } from 'node:fs';
import { report, type LMBenchRun } from './lm.js';

for (const file of process.argv.slice(2)) {
  const r = JSON.parse(readFileSync(file, 'utf8')) as { date: string; text: string; steps: number; runs: LMBenchRun[] };
  console.log(`### ${r.text}, ${r.steps} steps (${r.date.slice(0, 16).replace('T', ' ')} UTC)\n`);
  for (const l of report(r.runs, r.text, r.steps)) console.log(l);
  for (const run of r.runs) {
    if (!run.torch) continue;
    console.log(`\nCurves, ${run.threads} thread${run.threads > 1 ? 's' : ''}, seed ${run.seed} (validation / training loss, nats/char):\n`);
    console.log('| step | trax-ts | PyTorch | gap |');
    console.log('|---|---|---|---|');
    for (const o of run.ours.curve) {
      const t = run.torch.curve.find((c) => c.step === o.step);
      if (!t) continue;
      const g = o.valLoss - t.valLoss;
      console.log(`| ${o.step} | ${o.valLoss.toFixed(4)} / ${o.trainLoss.toFixed(4)} | ${t.valLoss.toFixed(4)} / ${t.trainLoss.toFixed(4)} | ${g >= 0 ? '+' : ''}${g.toFixed(4)} |`);
    }
  }
  console.log('');
}
