/**
 * Compliance reports ("audit packs"): the shapes shared by the report builders and the PDF, CSV
 * and JSON writers. A report is built into sections of rows; rows stream from the database in
 * pages (a section knows its row count up front, so the PDF can say "page n of m" without
 * holding its pages in memory, and progress has a total).
 */

import type { ExportCaller } from '../export-control/index.js';

export const REPORT_TYPES = [
  'calibration-register',
  'due-list',
  'out-of-tolerance',
  'access-review',
  'export-access',
  'integrity',
] as const;
export type ReportType = (typeof REPORT_TYPES)[number];

export const REPORT_FORMATS = ['pdf', 'csv', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export const CONTENT_TYPES: Record<ReportFormat, string> = {
  pdf: 'application/pdf',
  csv: 'text/csv; charset=utf-8',
  json: 'application/json',
};

export const REPORT_TITLES: Record<ReportType, string> = {
  'calibration-register': 'Calibration register',
  'due-list': 'Calibration due and overdue list',
  'out-of-tolerance': 'Out-of-tolerance events',
  'access-review': 'Access review',
  'export-access': 'Export-controlled data access',
  integrity: 'Integrity statement',
};

export type Cell = string | number | boolean | null;
export type Row = Record<string, Cell>;

/** Rows of one section: how many there are (counted before rendering) and the rows in pages. */
export interface RowSource {
  count: number;
  pages(): AsyncIterable<readonly Row[]>;
}

export function memorySource(rows: readonly Row[], pageSize = 500): RowSource {
  return {
    count: rows.length,
    async *pages() {
      for (let i = 0; i < rows.length; i += pageSize) {
        await Promise.resolve();
        yield rows.slice(i, i + pageSize);
      }
    },
  };
}

/**
 * Rows read a page at a time in a keyset's order: `page(after, size)` reads up to `size` rows
 * after the key `after` (null: from the first), `keyOf` is a row's key, `row` its report row. A
 * page shorter than `size` is the last.
 */
export function keysetSource<R, K>(
  count: number,
  page: (after: K | null, size: number) => Promise<readonly R[]>,
  keyOf: (r: R) => K,
  row: (r: R) => Row,
  size: number,
): RowSource {
  return {
    count,
    async *pages() {
      for (let after: K | null = null; ;) {
        const rows = await page(after, size);
        yield rows.map(row);
        if (rows.length < size) return;
        after = keyOf(rows.at(-1)!);
      }
    },
  };
}

/** A PDF table column: its share of the width and how a row shows in it (`\n` separates lines). */
export interface PdfColumn {
  header: string;
  width: number;
  value: (row: Row) => string;
  align?: 'left' | 'right';
  /** A colour for the cell's text (e.g. red for overdue). */
  color?: (row: Row) => string | undefined;
}

export interface Section {
  /** Key in the JSON output. */
  name: string;
  /** Table title in the PDF. */
  title: string;
  /** The row keys, in order: the CSV header and the JSON fields. */
  fields: readonly string[];
  columns: readonly PdfColumn[];
  /** Lines of text per PDF row (fixed, so that pages can be counted in advance); default 1. */
  lines?: number;
  /** What the PDF says when there are no rows. */
  empty?: string;
  source: RowSource;
}

export type Tone = 'normal' | 'ok' | 'alert' | 'muted';

export type Block =
  | { kind: 'heading'; text: string }
  | { kind: 'paragraph'; text: string; tone?: Tone; bold?: boolean }
  | { kind: 'pairs'; rows: readonly (readonly [string, string])[] }
  | { kind: 'table'; section: Section };

export interface LogSource {
  origin: string;
  size: number;
  /** Base64 Merkle root, null for an empty log. */
  root: string | null;
  /** The signed note, as stored. */
  checkpoint: string | null;
}

export interface EdgeSource {
  edge: string;
  name: string;
  siteId: string;
  size: number;
  root: string | null;
  acceptedAt: string | null;
  /** The edge-signed checkpoint countersigned by this cloud's witness. */
  checkpoint: string | null;
}

/** The logs a report was built from, read when generation started. */
export interface ReportSources {
  auditLog: LogSource;
  edges: EdgeSource[];
}

export interface ReportPeriod {
  /** As requested (YYYY-MM-DD or RFC 3339). */
  from: string;
  to: string;
  /** [fromIso, toExclusiveIso): normalised ISO 8601 with milliseconds. */
  fromIso: string;
  toExclusiveIso: string;
  /** The period's first day, YYYY-MM-DD (in `zone`: the day containing fromIso). */
  firstDay: string;
  /** The period's last day, YYYY-MM-DD (in `zone`: the day containing the instant before toExclusiveIso). */
  lastDay: string;
  /**
   * The IANA time zone dates are read in: the site's for a site's report; for a tenant-wide one,
   * the zone every site of the tenant shares, else UTC (for rows of no site: see `sites`).
   */
  zone: string;
  label: string;
  /**
   * A tenant-wide report over sites in different zones: each site's own cut of the same dates
   * (its local days), by site id. Empty when one zone serves every row.
   */
  sites: ReadonlyMap<string, ReportPeriod>;
}

/**
 * Export control (ITAR / EAR): a requester who is not cleared (not a user marked as a US person)
 * gets reports without flagged equipment and without the records made with it.
 */
export interface ExportScope {
  /** The reader's clearance (`ReportContext.reader.cleared`). */
  cleared: boolean;
  /** The tenant's flagged equipment tags when generation started. */
  flagged: ReadonlySet<string>;
  /** Not cleared, and there is flagged equipment: it is left out. */
  excluding: boolean;
}

export interface ReportContext {
  tenant: { id: string; name: string };
  site: { id: string; name: string } | null;
  period: ReportPeriod;
  generatedAt: string;
  sources: ReportSources;
  /**
   * Who the report is read as: the requester's scope (its site) and export clearance, rebuilt
   * when the job runs. The register, maintenance and suspect-record reads apply it in their
   * queries (suspect records: those sent by edges of its sites, and made by or naming
   * export-controlled equipment only for a cleared requester: `recordVisibleSql`); export
   * control logs the flagged ones a cleared requester is served
   * (`ExportControlService.logRecordsServed`) under its actor and `route`.
   */
  reader: ExportCaller;
  exportScope: ExportScope;
}

/** A report as built: the same data for every format. */
export interface BuiltReport {
  type: ReportType;
  title: string;
  /** The clauses the report gives evidence for, e.g. "AS9100D 7.1.5.2 · ISO/IEC 17025 6.4.13". */
  clauses: string;
  /** The PDF body, in order. */
  blocks: Block[];
  /** JSON: every section. */
  sections: Section[];
  /** CSV: one flat table. */
  csv: Section;
  /** Key figures (JSON, the stored report's summary, the clause map). */
  summary: Record<string, unknown>;
}

export interface ReportRequest {
  type: ReportType;
  siteId: string | null;
  from: string;
  to: string;
  format: ReportFormat;
  /** The requester was cleared for export-controlled (ITAR/EAR) data when asking (see `readerOfJob`). */
  cleared: boolean;
}

/** Called after each page of rows; rejecting aborts the generation. */
export type ProgressFn = (done: number, total: number) => Promise<void>;

/** Bytes out: the database, a file, a hash. Awaiting `write` is the backpressure. */
export interface ByteSink {
  write(chunk: Buffer): Promise<void>;
}
