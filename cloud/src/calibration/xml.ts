import { DOMParser, type Element as DomElement, type Node as DomNode } from '@xmldom/xmldom';

/**
 * Uploaded calibration certificates (DCC) read as a plain element tree: elements with their
 * namespace URIs, attributes and text, parsed by xmldom. A document with a DTD (`<!DOCTYPE`) is
 * refused before parsing, so no entity but the five predefined ones and character references is
 * ever expanded: no external entity (XXE) and no entity expansion bomb. Every parser warning or
 * error refuses the document; depth and element count are limited.
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
  constructor(message: string) {
    super(message);
    this.name = 'XmlError';
  }
}

const MAX_DEPTH = 128;
const MAX_ELEMENTS = 200_000;
const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const CDATA_SECTION_NODE = 4;

/** The document's root element as a tree; an XmlError naming the first problem otherwise. */
export function parseXml(src: string): XmlElement {
  if (/<!DOCTYPE/i.test(src)) throw new XmlError('a DOCTYPE is not accepted (no DTDs, no entities)');
  const problems: string[] = [];
  let doc;
  try {
    doc = new DOMParser({
      onError: (_level, message) => {
        problems.push(message.split('\n')[0]!.replace(/^\[xmldom [a-z]+\]\s*/i, ''));
      },
    }).parseFromString(src, 'text/xml');
  } catch (err) {
    // A fatal error stops the parser: it carries where it happened.
    const e = err as { message?: string; locator?: { lineNumber?: number; columnNumber?: number } };
    const at = e.locator?.lineNumber
      ? ` (line ${e.locator.lineNumber}, column ${e.locator.columnNumber ?? 0})`
      : '';
    throw new XmlError(`not well-formed XML: ${(e.message ?? String(err)).split('\n')[0]}${at}`);
  }
  if (problems.length > 0) throw new XmlError(`not well-formed XML: ${problems[0]}`);
  const root = doc.documentElement;
  if (!root) throw new XmlError('no root element');
  let count = 0;
  const convert = (el: DomElement, depth: number): XmlElement => {
    if (depth > MAX_DEPTH) throw new XmlError(`elements nest deeper than ${MAX_DEPTH}`);
    if (++count > MAX_ELEMENTS) throw new XmlError(`more than ${MAX_ELEMENTS} elements`);
    if (el.prefix && !el.namespaceURI) throw new XmlError(`the prefix of <${el.tagName}> is not declared`);
    const attrs: Record<string, string> = {};
    for (let i = 0; i < el.attributes.length; i += 1) {
      const a = el.attributes.item(i)!;
      if (a.name === 'xmlns' || a.name.startsWith('xmlns:')) continue;
      attrs[a.localName ?? a.name] = a.value;
    }
    const children: XmlElement[] = [];
    let text = '';
    for (let n: DomNode | null = el.firstChild; n; n = n.nextSibling) {
      if (n.nodeType === ELEMENT_NODE) children.push(convert(n as DomElement, depth + 1));
      else if (n.nodeType === TEXT_NODE || n.nodeType === CDATA_SECTION_NODE) text += n.nodeValue ?? '';
    }
    return { name: el.localName ?? el.tagName, ns: el.namespaceURI ?? '', attrs, children, text };
  };
  return convert(root, 1);
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
