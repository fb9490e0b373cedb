import { csvColumns, periodAt } from './builders.js';
import type { BuiltReport, ByteSink, Cell, ProgressFn, ReportContext, Section } from './types.js';

/** RFC 4180 field; a leading = + - @ (tab, CR) is prefixed with ' so a spreadsheet does not run it as a formula. */
export function csvField(v: Cell | undefined): string {
  let s = v === null || v === undefined ? '' : typeof v === 'boolean' ? (v ? 'true' : 'false') : String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const tick = () => new Promise<void>((r) => setImmediate(r));

/** CSV: the report's one flat table, header line first, CRLF line ends. */
export async function writeCsv(
  report: BuiltReport,
  ctx: ReportContext,
  sink: ByteSink,
  progress: ProgressFn,
): Promise<void> {
  const s = report.csv;
  const total = s.source.count;
  const zoneOf = (row: Record<string, Cell>) =>
    periodAt(ctx.period, typeof row.siteId === 'string' ? row.siteId : null).zone;
  await sink.write(
    Buffer.from(
      `${csvColumns(s.fields)
        .map((f) => csvField(f))
        .join(',')}\r\n`,
      'utf8',
    ),
  );
  let done = 0;
  for await (const page of s.source.pages()) {
    const lines = page.map((row) =>
      [...s.fields.map((f) => csvField(row[f])), csvField(zoneOf(row))].join(','),
    );
    if (lines.length) await sink.write(Buffer.from(`${lines.join('\r\n')}\r\n`, 'utf8'));
    done += page.length;
    await progress(Math.min(done, total), total);
    await tick();
  }
  await progress(total, total);
}

/** The report's description, as the JSON output and the stored report carry it. */
export function reportMeta(report: BuiltReport, ctx: ReportContext) {
  return {
    type: report.type,
    title: report.title,
    clauses: report.clauses,
    tenant: ctx.tenant,
    site: ctx.site,
    period: {
      from: ctx.period.from,
      to: ctx.period.to,
      timeZone: ctx.period.zone,
      start: ctx.period.fromIso,
      end: ctx.period.toExclusiveIso,
      // Tenant-wide over sites in different zones: each site's own cut (start/end above: rows of no site).
      ...(ctx.period.sites.size > 0
        ? {
            sites: [...ctx.period.sites].map(([siteId, p]) => ({
              siteId,
              timeZone: p.zone,
              start: p.fromIso,
              end: p.toExclusiveIso,
            })),
          }
        : {}),
    },
    generatedAt: ctx.generatedAt,
    sources: ctx.sources,
    summary: report.summary,
  };
}

function projected(s: Section, row: Record<string, Cell>): Record<string, Cell> {
  const o: Record<string, Cell> = {};
  for (const f of s.fields) o[f] = row[f] ?? null;
  return o;
}

/**
 * JSON: `{ "report": {…}, "sections": { "<name>": [ {…}, … ], … } }`, written as it streams
 * (one object, never held whole in memory).
 */
export async function writeJson(
  report: BuiltReport,
  ctx: ReportContext,
  sink: ByteSink,
  progress: ProgressFn,
): Promise<void> {
  const total = report.sections.reduce((n, s) => n + s.source.count, 0);
  let done = 0;
  await sink.write(Buffer.from(`{"report":${JSON.stringify(reportMeta(report, ctx))},"sections":{`, 'utf8'));
  for (const [si, s] of report.sections.entries()) {
    await sink.write(Buffer.from(`${si ? ',' : ''}${JSON.stringify(s.name)}:[`, 'utf8'));
    let first = true;
    for await (const page of s.source.pages()) {
      if (page.length) {
        const text = page.map((row) => JSON.stringify(projected(s, row))).join(',\n');
        await sink.write(Buffer.from(`${first ? '\n' : ',\n'}${text}`, 'utf8'));
        first = false;
      }
      done += page.length;
      await progress(Math.min(done, total), total);
      await tick();
    }
    await sink.write(Buffer.from(']', 'utf8'));
  }
  await sink.write(Buffer.from('}}\n', 'utf8'));
  await progress(total, total);
}
