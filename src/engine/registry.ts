// The kernel registry: every kernel declared once, with its arguments in
// call order, which are inputs, outputs and attributes, and its dtype rule.
// The Kernels interface (src/backends/kernels.ts) gives the TypeScript
// signature of each declaration, and the compiler checks that the two name
// the same kernels (the object below is typed by the interface's keys).
// Backends register their implementations with checkKernels, which rejects a
// backend that lacks a declared kernel or brings one that is not declared;
// a test checks the native addon's function table against this list.
//
// Argument spec, one token per argument in call order:
//   name:F  float32 storage      name:I  int32 storage
//   name:S  storage of either dtype (4-byte elements)
//   name:U  byte-mask storage    name:M  host Int32Array metadata (shapes, strides)
//   name    number               name:b  boolean
//   a trailing ! marks storage the kernel writes (outputs, or in-place
//   updates); a trailing ? marks an optional argument (null / omitted).
import type { Kernels } from '../backends/kernels.js';

export type KernelName = keyof Kernels;

export interface KernelArg {
  name: string;
  kind: 'F' | 'I' | 'S' | 'U' | 'M' | 'number' | 'boolean';
  /** Written by the kernel. */
  output: boolean;
  optional: boolean;
}

export interface KernelDecl {
  name: KernelName;
  args: KernelArg[];
  /** Storages read. */
  inputs: string[];
  /** Storages written (including in-place updates). */
  outputs: string[];
  /** Numbers, flags and host metadata. */
  attrs: string[];
  /** Which dtypes the storages hold. */
  dtypes: string;
}

const F32 = 'float32';
const ANY = 'float32 or int32 (4-byte copy; same dtype in and out)';

const SPECS: { [K in KernelName]: [args: string, dtypes: string] } = {
  matmul: ['a:F b:F c:F! batch m n k transA:b transB:b strideA strideB accumulate:b bias:F? relu:b? gate:F? gateScale?', F32],
  unary: ['op x:F out:F!', F32],
  binary: ['op a:F b:F out:F! shape:M aStrides:M bStrides:M', F32],
  reduce: ['op x:F out:F! outer n inner', F32],
  softmax: ['x:F out:F! rows cols log:b', F32],
  softmaxBackward: ['y:F dy:F dx:F! rows cols log:b', F32],
  layerNorm: ['x:F scale:F bias:F out:F! mean:F! rstd:F! rows cols eps', F32],
  layerNormBackward: ['dy:F x:F scale:F mean:F rstd:F dx:F! dscale:F! dbias:F! rows cols', F32],
  crossEntropy: ['logits:F targets:I weights:F loss:F! logp:F! rows vocab', 'float32; targets int32'],
  crossEntropyBackward: ['logp:F targets:I weights:F dloss:F dlogits:F! rows vocab', 'float32; targets int32'],
  attention: ['q:F k:F v:F out:F! probs:F! bh lq lk d scale causal:b offset dropMask:F? keyMask:F? heads? qs? ks? vs? os?', F32],
  attentionBackward: ['dout:F q:F k:F v:F probs:F dq:F! dk:F! dv:F! bh lq lk d scale dropMask:F? heads? qs? ks? vs? os?', F32],
  gatherRows: ['table:F ids:I out:F! rows cols', 'float32; ids int32'],
  scatterAddRows: ['dout:F ids:I dtable:F! rows cols', 'float32; ids int32'],
  adam: ['w:F! g:F m:F! v:F! lr b1 b2 eps wd step', F32],
  adafactor: ['w:F! g:F vr:F!? vc:F!? v:F!? m:F!? batch rows cols lr decay eps1 eps2 clipThreshold multiplyByParameterScale:b doClipping:b beta1 wd', F32],
  dropoutMask: ['k0 k1 keep scale out:F! x:F? keepMask:U!?', 'float32; keepMask bytes'],
  dropoutApply: ['keepMask:U scale x:F out:F!', 'float32; keepMask bytes'],
  sumSquares: ['x:F out:F!', 'float32 (out has 1 element)'],
  permute: ['x:F out:F! shape:M perm:M', F32],
  fill: ['out:S! value int:b', 'either; int says which'],
  copyStrided: ['x:S out:S! shape:M xStrides:M xOffset outStrides:M outOffset', ANY],
  cast: ['x:S out:S! toInt:b', 'float32 -> int32 when toInt, else int32 -> float32'],
  binaryInt: ['op a:I b:I out:S! shape:M aStrides:M bStrides:M outFloat:b', 'int32 in; float32 out when outFloat, else int32'],
  select: ['cond:F a:S b:S out:S! shape:M cStrides:M aStrides:M bStrides:M', 'cond float32; a, b, out ' + ANY],
  gather: ['x:S ids:I out:S! outer n m inner', 'x, out ' + ANY + '; ids int32'],
  scatterAdd: ['updates:S ids:I out:S! outer n m inner int:b', 'updates, out of one dtype (int says which); ids int32'],
  gatherAlong: ['x:S ids:I out:S! outer n m inner', 'x, out ' + ANY + '; ids int32'],
  scatterAlong: ['dy:F ids:I out:F! outer n m inner', 'float32; ids int32'],
  argmax: ['x:F out:I! outer n inner', 'float32 in, int32 out'],
  cumsum: ['x:S out:S! outer n inner int:b', 'either (int says which); same dtype in and out'],
  oneHot: ['ids:F out:F! count depth', F32],
  randomUniform: ['k0 k1 out:F! minval maxval', F32],
  randomNormal: ['k0 k1 out:F! mean stddev', F32],
  randomTruncatedNormal: ['k0 k1 out:F! lower upper', F32],
  randomBernoulli: ['k0 k1 out:F! p', F32],
  randomInt: ['k0 k1 out:I! minval maxval', 'int32'],
  randomGumbel: ['k0 k1 out:F!', F32],
  sgd: ['w:F! g:F lr', F32],
  momentum: ['w:F! g:F v:F! mass lr wd nesterov:b', F32],
  rmsprop: ['w:F! g:F avg:F! gamma eps lr', F32],
  sm3: ['w:F! g:F m:F!? v1:F! v2:F!? dims:M lr wd beta1 beta2 momentumType', F32],
  roundBfloat16: ['x:F!', F32],
};

function parseArg(tok: string): KernelArg {
  let t = tok, optional = false, output = false;
  if (t.endsWith('?')) { optional = true; t = t.slice(0, -1); }
  if (t.endsWith('!')) { output = true; t = t.slice(0, -1); }
  const [name, k] = t.split(':');
  const kind = k === undefined ? 'number' : k === 'b' ? 'boolean' : k as KernelArg['kind'];
  return { name, kind, output, optional };
}

function declare(name: KernelName, spec: string, dtypes: string): KernelDecl {
  const args = spec.split(/\s+/).map(parseArg);
  const storage = (a: KernelArg) => a.kind === 'F' || a.kind === 'I' || a.kind === 'S' || a.kind === 'U';
  return {
    name, args, dtypes,
    inputs: args.filter((a) => storage(a) && !a.output).map((a) => a.name),
    outputs: args.filter((a) => storage(a) && a.output).map((a) => a.name),
    attrs: args.filter((a) => !storage(a)).map((a) => a.name),
  };
}

/** Every kernel declaration, by name. */
export const KERNELS: Readonly<Record<KernelName, KernelDecl>> = Object.fromEntries(
  (Object.keys(SPECS) as KernelName[]).map((n) => [n, declare(n, SPECS[n][0], SPECS[n][1])]),
) as Record<KernelName, KernelDecl>;

/** Declared kernel names, in declaration order. */
export const KERNEL_NAMES: readonly KernelName[] = Object.keys(SPECS) as KernelName[];

/** Kernels a table lacks and functions it has that are not declared. */
export function kernelCoverage(impls: object): { missing: string[]; extra: string[] } {
  const have = new Set(Object.keys(impls).filter((k) => typeof (impls as Record<string, unknown>)[k] === 'function'));
  return {
    missing: KERNEL_NAMES.filter((n) => !have.has(n)),
    extra: [...have].filter((n) => !(n in SPECS)),
  };
}

/** Throws unless impls implements exactly the declared kernels. */
export function checkKernels(backend: string, impls: object): void {
  const { missing, extra } = kernelCoverage(impls);
  if (missing.length || extra.length) {
    const parts: string[] = [];
    if (missing.length) parts.push(`lacks ${missing.join(', ')}`);
    if (extra.length) parts.push(`implements undeclared ${extra.join(', ')}`);
    throw new Error(`backend '${backend}': kernel table ${parts.join('; ')} (see src/engine/registry.ts)`);
  }
}
