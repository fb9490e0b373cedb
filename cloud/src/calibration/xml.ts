/**
 * A small, strict XML reader for uploaded calibration certificates (DCC): elements with their
 * namespace URIs, attributes and text. No DTD is accepted (a `<!DOCTYPE` is refused), so no
 * entity but the five predefined ones and character references is ever expanded: no external
 * entity (XXE) and no entity expansion bomb. Depth and element count are limited.
 *
 * It is not a validating parser; the DCC reader (`dcc.ts`) checks the structure it relies on.
 */

export interface XmlElement {
  /** Local name (without prefix). */
  name: string;
  /** Namespace URI ('' when none). */
  ns: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** The element's own text (character data and CDATA directly inside it), untrimmed. */
  text: string;
}

export class XmlError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} (at character ${offset})`);
    this.name = 'XmlError';
  }
}

const MAX_DEPTH = 128;
const MAX_ELEMENTS = 200_000;
const NAME = /^[A-Za-z_][A-Za-z0-9._:-]*$/;
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decode(s: string, at: number): string {
  if (!s.includes('&')) return s;
  return s.replace(/&([^;]{0,32});/g, (_m, ent: string) => {
    if (ent.startsWith('#x') || ent.startsWith('#X')) {
      const n = Number.parseInt(ent.slice(2), 16);
      if (!Number.isFinite(n) || n > 0x10ffff) throw new XmlError(`bad character reference &${ent};`, at);
      return String.fromCodePoint(n);
    }
    if (ent.startsWith('#')) {
      const n = Number.parseInt(ent.slice(1), 10);
      if (!Number.isFinite(n) || n > 0x10ffff) throw new XmlError(`bad character reference &${ent};`, at);
      return String.fromCodePoint(n);
    }
    const v = PREDEFINED[ent];
    if (v === undefined) throw new XmlError(`unknown entity &${ent};`, at);
    return v;
  });
}

interface Open {
  qname: string;
  el: XmlElement;
  scope: Map<string, string>;
}

/** Parses a whole document; its root element. Throws XmlError when it is not well-formed. */
export function parseXml(src: string): XmlElement {
  let i = 0;
  if (src.charCodeAt(0) === 0xfeff) i = 1;
  const stack: Open[] = [];
  let root: XmlElement | null = null;
  let count = 0;
  const rootScope = new Map<string, string>([['xml', 'http://www.w3.org/XML/1998/namespace']]);
  const n = src.length;
  while (i < n) {
    const lt = src.indexOf('<', i);
    const textEnd = lt === -1 ? n : lt;
    if (textEnd > i) {
      const raw = src.slice(i, textEnd);
      const top = stack.at(-1);
      if (top) top.el.text += decode(raw, i);
      else if (raw.trim() !== '') throw new XmlError('text outside the root element', i);
      i = textEnd;
      continue;
    }
    if (src.startsWith('<?', i)) {
      const end = src.indexOf('?>', i + 2);
      if (end === -1) throw new XmlError('unclosed processing instruction', i);
      i = end + 2;
      continue;
    }
    if (src.startsWith('<!--', i)) {
      const end = src.indexOf('-->', i + 4);
      if (end === -1) throw new XmlError('unclosed comment', i);
      i = end + 3;
      continue;
    }
    if (src.startsWith('<![CDATA[', i)) {
      const end = src.indexOf(']]>', i + 9);
      if (end === -1) throw new XmlError('unclosed CDATA section', i);
      const top = stack.at(-1);
      if (!top) throw new XmlError('CDATA outside the root element', i);
      top.el.text += src.slice(i + 9, end);
      i = end + 3;
      continue;
    }
    if (src.startsWith('<!', i)) throw new XmlError('a DOCTYPE or DTD declaration is not accepted', i);
    if (src.startsWith('</', i)) {
      const end = src.indexOf('>', i + 2);
      if (end === -1) throw new XmlError('unclosed end tag', i);
      const qname = src.slice(i + 2, end).trim();
      const top = stack.pop();
      if (!top || top.qname !== qname)
        throw new XmlError(`end tag </${qname}> does not match <${top?.qname ?? ''}>`, i);
      i = end + 1;
      continue;
    }
    // A start tag: name, attributes, optional "/".
    let j = i + 1;
    let quote = '';
    for (; j < n; j++) {
      const ch = src[j]!;
      if (quote) {
        if (ch === quote) quote = '';
      } else if (ch === '"' || ch === "'") quote = ch;
      else if (ch === '>') break;
    }
    if (j >= n) throw new XmlError('unclosed start tag', i);
    let inner = src.slice(i + 1, j);
    const selfClosing = inner.endsWith('/');
    if (selfClosing) inner = inner.slice(0, -1);
    const m = /^([^\s/>]+)([\s\S]*)$/.exec(inner);
    if (!m || !NAME.test(m[1]!)) throw new XmlError('bad element name', i);
    const qname = m[1]!;
    const rawAttrs: [string, string][] = [];
    const attrRe = /\s+([^\s=]+)\s*=\s*("([^"]*)"|'([^']*)')/gy;
    let rest = m[2]!;
    let pos = 0;
    attrRe.lastIndex = 0;
    for (;;) {
      attrRe.lastIndex = pos;
      const a = attrRe.exec(rest);
      if (!a) break;
      if (!NAME.test(a[1]!)) throw new XmlError(`bad attribute name ${a[1]}`, i);
      if (rawAttrs.some(([k]) => k === a[1])) throw new XmlError(`repeated attribute ${a[1]}`, i);
      rawAttrs.push([a[1]!, decode(a[3] ?? a[4] ?? '', i)]);
      pos = attrRe.lastIndex;
    }
    rest = rest.slice(pos);
    if (rest.trim() !== '') throw new XmlError(`bad attributes in <${qname}>`, i);
    const parent = stack.at(-1);
    const scope = new Map(parent?.scope ?? rootScope);
    const attrs: Record<string, string> = {};
    for (const [k, v] of rawAttrs) {
      if (k === 'xmlns') scope.set('', v);
      else if (k.startsWith('xmlns:')) scope.set(k.slice(6), v);
      else attrs[k.includes(':') ? k.slice(k.indexOf(':') + 1) : k] = v;
    }
    const colon = qname.indexOf(':');
    const prefix = colon === -1 ? '' : qname.slice(0, colon);
    const ns = scope.get(prefix);
    if (ns === undefined && prefix !== '') throw new XmlError(`undeclared namespace prefix ${prefix}`, i);
    const el: XmlElement = {
      name: colon === -1 ? qname : qname.slice(colon + 1),
      ns: ns ?? '',
      attrs,
      children: [],
      text: '',
    };
    if (++count > MAX_ELEMENTS) throw new XmlError(`more than ${MAX_ELEMENTS} elements`, i);
    if (parent) parent.el.children.push(el);
    else if (root) throw new XmlError('more than one root element', i);
    else root = el;
    if (!selfClosing) {
      if (stack.length >= MAX_DEPTH) throw new XmlError(`nested deeper than ${MAX_DEPTH}`, i);
      stack.push({ qname, el, scope });
    }
    i = j + 1;
  }
  if (stack.length) throw new XmlError(`<${stack.at(-1)!.qname}> is not closed`, n);
  if (!root) throw new XmlError('no root element', 0);
  return root;
}

/** The children of `el` with this local name (and namespace, when given). */
export function childrenNamed(el: XmlElement, name: string, ns?: string): XmlElement[] {
  return el.children.filter((c) => c.name === name && (ns === undefined || c.ns === ns));
}
export function childNamed(el: XmlElement, name: string, ns?: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name && (ns === undefined || c.ns === ns));
}
/** Every descendant (depth first, document order) with this local name and namespace. */
export function descendantsNamed(el: XmlElement, name: string, ns?: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    for (const c of e.children) {
      if (c.name === name && (ns === undefined || c.ns === ns)) out.push(c);
      walk(c);
    }
  };
  walk(el);
  return out;
}

/**
 * The root element's namespace and local name of a document, read from its start only (for
 * type sniffing without parsing the whole file): null when the text does not start like XML.
 */
export function sniffRoot(head: string): { ns: string; name: string } | null {
  let s = head.replace(/^\uFEFF/, '');
  for (;;) {
    s = s.replace(/^\s+/, '');
    if (s.startsWith('<?')) {
      const e = s.indexOf('?>');
      if (e === -1) return null;
      s = s.slice(e + 2);
    } else if (s.startsWith('<!--')) {
      const e = s.indexOf('-->');
      if (e === -1) return null;
      s = s.slice(e + 3);
    } else if (s.startsWith('<!DOCTYPE')) {
      // Skipped only to find the root (the parser refuses a DOCTYPE).
      const m = /^<!DOCTYPE[^[>]*(\[[\s\S]*?\])?\s*>/.exec(s);
      if (!m) return null;
      s = s.slice(m[0].length);
    } else break;
  }
  const m = /^<([A-Za-z_][A-Za-z0-9._-]*:)?([A-Za-z_][A-Za-z0-9._-]*)([^>]*)>/.exec(s);
  if (!m) return null;
  const prefix = m[1] ? m[1].slice(0, -1) : '';
  const decl = new RegExp(`xmlns${prefix ? `:${prefix}` : ''}\\s*=\\s*("([^"]*)"|'([^']*)')`).exec(m[3]!);
  return { ns: decl ? (decl[2] ?? decl[3] ?? '') : '', name: m[2]! };
}
