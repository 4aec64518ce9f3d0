// trax-ts info: the version, the backends and the one in use, and the GPU
// adapter when the webgpu backend can open one.
import type { CommandSpec, ParsedArgs } from './args.js';
import { backendInfo, nativeUnavailableReason, setBackend } from '../../backends/index.js';

export const spec: CommandSpec = {
  name: 'info',
  summary: 'print the backends (native, js, webgpu) and the GPU adapter',
  usage: 'trax-ts info [--json]',
  flags: {
    json: { type: 'bool', help: 'print one JSON object instead of text' },
    help: { type: 'bool', short: 'h', help: 'show this help' },
  },
  examples: ['trax-ts info', 'trax-ts info --json'],
};

export async function run(args: ParsedArgs): Promise<number> {
  const cpu = backendInfo();
  const native = nativeUnavailableReason();
  let gpu: Record<string, unknown> | { error: string };
  try {
    await setBackend('webgpu');
    gpu = backendInfo();
    await setBackend(cpu.name);
  } catch (e) {
    gpu = { error: (e as Error).message };
  }
  const out = { default: cpu.name, available: cpu.available, native: native ?? 'available', cpu, webgpu: gpu };
  if (args.bool('json')) { process.stdout.write(JSON.stringify(out, null, 2) + '\n'); return 0; }
  const lines = [
    `backends: ${cpu.available.join(', ')} (default: ${cpu.name}, ${cpu.threads} threads)`,
    `native: ${native ?? 'available'}`,
  ];
  if ('error' in gpu) lines.push(`webgpu: unavailable: ${gpu.error}`);
  else {
    const a = gpu.adapter as Record<string, string>;
    const lim = gpu.limits as Record<string, number>;
    lines.push(`webgpu: ${[a.vendor, a.architecture, a.device].filter(Boolean).join(' ')} (${a.description || 'no description'}; via ${a.source})`);
    lines.push(`  subgroups: ${gpu.subgroups ? 'yes' : 'no'}; largest tensor: ${lim.maxStorageBufferBindingSize} bytes (maxStorageBufferBindingSize)`);
    lines.push(`  features: ${(gpu.features as string[]).join(', ')}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
