#!/usr/bin/env node
// The trax-ts command: dispatches to one module per command. Mistakes on the
// command line exit with code 2 and a message saying what was expected;
// failures while running exit with code 1.
import { INTERRUPTED_EXIT } from './interrupt.js';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkBackendEnv } from '../../backends/env.js';
import { UsageError, formatHelp, parseArgs, suggest, type CommandSpec, type ParsedArgs } from './args.js';

interface Command {
  spec: () => Promise<CommandSpec>;
  run: (args: ParsedArgs) => Promise<number>;
}

// Commands load lazily so `trax-ts --help` stays instant.
const COMMANDS: Record<string, Command> = {
  quickstart: { spec: async () => (await import('./quickstart.js')).spec, run: async (a) => (await import('./quickstart.js')).run(a) },
  train: { spec: async () => (await import('./train.js')).spec, run: async (a) => (await import('./train.js')).run(a) },
  sample: { spec: async () => (await import('./sample.js')).sampleSpec, run: async (a) => (await import('./sample.js')).run(a) },
  predict: { spec: async () => (await import('./sample.js')).predictSpec, run: async (a) => (await import('./sample.js')).run(a) },
  show: { spec: async () => (await import('./show.js')).spec, run: async (a) => (await import('./show.js')).run(a) },
  attention: { spec: async () => (await import('./attention.js')).spec, run: async (a) => (await import('./attention.js')).run(a) },
  report: { spec: async () => (await import('./report.js')).spec, run: async (a) => (await import('./report.js')).run(a) },
  info: { spec: async () => (await import('./info.js')).spec, run: async (a) => (await import('./info.js')).run(a) },
};

// Commands that compute take --backend (the CPU default, js, or webgpu for a GPU).
const COMPUTES = new Set(['quickstart', 'train', 'sample', 'predict', 'attention']);

const SUMMARIES: [string, string][] = [
  ['quickstart', 'run the TransformerLM quick-start end to end (pre-trained sort model, training, inside the model)'],
  ['train', 'train a model on a built-in task (reverse, sort, copy) or a text corpus; resumes from a checkpoint'],
  ['predict', 'greedy decoding from a checkpoint (Trax pickle or safetensors)'],
  ['sample', 'sample from a checkpoint: temperature, top-k/top-p, beam search, seed, text prompts'],
  ['show', 'print a model\'s tree, weights\' shapes and parameter counts (--summary, --svg)'],
  ['attention', 'draw a model\'s attention weights for one input as SVG'],
  ['report', 'write a report (training curves, metrics) for a training directory'],
  ['info', 'print the backends (native, js, webgpu) and the GPU adapter'],
];

function version(): string {
  const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'package.json');
  try { return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version; } catch { return 'unknown'; }
}

function mainHelp(): string {
  const w = Math.max(...SUMMARIES.map(([n]) => n.length)) + 2;
  return [
    'Usage: trax-ts <command> [flags]',
    '',
    'Trax\'s TransformerLM quick-start, training and decoding in TypeScript.',
    '',
    'Commands:',
    ...SUMMARIES.map(([n, s]) => `  ${n.padEnd(w)}${s}`),
    '',
    'Options:',
    '  -h, --help     show help (also: trax-ts <command> --help, trax-ts help <command>)',
    '  --version      print the version',
    '',
    'Start with:',
    '  trax-ts quickstart',
    '  trax-ts train --task reverse --output-dir ~/train_dir --steps 2400',
    '  trax-ts predict --checkpoint ~/train_dir --prompt 0,4,6,8,10,0',
  ].join('\n');
}

function usageError(command: string | null, message: string): number {
  const who = command ? `trax-ts ${command}` : 'trax-ts';
  process.stderr.write(`${who}: error: ${message}\nRun '${who} --help' for usage.\n`);
  return 2;
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  try {
    checkBackendEnv();
  } catch (e) {
    process.stderr.write(`trax-ts: error: ${(e as Error).message}\n`);
    return 2;
  }
  if (first === undefined || first === '-h' || first === '--help') { process.stdout.write(mainHelp() + '\n'); return 0; }
  if (first === '--version' || first === '-v') { process.stdout.write(version() + '\n'); return 0; }
  if (first === 'help') {
    const target = rest[0];
    if (target === undefined) { process.stdout.write(mainHelp() + '\n'); return 0; }
    const cmd = COMMANDS[target];
    if (!cmd) return usageError(null, `unknown command '${target}'; commands: ${Object.keys(COMMANDS).join(', ')}`);
    process.stdout.write(formatHelp(await cmd.spec()) + '\n');
    return 0;
  }
  if (first.startsWith('-')) return usageError(null, `expected a command before flags, got ${first}; commands: ${Object.keys(COMMANDS).join(', ')}`);
  const cmd = COMMANDS[first];
  if (!cmd) {
    const s = suggest(first, Object.keys(COMMANDS));
    return usageError(null, `unknown command '${first}'${s ? ` (did you mean '${s}'?)` : ''}; commands: ${Object.keys(COMMANDS).join(', ')}`);
  }
  let spec = await cmd.spec();
  if (COMPUTES.has(first) && !spec.flags.backend) {
    spec = { ...spec, flags: { ...spec.flags, backend: {
      type: 'string', choices: ['native', 'js', 'webgpu'], metavar: 'NAME',
      help: 'compute on this backend (default: native, else js; webgpu needs the optional webgpu package and a GPU)',
    } } };
  }
  try {
    const args = parseArgs(spec, rest);
    if (args.bool('help')) { process.stdout.write(formatHelp(spec) + '\n'); return 0; }
    if (COMPUTES.has(first) && args.has('backend')) {
      const { setBackend } = await import('../../backends/index.js');
      await setBackend(args.str('backend') ?? 'native');
    }
    return await cmd.run(args);
  } catch (e) {
    if (e instanceof UsageError) return usageError(first, e.message);
    const err = e as Error;
    process.stderr.write(`trax-ts ${first}: error: ${err?.message ?? String(e)}\n`);
    if (process.env['TRAX_DEBUG']) process.stderr.write(`${err?.stack ?? ''}\n`);
    return 1;
  }
}

// A closed pipe (trax-ts show | head) is a normal way to stop reading.
process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(0); throw e; });

const code = await main(process.argv.slice(2));
// A run stopped by Ctrl-C has saved what it had: exit now, so that a further
// Ctrl-C cannot land while Node tears down (when no handler can run any more).
if (code === INTERRUPTED_EXIT) process.exit(code);
process.exitCode = code;
