// The command line's flag parser: every flag is declared with a type and a
// help line, so unknown flags and bad values are rejected with a message that
// says what was expected (exit code 2), and help text is generated from the
// same declarations.

export type FlagType = 'int' | 'number' | 'string' | 'bool';

export interface FlagSpec {
  type: FlagType;
  help: string;
  default?: string | number | boolean;
  /** Allowed values for a string flag. */
  choices?: readonly string[];
  /** Inclusive bounds for numeric flags. */
  min?: number;
  max?: number;
  /** min is exclusive (e.g. a learning rate must be > 0). */
  minExclusive?: boolean;
  /** The value's name in help, e.g. DIR. */
  metavar?: string;
  /** May be given several times; values are collected in order. */
  multiple?: boolean;
  short?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  description?: string;
  flags: Record<string, FlagSpec>;
  /** Names of positional arguments; none means positionals are rejected. */
  positionals?: { name: string; help: string; max?: number }[];
  examples?: string[];
  /** Flag groups in help: heading -> flag names (the rest go under "Options"). */
  groups?: [string, string[]][];
}

/** A command-line mistake: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  constructor(message: string, readonly command: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Value = string | number | boolean;

export class ParsedArgs {
  constructor(
    readonly command: string,
    private readonly values: Map<string, Value[]>,
    private readonly spec: CommandSpec,
    readonly positionals: string[],
  ) {}

  /** Whether the flag was given on the command line (not just defaulted). */
  has(name: string): boolean { return this.values.has(this.check(name)); }

  private check(name: string): string {
    if (!(name in this.spec.flags)) throw new Error(`internal: flag --${name} is not declared for ${this.command}`);
    return name;
  }

  private raw(name: string): Value | undefined {
    const v = this.values.get(this.check(name));
    return v ? v[v.length - 1] : this.spec.flags[name].default;
  }

  str(name: string): string | undefined {
    const v = this.raw(name);
    return v === undefined ? undefined : String(v);
  }

  num(name: string): number | undefined {
    const v = this.raw(name);
    return v === undefined ? undefined : Number(v);
  }

  bool(name: string): boolean {
    return this.raw(name) === true;
  }

  all(name: string): string[] {
    return (this.values.get(this.check(name)) ?? []).map(String);
  }

  /** A value the command cannot do without. */
  need(name: string, why = ''): string {
    const v = this.str(name);
    if (v === undefined || v === '') throw new UsageError(`--${name} is required${why ? ` ${why}` : ''}`, this.command);
    return v;
  }

  fail(message: string): never {
    throw new UsageError(message, this.command);
  }
}

function expected(spec: FlagSpec): string {
  if (spec.choices) return `one of ${spec.choices.join(', ')}`;
  const range = (): string => {
    if (spec.min !== undefined && spec.max !== undefined) return ` in ${spec.min}..${spec.max}`;
    if (spec.min !== undefined) {
      if (spec.min === 0 && spec.minExclusive) return ' > 0';
      if (spec.min === 1 && spec.type === 'int') return '';
      return spec.minExclusive ? ` > ${spec.min}` : ` >= ${spec.min}`;
    }
    return '';
  };
  switch (spec.type) {
    case 'int':
      if (spec.min === 1 && spec.max === undefined) return 'a positive integer';
      if (spec.min === 0 && spec.max === undefined && !spec.minExclusive) return 'a non-negative integer';
      return `an integer${range()}`;
    case 'number': return `a number${range()}`;
    case 'bool': return 'no value (it is a switch)';
    default: return spec.metavar ? `a value (${spec.metavar})` : 'a value';
  }
}

function convert(flag: string, spec: FlagSpec, text: string, command: string): Value {
  const bad = (): never => {
    throw new UsageError(`--${flag} expects ${expected(spec)}, got ${JSON.stringify(text)}`, command);
  };
  if (spec.type === 'int') {
    if (!/^[+-]?\d+$/.test(text.trim())) bad();
    const n = Number(text);
    if (!Number.isSafeInteger(n)) bad();
    if (spec.min !== undefined && (spec.minExclusive ? n <= spec.min : n < spec.min)) bad();
    if (spec.max !== undefined && n > spec.max) bad();
    return n;
  }
  if (spec.type === 'number') {
    if (text.trim() === '') bad();
    const n = Number(text);
    if (!Number.isFinite(n)) bad();
    if (spec.min !== undefined && (spec.minExclusive ? n <= spec.min : n < spec.min)) bad();
    if (spec.max !== undefined && n > spec.max) bad();
    return n;
  }
  if (spec.choices && !spec.choices.includes(text)) bad();
  return text;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const t = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = t;
    }
  }
  return d[b.length];
}

/** The closest known name, when it is close enough to be a likely typo. */
export function suggest(word: string, names: string[]): string | undefined {
  let best: string | undefined, bestD = Infinity;
  for (const n of names) {
    const dist = editDistance(word, n);
    if (dist < bestD) { bestD = dist; best = n; }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** Parses argv (after the command name) against a command's declared flags. */
export function parseArgs(spec: CommandSpec, argv: string[]): ParsedArgs {
  const values = new Map<string, Value[]>();
  const positionals: string[] = [];
  const shorts = new Map<string, string>();
  for (const [name, f] of Object.entries(spec.flags)) if (f.short) shorts.set(f.short, name);
  const put = (name: string, v: Value): void => {
    const f = spec.flags[name];
    const list = values.get(name);
    if (list && !f.multiple) list[0] = v; // the last one wins, as usual on command lines
    else if (list) list.push(v);
    else values.set(name, [v]);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') { positionals.push(...argv.slice(i + 1)); break; }
    let name: string | undefined, inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    } else if (/^-[a-zA-Z]$/.test(arg)) {
      name = shorts.get(arg.slice(1));
      if (name === undefined) throw new UsageError(`unknown flag ${arg}`, spec.name);
    } else {
      positionals.push(arg);
      continue;
    }
    let f = spec.flags[name];
    let negated = false;
    if (!f && name.startsWith('no-') && spec.flags[name.slice(3)]?.type === 'bool') {
      name = name.slice(3); f = spec.flags[name]; negated = true;
    }
    if (!f) {
      const s = suggest(name, Object.keys(spec.flags));
      throw new UsageError(`unknown flag --${name}${s ? ` (did you mean --${s}?)` : ''}`, spec.name);
    }
    if (f.type === 'bool') {
      if (inline !== undefined) {
        if (!['true', 'false', '1', '0'].includes(inline)) {
          throw new UsageError(`--${name} is a switch: give it alone (or --${name}=true/false), got ${JSON.stringify(inline)}`, spec.name);
        }
        put(name, (inline === 'true' || inline === '1') !== negated);
      } else put(name, !negated);
      continue;
    }
    let text = inline;
    if (text === undefined) {
      const next = argv[i + 1];
      // A following flag is not a value, but a negative number is.
      if (next === undefined || (next.startsWith('-') && !/^-\d/.test(next))) {
        throw new UsageError(`--${name} expects ${expected(f)}, but no value was given`, spec.name);
      }
      text = next;
      i++;
    }
    put(name, convert(name, f, text, spec.name));
  }
  const maxPos = (spec.positionals ?? []).reduce((s, p) => s + (p.max ?? 1), 0);
  if (positionals.length > maxPos) {
    const extra = positionals[maxPos];
    const hint = spec.positionals?.length ? '' : extra.startsWith('-') ? '' : ' (flags start with --)';
    throw new UsageError(`unexpected argument ${JSON.stringify(extra)}${hint}`, spec.name);
  }
  return new ParsedArgs(spec.name, values, spec, positionals);
}

function flagLine(name: string, f: FlagSpec): [string, string] {
  const meta = f.type === 'bool' ? '' : ` ${f.metavar ?? (f.type === 'int' ? 'N' : f.type === 'number' ? 'X' : f.choices ? f.choices.join('|') : 'VALUE')}`;
  const left = `${f.short ? `-${f.short}, ` : ''}--${name}${meta}`;
  let right = f.help;
  if (f.default !== undefined && f.type !== 'bool') right += ` (default: ${f.default})`;
  if (f.multiple) right += ' (repeatable)';
  return [left, right];
}

function wrap(text: string, width: number, indent: number): string {
  const words = text.split(/\s+/);
  const lines: string[] = [];
  let cur = '';
  for (const w of words) {
    if (cur && cur.length + 1 + w.length > width) { lines.push(cur); cur = w; } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines.join('\n' + ' '.repeat(indent));
}

/** The command's --help text. */
export function formatHelp(spec: CommandSpec): string {
  const out: string[] = [`Usage: ${spec.usage}`, '', spec.summary];
  if (spec.description) out.push('', spec.description);
  const rows = Object.entries(spec.flags).map(([n, f]) => [n, ...flagLine(n, f)] as const);
  const pad = Math.min(34, Math.max(...rows.map((r) => r[1].length), 10) + 2);
  const grouped = new Set<string>();
  const sections: [string, string[]][] = [...(spec.groups ?? [])];
  for (const [, names] of sections) names.forEach((n) => grouped.add(n));
  const rest = Object.keys(spec.flags).filter((n) => !grouped.has(n));
  if (rest.length) sections.push([sections.length ? 'Other options' : 'Options', rest]);
  if (spec.positionals?.length) {
    out.push('', 'Arguments:');
    for (const p of spec.positionals) out.push(`  ${p.name.padEnd(pad)}${p.help}`);
  }
  for (const [heading, names] of sections) {
    out.push('', `${heading}:`);
    for (const n of names) {
      const row = rows.find((r) => r[0] === n);
      if (!row) continue;
      const [, left, right] = row;
      const body = wrap(right, 100 - pad - 2, pad + 2);
      out.push(left.length + 2 > pad ? `  ${left}\n${' '.repeat(pad + 2)}${body}` : `  ${left.padEnd(pad)}${body}`);
    }
  }
  if (spec.examples?.length) {
    out.push('', 'Examples:');
    for (const e of spec.examples) out.push(`  ${e}`);
  }
  return out.join('\n');
}

/** Integers from "0,3,14,15,9,0", "0 3 14 15 9 0" or "[0, 3, 14]". */
export function parseIntList(text: string, flag: string, command: string): number[] {
  const body = text.trim().replace(/^\[/, '').replace(/\]$/, '').trim();
  const parts = body === '' ? [] : body.split(/[\s,]+/).filter(Boolean);
  if (parts.length === 0 || parts.some((p) => !/^[+-]?\d+$/.test(p))) {
    throw new UsageError(`--${flag} expects integers separated by commas or spaces (e.g. 0,3,14,15,9,0), got ${JSON.stringify(text)}`, command);
  }
  return parts.map(Number);
}
