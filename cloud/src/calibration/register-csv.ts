/**
 * The equipment register as CSV (RFC 4180): the columns an existing register is imported from,
 * each mapped to a field of the register entry (POST /equipment). A row becomes the same object
 * a client would send, so one schema (equipmentBodySchema) judges both; problems are named by
 * column, so a lab can fix its spreadsheet.
 */

/** The columns, in the order of the template, and the register field each fills. */
export const REGISTER_CSV_COLUMNS = [
  'tag',
  'siteId',
  'type',
  'make',
  'model',
  'serial',
  'firmware',
  'location',
  'owner',
  'ownerName',
  'intervalDays',
  'intervalCycles',
  'dueSoonDays',
  'procedureId',
  'procedureRevision',
  'acceptanceCriteria',
  'environment',
  'rangeMin',
  'rangeMax',
  'rangeUnit',
  'resolution',
  'referenceCertificate',
  'referenceDueDate',
  'referenceUncertainty',
  'referenceUncertaintyUnit',
  'exportRegime',
  'exportEccn',
] as const;
export type RegisterCsvColumn = (typeof REGISTER_CSV_COLUMNS)[number];

const NUMERIC = new Set<RegisterCsvColumn>([
  'intervalDays',
  'intervalCycles',
  'dueSoonDays',
  'rangeMin',
  'rangeMax',
  'resolution',
  'referenceUncertainty',
]);

/** Where each column goes in the register entry (dotted path). */
const PATH: Record<RegisterCsvColumn, string> = {
  tag: 'tag',
  siteId: 'siteId',
  type: 'type',
  make: 'make',
  model: 'model',
  serial: 'serial',
  firmware: 'firmware',
  location: 'location',
  owner: 'owner.kind',
  ownerName: 'owner.name',
  intervalDays: 'intervalDays',
  intervalCycles: 'intervalCycles',
  dueSoonDays: 'dueSoonDays',
  procedureId: 'procedure.id',
  procedureRevision: 'procedure.revision',
  acceptanceCriteria: 'acceptanceCriteria',
  environment: 'environment',
  rangeMin: 'range.min',
  rangeMax: 'range.max',
  rangeUnit: 'range.unit',
  resolution: 'resolution',
  referenceCertificate: 'referenceStandard.certificate',
  referenceDueDate: 'referenceStandard.dueDate',
  referenceUncertainty: 'referenceStandard.uncertainty',
  referenceUncertaintyUnit: 'referenceStandard.uncertaintyUnit',
  exportRegime: 'exportControl.regime',
  exportEccn: 'exportControl.eccn',
};
const COLUMN_OF = new Map<string, RegisterCsvColumn>(REGISTER_CSV_COLUMNS.map((c) => [PATH[c], c] as const));

/** "ours" and "customer's" as a lab writes them, to the register's owner kinds. */
const OWNER_WORDS: Record<string, string> = {
  ours: 'company',
  our: 'company',
  company: 'company',
  customer: 'customer',
  "customer's": 'customer',
  supplier: 'supplier',
  "supplier's": 'supplier',
  employee: 'employee',
  "employee's": 'employee',
};

export interface CsvProblem {
  /** The CSV column (or the register field when no column holds it). */
  column: string;
  message: string;
}

export interface CsvRow {
  /** Line of the file the row starts on (1: the header). */
  line: number;
  cells: string[];
}

/** RFC 4180 records with the line each starts on; quotes may hold commas, quotes ("") and line breaks. */
export function parseCsv(text: string): { rows: CsvRow[]; error: string | null } {
  const rows: CsvRow[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endRow = () => {
    cells.push(cell);
    if (!(cells.length === 1 && cells[0]!.trim() === '')) rows.push({ line: start, cells });
    cells = [];
    cell = '';
  };
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        cell += ch;
      }
      continue;
    }
    if (ch === '"' && cell === '') quoted = true;
    else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRow();
      line++;
      start = line;
    } else cell += ch;
  }
  if (quoted) return { rows, error: `a quoted field opened on line ${start} is never closed` };
  if (cell !== '' || cells.length > 0) endRow();
  return { rows, error: null };
}

/** Header cells → columns ("Site ID", "site_id" and "siteId" are the same); unknown ones are problems. */
export function headerColumns(header: string[]): {
  columns: (RegisterCsvColumn | null)[];
  problems: CsvProblem[];
} {
  const norm = (s: string) => s.toLowerCase().replace(/[\s_-]/g, '');
  const known = new Map(REGISTER_CSV_COLUMNS.map((c) => [norm(c), c] as const));
  const problems: CsvProblem[] = [];
  const seen = new Set<RegisterCsvColumn>();
  const columns = header.map((h) => {
    const c = known.get(norm(h.trim())) ?? null;
    if (c === null) problems.push({ column: h.trim(), message: 'unknown column' });
    else if (seen.has(c)) problems.push({ column: h.trim(), message: 'the column appears twice' });
    else seen.add(c);
    return c;
  });
  for (const needed of ['tag', 'siteId', 'type', 'intervalDays'] as const)
    if (!seen.has(needed)) problems.push({ column: needed, message: 'required column missing' });
  return { columns, problems };
}

/** One row as the register entry a client would send (empty cells are absent), with its own problems. */
export function rowToEntry(
  columns: readonly (RegisterCsvColumn | null)[],
  cells: readonly string[],
): { entry: Record<string, unknown>; problems: CsvProblem[] } {
  const entry: Record<string, unknown> = {};
  const problems: CsvProblem[] = [];
  if (cells.length > columns.length)
    problems.push({ column: '', message: `${cells.length} cells, but the header has ${columns.length}` });
  columns.forEach((c, i) => {
    if (c === null) return;
    const raw = (cells[i] ?? '').trim();
    if (raw === '') return;
    let value: unknown = raw;
    if (NUMERIC.has(c)) {
      const n = Number(raw);
      if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw) || !Number.isFinite(n)) {
        problems.push({ column: c, message: `"${raw}" is not a number` });
        return;
      }
      value = n;
    } else if (c === 'owner') value = OWNER_WORDS[raw.toLowerCase()] ?? raw;
    else if (c === 'exportRegime') value = raw.toUpperCase();
    const path = PATH[c].split('.');
    let at = entry;
    for (const k of path.slice(0, -1)) at = (at[k] ??= {}) as Record<string, unknown>;
    at[path.at(-1)!] = value;
  });
  // An owner name with no kind is the company's own (the register's default kind).
  if (entry.owner && !(entry.owner as Record<string, unknown>).kind)
    (entry.owner as Record<string, unknown>).kind = 'company';
  return { entry, problems };
}

/** A register field's path ("procedure.id") as the CSV column that fills it ("procedureId"). */
export function columnOf(path: string): string {
  return COLUMN_OF.get(path) ?? path;
}
