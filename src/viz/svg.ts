// Small helpers for writing SVG as strings in Node (no DOM, no browser).

export const SVG_NS = 'http://www.w3.org/2000/svg';

/** Escapes text for XML element content and attribute values. */
export function esc(s: string | number): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]!));
}

/** Rounds coordinates so the files stay small and diff-stable. */
export function n(x: number): string {
  const r = Math.round(x * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
}

export type Attrs = Record<string, string | number | undefined | null>;

function attrs(a: Attrs): string {
  let s = '';
  for (const [k, v] of Object.entries(a)) {
    if (v === undefined || v === null) continue;
    s += ` ${k}="${esc(typeof v === 'number' ? n(v) : v)}"`;
  }
  return s;
}

/** <tag a="..."/> or <tag a="...">children</tag>; children are raw markup. */
export function el(tag: string, a: Attrs = {}, ...children: string[]): string {
  const body = children.join('');
  return body === '' ? `<${tag}${attrs(a)}/>` : `<${tag}${attrs(a)}>${body}</${tag}>`;
}

/** A <text> element with escaped content. */
export function text(x: number, y: number, s: string, a: Attrs = {}): string {
  return el('text', { x, y, ...a }, esc(s));
}

/** A <title> element: browsers show it as a tooltip on hover. */
export function title(s: string): string {
  return `<title>${esc(s)}</title>`;
}

export const MONO = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace";
export const SANS = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif";

/**
 * Width of a monospace string at a font size. Layout happens without a
 * browser, so text is measured with the fixed advance of monospace fonts
 * (0.6em for the common ones), with a small margin.
 */
export function monoWidth(s: string, fontSize: number): number {
  return s.length * fontSize * 0.61;
}

/** A standalone SVG document; the root carries the namespace so files open anywhere. */
export function svgDoc(width: number, height: number, body: string, a: Attrs = {}): string {
  return el('svg', {
    xmlns: SVG_NS, width: Math.ceil(width), height: Math.ceil(height),
    viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`, ...a,
  }, body);
}

/** Drops the XML namespace so the SVG can be inlined in HTML without any URL in the page. */
export function inlineSvg(svg: string): string {
  return svg.replace(/^<svg xmlns="[^"]*"/, '<svg');
}

/** 93088 -> '93,088'. */
export function thousands(x: number): string {
  return Math.round(x).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Bytes as B / KiB / MiB. */
export function formatBytes(b: number): string {
  if (b < 1024) return `${b} B`;
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${(b / 1024 / 1024).toFixed(2)} MiB`;
}
