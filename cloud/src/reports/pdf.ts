import PDFDocument from 'pdfkit';
import type {
  Block,
  BuiltReport,
  ByteSink,
  PdfColumn,
  ProgressFn,
  ReportContext,
  Row,
  Section,
  Tone,
} from './types.js';

/**
 * The PDF writer: A4 landscape, the standard Helvetica fonts, a page header (report, tenant,
 * site, period, generation time) and footer (the checkpoints the report was built from, "page n
 * of m") on every page, and tables whose header row repeats on each page they run over.
 *
 * "Page n of m" needs m before page 1 is written, and keeping thousands of pages in memory
 * until the end (pdfkit's bufferPages) costs gigabytes at 100 k rows. So the layout is
 * deterministic: table rows have a fixed number of lines (longer cell text is cut with "…";
 * CSV and JSON carry every value in full), every height is a multiple of 0.5 pt (exact in
 * floating point), and a first pass lays the document out from the sections' row counts alone,
 * without reading a row, to count the pages. The second pass draws, streaming rows page by
 * page; it must end on the same page count, or generation fails rather than lie.
 */

const PAGE_W = 841.89;
const PAGE_H = 595.28;
const MX = 36;
const CONTENT_W = PAGE_W - 2 * MX;
const TOP = 66;
const BOTTOM = 541;
const GAP = 8;

const FONT = 'Helvetica';
const BOLD = 'Helvetica-Bold';
const CELL_SIZE = 7;
const CELL_LH = 8.5;
const PAD = 2.5;
const BODY_SIZE = 8.5;
const BODY_LH = 11.5;
const HEADING_H = 20;
const TITLE_H = 15;
const CONT_H = 13;

const INK = '#1f2933';
const MUTED = '#52606d';
const NAVY = '#102a43';
const ALERT = '#b42318';
const OK = '#067647';
const ZEBRA = '#f1f4f8';
const HEAD_FILL = '#d9e2ec';
const RULE = '#9aa5b1';

const TONE: Record<Tone, string> = { normal: INK, ok: OK, alert: ALERT, muted: MUTED };

// Windows-1252 (WinAnsi), the encoding of the standard PDF fonts: anything else would print as
// garbage, so it is replaced by "?" (CSV and JSON keep the original text).
const CP1252_EXTRA = new Set(
  [
    0x20ac, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x017d,
    0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x017e,
    0x0178,
  ].map((c) => String.fromCharCode(c)),
);
export function pdfSafe(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if ((c >= 0x20 && c < 0x7f) || (c >= 0xa0 && c <= 0xff) || CP1252_EXTRA.has(ch)) out += ch;
    else if (c === 0x0a) out += ch;
    else if (c === 0x09) out += ' ';
    else if (c === 0x2264) out += '<=';
    else if (c === 0x2265) out += '>=';
    else if (c === 0x2212) out += '-';
    else out += '?';
  }
  return out;
}

export const fmtInt = (n: number): string => n.toLocaleString('en-US');

interface Frame {
  title: string;
  clauses: string;
  line2: string;
  generated: string;
  footer1: string;
  footer2: string;
}

function shortRoot(root: string | null): string {
  return root === null ? 'empty' : root;
}

function frameOf(report: BuiltReport, ctx: ReportContext): Frame {
  const site = ctx.site ? `${ctx.site.name} (${ctx.site.id})` : 'all sites';
  const a = ctx.sources.auditLog;
  const edges = ctx.sources.edges;
  const edgeText =
    edges.length === 0
      ? 'Edge logs: none in scope.'
      : `Edge logs (${edges.length}): ${edges
          .map((e) => `${e.name} ${e.edge.slice(0, 8)} size ${e.size} root ${shortRoot(e.root).slice(0, 12)}`)
          .join('; ')}`;
  return {
    title: `RigTrace  |  ${report.title}`,
    clauses: report.clauses,
    line2: `Tenant: ${ctx.tenant.name} (${ctx.tenant.id})     Site: ${site}     Period: ${ctx.period.label}`,
    generated: `Generated ${ctx.generatedAt}`,
    footer1: `Built from checkpoint: audit log ${a.origin} size ${a.size} root ${shortRoot(a.root)}`,
    footer2: edgeText,
  };
}

/** The pdfkit internals the fast text path touches (the standard fonts, WinAnsi encoded). */
interface RawDoc {
  _font: { id: string; ascender: number; ref(): unknown };
  page: { fonts: Record<string, unknown> };
  addContent(s: string): unknown;
}

/** Per-character widths at 1 pt, per font. */
const WIDTHS = new Map<string, Map<string, number>>();

const num = (v: number): string => String(Math.round(v * 100) / 100);

const CP1252_BYTES = new Map<number, number>([
  [0x20ac, 0x80],
  [0x201a, 0x82],
  [0x0192, 0x83],
  [0x201e, 0x84],
  [0x2026, 0x85],
  [0x2020, 0x86],
  [0x2021, 0x87],
  [0x02c6, 0x88],
  [0x2030, 0x89],
  [0x0160, 0x8a],
  [0x2039, 0x8b],
  [0x0152, 0x8c],
  [0x017d, 0x8e],
  [0x2018, 0x91],
  [0x2019, 0x92],
  [0x201c, 0x93],
  [0x201d, 0x94],
  [0x2022, 0x95],
  [0x2013, 0x96],
  [0x2014, 0x97],
  [0x02dc, 0x98],
  [0x2122, 0x99],
  [0x0161, 0x9a],
  [0x203a, 0x9b],
  [0x0153, 0x9c],
  [0x017e, 0x9e],
  [0x0178, 0x9f],
]);
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** pdfSafe text as the hex bytes of its WinAnsi encoding. */
function winAnsiHex(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += HEX[c < 0x100 ? c : (CP1252_BYTES.get(c) ?? 0x3f)];
  }
  return out;
}

interface PlacedColumn extends PdfColumn {
  x: number;
  w: number;
}

class Layout {
  page = 0;
  y = TOP;
  private font = '';
  private size = 0;
  private color = '';
  rowsDone = 0;

  constructor(
    private readonly doc: PDFKit.PDFDocument,
    private readonly draw: boolean,
    private readonly frame: Frame,
    private readonly totalPages: number,
    private readonly onRows: (done: number) => Promise<void>,
  ) {}

  private setFont(font: string, size: number) {
    if (font !== this.font) {
      this.doc.font(font);
      this.font = font;
    }
    if (size !== this.size) {
      this.doc.fontSize(size);
      this.size = size;
    }
  }

  private setColor(c: string) {
    if (c !== this.color) {
      this.doc.fillColor(c);
      this.color = c;
    }
  }

  /** Width at the current font and size, from per-character widths (text is drawn without kerning). */
  private width(s: string): number {
    let table = WIDTHS.get(this.font);
    if (!table) {
      table = new Map();
      WIDTHS.set(this.font, table);
    }
    let w = 0;
    for (const ch of s) {
      let cw = table.get(ch);
      if (cw === undefined) {
        const size = this.size;
        this.doc.fontSize(1000);
        cw = this.doc.widthOfString(ch) / 1000;
        this.doc.fontSize(size);
        table.set(ch, cw);
      }
      w += cw;
    }
    return w * this.size;
  }

  /**
   * Draws one line of (pdfSafe) text with its top at (x, y), as pdfkit's text() would with
   * lineBreak false, but as a single Tj without kerning: pdfkit's per-call work (kerning pairs,
   * options) would dominate a 100 k-row report.
   */
  private put(line: string, x: number, y: number) {
    if (line === '') return;
    const d = this.doc as unknown as RawDoc;
    const f = d._font;
    if (d.page.fonts[f.id] === undefined) d.page.fonts[f.id] = f.ref();
    const py = PAGE_H - y - (f.ascender / 1000) * this.size;
    d.addContent(
      `q 1 0 0 -1 0 ${PAGE_H} cm BT 1 0 0 1 ${num(x)} ${num(py)} Tm /${f.id} ${this.size} Tf <${winAnsiHex(line)}> Tj ET Q`,
    );
  }

  /** Wraps `text` (already pdfSafe) to `width` in at most `maxLines` lines, cutting with "…". */
  private wrap(raw: string, width: number, maxLines: number): string[] {
    const text = pdfSafe(raw);
    if (!text.includes('\n') && this.width(text) <= width) return [text];
    const out: string[] = [];
    let cut = false;
    const push = (l: string) => {
      if (out.length < maxLines) out.push(l);
      else cut = true;
    };
    for (const para of text.split('\n')) {
      if (this.width(para) <= width) {
        push(para);
        continue;
      }
      let line = '';
      for (const word of para.split(' ')) {
        const cand = line ? `${line} ${word}` : word;
        if (this.width(cand) <= width) {
          line = cand;
          continue;
        }
        if (line) push(line);
        let rest = word;
        while (rest.length > 1 && this.width(rest) > width) {
          let n = Math.max(1, Math.floor((rest.length * width) / this.width(rest)));
          while (n > 1 && this.width(rest.slice(0, n)) > width) n -= 1;
          push(rest.slice(0, n));
          rest = rest.slice(n);
        }
        line = rest;
      }
      if (line) push(line);
      if (cut) break;
    }
    if (cut && out.length > 0) {
      let last = out[out.length - 1]!;
      while (last.length > 0 && this.width(`${last}…`) > width) last = last.slice(0, -1);
      out[out.length - 1] = `${last}…`;
    }
    return out;
  }

  newPage(): void {
    this.page += 1;
    this.y = TOP;
    if (!this.draw) return;
    this.doc.addPage({ size: 'A4', layout: 'landscape', margin: 0 });
    // A new page starts with a fresh graphics state.
    this.color = '';
    const f = this.frame;
    const d = this.doc;
    this.setFont(BOLD, 11);
    this.setColor(NAVY);
    this.put(pdfSafe(f.title), MX, 22);
    this.setFont(FONT, 7.5);
    this.setColor(MUTED);
    const gen = pdfSafe(f.generated);
    this.put(gen, PAGE_W - MX - this.width(gen), 24);
    this.setFont(FONT, 8);
    this.setColor(INK);
    const line2 = this.wrap(f.line2, CONTENT_W * 0.7, 1)[0] ?? '';
    this.put(line2, MX, 39);
    this.setFont(FONT, 7.5);
    this.setColor(MUTED);
    const cl = this.wrap(f.clauses, CONTENT_W * 0.3 - 6, 1)[0] ?? '';
    this.put(cl, PAGE_W - MX - this.width(cl), 39.5);
    d.moveTo(MX, 53)
      .lineTo(PAGE_W - MX, 53)
      .lineWidth(0.6)
      .strokeColor(RULE)
      .stroke();
    // Footer.
    d.moveTo(MX, PAGE_H - 44)
      .lineTo(PAGE_W - MX, PAGE_H - 44)
      .lineWidth(0.6)
      .strokeColor(RULE)
      .stroke();
    const pageLabel = `Page ${this.page} of ${this.totalPages}`;
    this.setFont(BOLD, 8);
    this.setColor(INK);
    const pw = this.width(pageLabel);
    this.put(pageLabel, PAGE_W - MX - pw, PAGE_H - 38);
    this.setFont(FONT, 6.5);
    this.setColor(MUTED);
    this.put(this.wrap(f.footer1, CONTENT_W - pw - 12, 1)[0] ?? '', MX, PAGE_H - 38);
    this.put(this.wrap(f.footer2, CONTENT_W - pw - 12, 1)[0] ?? '', MX, PAGE_H - 29);
  }

  private ensure(h: number) {
    if (this.y + h > BOTTOM) this.newPage();
  }

  cover(title: string, clauses: string) {
    if (this.draw) {
      this.setFont(BOLD, 16);
      this.setColor(NAVY);
      this.put(pdfSafe(title), MX, this.y);
      this.setFont(FONT, 9);
      this.setColor(MUTED);
      this.put(pdfSafe(`Evidence for ${clauses}`), MX, this.y + 22);
    }
    this.y += 40;
  }

  heading(text: string) {
    this.ensure(HEADING_H + 30);
    if (this.draw) {
      this.setFont(BOLD, 11);
      this.setColor(NAVY);
      this.put(pdfSafe(text), MX, this.y + 4);
    }
    this.y += HEADING_H;
  }

  paragraph(text: string, tone: Tone = 'normal', bold = false) {
    this.setFont(bold ? BOLD : FONT, BODY_SIZE);
    const lines = this.wrap(text, CONTENT_W, 10_000);
    for (const line of lines) {
      this.ensure(BODY_LH);
      if (this.draw) {
        this.setFont(bold ? BOLD : FONT, BODY_SIZE);
        this.setColor(TONE[tone]);
        this.put(line, MX, this.y + 1.5);
      }
      this.y += BODY_LH;
    }
    this.y += 4;
  }

  pairs(rows: readonly (readonly [string, string])[]) {
    const kw = 190;
    const vw = CONTENT_W - kw - 2 * PAD;
    const lh = 10;
    for (const [k, v] of rows) {
      this.setFont(BOLD, 7.5);
      const kl = this.wrap(k, kw - 2 * PAD, 4);
      this.setFont(FONT, 7.5);
      const vl = this.wrap(v, vw - PAD, 14);
      const h = Math.max(kl.length, vl.length) * lh + 4;
      this.ensure(h);
      if (this.draw) {
        const d = this.doc;
        d.rect(MX, this.y, kw, h).fill(ZEBRA);
        this.color = '';
        this.setFont(BOLD, 7.5);
        this.setColor(INK);
        kl.forEach((l, i) => this.put(l, MX + PAD, this.y + 2.5 + i * lh));
        this.setFont(FONT, 7.5);
        vl.forEach((l, i) => this.put(l, MX + kw + PAD * 2, this.y + 2.5 + i * lh));
        d.moveTo(MX, this.y + h)
          .lineTo(PAGE_W - MX, this.y + h)
          .lineWidth(0.3)
          .strokeColor('#cbd2d9')
          .stroke();
      }
      this.y += h;
    }
    this.y += GAP;
  }

  private place(columns: readonly PdfColumn[]): PlacedColumn[] {
    const total = columns.reduce((s, c) => s + c.width, 0);
    let x = MX;
    return columns.map((c) => {
      const w = (c.width / total) * CONTENT_W;
      const p = { ...c, x, w };
      x += w;
      return p;
    });
  }

  private drawHeader(cols: PlacedColumn[], headLines: string[][], headH: number) {
    if (this.draw) {
      const d = this.doc;
      d.rect(MX, this.y, CONTENT_W, headH).fill(HEAD_FILL);
      this.color = '';
      this.setFont(BOLD, CELL_SIZE);
      this.setColor(NAVY);
      cols.forEach((c, ci) =>
        headLines[ci]!.forEach((l, i) => {
          const x = c.align === 'right' ? c.x + c.w - PAD - this.width(l) : c.x + PAD;
          this.put(l, x, this.y + PAD + 0.5 + i * CELL_LH);
        }),
      );
    }
    this.y += headH;
  }

  private drawTitle(text: string, h: number, size: number) {
    if (this.draw) {
      this.setFont(BOLD, size);
      this.setColor(NAVY);
      this.put(pdfSafe(text), MX, this.y + 2);
    }
    this.y += h;
  }

  async table(s: Section) {
    const cols = this.place(s.columns);
    const lines = s.lines ?? 1;
    const rowH = lines * CELL_LH + 2 * PAD;
    this.setFont(BOLD, CELL_SIZE);
    const headLines = cols.map((c) => this.wrap(c.header, c.w - 2 * PAD, 2));
    const headH = Math.max(...headLines.map((l) => l.length)) * CELL_LH + 2 * PAD;
    const n = s.source.count;
    const title = `${s.title} (${fmtInt(n)} ${n === 1 ? 'row' : 'rows'})`;
    this.ensure(TITLE_H + headH + rowH);
    this.drawTitle(title, TITLE_H, 9.5);
    this.drawHeader(cols, headLines, headH);

    if (!this.draw) {
      let left = Math.max(n, 1);
      for (;;) {
        const fit = Math.floor((BOTTOM - this.y) / rowH);
        if (fit >= left) {
          this.y += left * rowH;
          break;
        }
        left -= fit;
        this.newPage();
        this.y += CONT_H + headH;
      }
      this.y += GAP;
      return;
    }

    const slot = () => {
      if (this.y + rowH > BOTTOM) {
        this.newPage();
        this.drawTitle(`${s.title} (continued)`, CONT_H, 8);
        this.drawHeader(cols, headLines, headH);
      }
    };
    const note = (text: string, color: string) => {
      this.setFont(FONT, CELL_SIZE);
      this.setColor(color);
      this.put(pdfSafe(text), MX + PAD, this.y + PAD + 0.5);
    };
    if (n === 0) {
      slot();
      note(s.empty ?? 'None.', MUTED);
      this.y += rowH;
      this.y += GAP;
      return;
    }
    let i = 0;
    const base = this.rowsDone;
    for await (const page of s.source.pages()) {
      for (const row of page) {
        if (i >= n) break;
        slot();
        this.drawRow(cols, row, i, rowH, lines);
        this.y += rowH;
        i += 1;
      }
      this.rowsDone = base + i;
      await this.onRows(this.rowsDone);
      if (i >= n) break;
    }
    if (i < n) {
      slot();
      note(`${fmtInt(n - i)} rows counted when generation started were not found when drawn.`, ALERT);
      for (; i < n; i += 1) {
        slot();
        this.y += rowH;
      }
    }
    this.y += GAP;
  }

  private drawRow(cols: PlacedColumn[], row: Row, i: number, rowH: number, lines: number) {
    const d = this.doc;
    if (i % 2 === 1) {
      d.rect(MX, this.y, CONTENT_W, rowH).fill(ZEBRA);
      this.color = '';
    }
    this.setFont(FONT, CELL_SIZE);
    for (const c of cols) {
      const v = c.value(row);
      if (v === '') continue;
      this.setColor(c.color?.(row) ?? INK);
      const ls = this.wrap(v, c.w - 2 * PAD, lines);
      for (let k = 0; k < ls.length; k++) {
        const l = ls[k]!;
        const x = c.align === 'right' ? c.x + c.w - PAD - this.width(l) : c.x + PAD;
        this.put(l, x, this.y + PAD + 0.5 + k * CELL_LH);
      }
    }
  }

  async blocks(report: BuiltReport) {
    this.newPage();
    this.cover(report.title, report.clauses);
    for (const b of report.blocks) await this.block(b);
  }

  private async block(b: Block) {
    switch (b.kind) {
      case 'heading':
        return this.heading(b.text);
      case 'paragraph':
        return this.paragraph(b.text, b.tone, b.bold);
      case 'pairs':
        return this.pairs(b.rows);
      case 'table':
        return this.table(b.section);
    }
  }
}

/** The rows a PDF of this report draws (for progress). */
export function pdfRowTotal(report: BuiltReport): number {
  return report.blocks.reduce((s, b) => s + (b.kind === 'table' ? b.section.source.count : 0), 0);
}

/** Appends the "Sources" section: every checkpoint the report was built from, in full. */
export function withSources(report: BuiltReport, ctx: ReportContext): Block[] {
  const a = ctx.sources.auditLog;
  const rows: [string, string][] = [
    ['Audit log', `${a.origin}, size ${a.size}, root ${a.root ?? 'empty'}`],
    ['Audit log checkpoint (witness-signed)', a.checkpoint ?? 'none: the log is empty'],
  ];
  for (const e of ctx.sources.edges) {
    rows.push([
      `Edge ${e.name} (${e.edge}), site ${e.siteId}`,
      e.checkpoint
        ? `size ${e.size}, root ${e.root ?? 'empty'}, accepted ${e.acceptedAt ?? '?'}\n${e.checkpoint.trimEnd()}`
        : 'no records accepted yet',
    ]);
  }
  return [
    ...report.blocks,
    { kind: 'heading', text: 'Sources: the checkpoints this report was built from' },
    {
      kind: 'paragraph',
      tone: 'muted',
      text: 'Read when generation started. Each checkpoint is a C2SP signed note: the audit log is signed by this cloud’s witness key; each edge log is signed by the edge’s enrolled key and countersigned by the witness (GET /api/v1/witness gives its public key).',
    },
    { kind: 'pairs', rows },
  ];
}

/**
 * Writes the PDF to `sink`, streaming: rows are read page by page and the bytes pdfkit produced
 * are handed to the sink after each page of rows (which is also where the event loop breathes).
 */
export async function writePdf(
  report: BuiltReport,
  ctx: ReportContext,
  sink: ByteSink,
  progress: ProgressFn,
): Promise<{ pages: number }> {
  const full: BuiltReport = { ...report, blocks: withSources(report, ctx) };
  const doc = new PDFDocument({
    autoFirstPage: false,
    size: 'A4',
    layout: 'landscape',
    margin: 0,
    compress: true,
    info: {
      Title: `${report.title}: ${ctx.tenant.name}, ${ctx.period.label}`,
      Author: 'RigTrace cloud',
      Subject: report.clauses,
      Creator: 'RigTrace compliance reports',
      CreationDate: new Date(ctx.generatedAt),
    },
  });
  const pending: Buffer[] = [];
  let failed: Error | undefined;
  doc.on('data', (c: Buffer) => pending.push(c));
  doc.on('error', (e: Error) => (failed = e));
  const ended = new Promise<void>((resolve) => doc.on('end', () => resolve()));
  const flush = async () => {
    if (failed) throw failed;
    while (pending.length) await sink.write(pending.shift()!);
  };
  const frame = frameOf(full, ctx);
  const total = pdfRowTotal(full);

  const counting = new Layout(doc, false, frame, 0, () => Promise.resolve());
  await counting.blocks(full);
  const pages = counting.page;

  const drawing = new Layout(doc, true, frame, pages, async (done) => {
    await flush();
    await progress(done, total);
    await new Promise<void>((r) => setImmediate(r));
  });
  await drawing.blocks(full);
  if (drawing.page !== pages) {
    throw new Error(`the PDF layout drew ${drawing.page} pages but counted ${pages}`);
  }
  doc.end();
  await ended;
  await flush();
  await progress(total, total);
  return { pages };
}
