import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { wholeTenant } from '../access/index.js';
import { parseArgs } from 'node:util';
import type { CloudConfig } from '../platform/config.js';
import { AuditRepository, AuditService } from '../audit/index.js';
import { CalibrationRepository, type CalibrationService, TraceabilityService } from '../calibration/index.js';
import { InspectionRepository } from '../production/index.js';
import { OotRepository, OotService } from '../oot/index.js';
import { ExportControlService } from '../export-control/index.js';
import { AlertsRepository } from '../spc/index.js';
import type { ReportDeps } from './builders.js';
import { openStore } from '../server.js';
import { Witness } from '../platform/witness.js';
import { ReportsRepository } from './reports.repository.js';
import { generate, reportRequestSchema } from './reports.service.js';
import { REPORT_FORMATS, REPORT_TYPES, type ByteSink, type ReportRequest } from './types.js';

export const REPORT_USAGE =
  'usage: rigtrace-cloud report --tenant T --type TYPE --from DATE --to DATE [--site S] --format pdf|csv|json --out FILE [--include-export-controlled] [--config FILE] [--data-dir DIR] [--database-url URL]';

const OPTIONS = {
  tenant: { type: 'string' },
  type: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  site: { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  'include-export-controlled': { type: 'boolean' },
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  'database-url': { type: 'string' },
} as const;

export interface ParsedReportArgs {
  tenant: string;
  request: ReportRequest;
  out: string;
  store: { config?: string; 'data-dir'?: string; 'database-url'?: string };
}

/** Every problem with the arguments, one line each (empty: none). */
export function parseReportArgs(argv: string[]): { problems: string[]; args?: ParsedReportArgs } {
  const problems: string[] = [];
  const { values, tokens } = parseArgs({
    args: argv,
    options: OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const t of tokens) {
    if (t.kind === 'option' && !(t.name in OPTIONS)) problems.push(`unknown option ${t.rawName}`);
    else if (
      t.kind === 'option' &&
      OPTIONS[t.name as keyof typeof OPTIONS].type === 'string' &&
      typeof t.value !== 'string'
    )
      problems.push(`${t.rawName} needs a value`);
    else if (
      t.kind === 'option' &&
      OPTIONS[t.name as keyof typeof OPTIONS].type === 'boolean' &&
      t.value !== undefined
    )
      problems.push(`${t.rawName} takes no value`);
    else if (t.kind === 'positional') problems.push(`unexpected argument "${t.value}"`);
  }
  const str = (k: keyof typeof OPTIONS) => (typeof values[k] === 'string' ? values[k] : undefined);
  for (const k of ['tenant', 'type', 'from', 'to', 'format', 'out'] as const)
    if (str(k) === undefined && !problems.some((p) => p.startsWith(`--${k} `)))
      problems.push(`--${k} is required`);
  const tenant = str('tenant');
  if (tenant !== undefined && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(tenant))
    problems.push('--tenant must be lowercase letters, digits and -, max 63');
  if (str('type') !== undefined && !(REPORT_TYPES as readonly string[]).includes(str('type')!))
    problems.push(`--type must be one of ${REPORT_TYPES.join(', ')}`);
  if (str('type') === 'export-access' && values['include-export-controlled'] !== true)
    problems.push(
      '--type export-access names export-controlled objects: it needs --include-export-controlled (the operator is cleared for them)',
    );
  if (str('format') !== undefined && !(REPORT_FORMATS as readonly string[]).includes(str('format')!))
    problems.push(`--format must be one of ${REPORT_FORMATS.join(', ')}`);
  if (str('from') !== undefined && str('to') !== undefined) {
    const r = reportRequestSchema.safeParse({
      type: 'integrity',
      format: 'json',
      from: str('from'),
      to: str('to'),
    });
    if (!r.success)
      for (const i of r.error.issues) problems.push(`--${String(i.path[0] ?? 'from')}: ${i.message}`);
  }
  if (problems.length) return { problems };
  return {
    problems,
    args: {
      tenant: tenant!,
      out: path.resolve(str('out')!),
      request: {
        type: str('type') as ReportRequest['type'],
        format: str('format') as ReportRequest['format'],
        from: str('from')!,
        to: str('to')!,
        siteId: str('site') ?? null,
        cleared: values['include-export-controlled'] === true,
      },
      store: {
        ...(str('config') ? { config: str('config')! } : {}),
        ...(str('data-dir') ? { 'data-dir': str('data-dir')! } : {}),
        ...(str('database-url') ? { 'database-url': str('database-url')! } : {}),
      },
    },
  };
}

/**
 * What a report needs, wired from an open store outside a running cloud (the CLI, the
 * benchmark): the suspect window reads only calibrations, so no calibration engine is built.
 */
export function standaloneReportDeps(
  store: Awaited<ReturnType<typeof openStore>>,
  audit: AuditService,
  witness: Witness,
): ReportDeps {
  const traceability = new TraceabilityService(
    undefined as unknown as CalibrationService,
    new CalibrationRepository(store.db),
    new InspectionRepository(store.db),
  );
  const oot = new OotService({
    db: store.db,
    repo: new OotRepository(store.db),
    calibrations: new CalibrationRepository(store.db),
    traceability,
    inspections: new InspectionRepository(store.db),
    alerts: new AlertsRepository(store.db),
    audit,
  });
  return {
    db: store.db,
    repo: new ReportsRepository(store.db),
    tenancy: store.tenancy,
    records: store.records,
    traceability,
    oot,
    audit,
    witness,
    exportControl: new ExportControlService(store.db, audit),
  };
}

/**
 * `rigtrace-cloud report`: generates a report straight into a file (written to FILE.partial,
 * renamed when complete), logged on the tenant's audit trail like one generated through the API
 * (requested; completed with the file's SHA-256). Prints one JSON line.
 */
export async function runReport(
  args: ParsedReportArgs,
  cfg: CloudConfig,
): Promise<{ ok: true; line: string } | { ok: false; problem: string }> {
  const store = await openStore(cfg, undefined, { mustExist: true });
  try {
    const { tenant, request: req } = args;
    if (!(await store.tenancy.tenantExists(tenant))) return { ok: false, problem: `no tenant ${tenant}` };
    if (req.siteId !== null && !(await store.tenancy.siteExists(wholeTenant(tenant), req.siteId)))
      return { ok: false, problem: `no site ${req.siteId} in tenant ${tenant}` };
    const witness = Witness.load(cfg.dataDir, cfg.witnessName, cfg.witnessKeyFile);
    const audit = new AuditService(store.db, new AuditRepository(store.db), witness);
    const deps = standaloneReportDeps(store, audit, witness);
    const actor = { type: 'system' as const, id: 'cli' };
    const target = { type: 'report-file', id: path.basename(args.out) };
    await audit.record({
      tenantId: tenant,
      action: 'report.request',
      outcome: 'success',
      actor,
      address: null,
      target,
      after: {
        type: req.type,
        siteId: req.siteId,
        from: req.from,
        to: req.to,
        format: req.format,
        out: args.out,
      },
    });
    const partial = `${args.out}.partial`;
    const file = createWriteStream(partial, { flags: 'w', mode: 0o600 });
    const sink: ByteSink = {
      write: (c) => new Promise((resolve, reject) => file.write(c, (err) => (err ? reject(err) : resolve()))),
    };
    try {
      // The operator's own command: every site of the tenant, export-controlled data only when asked.
      const reader = {
        kind: 'user' as const,
        tenantId: tenant,
        id: 'operator',
        sites: null,
        cleared: req.cleared,
        actor,
        address: null,
        route: 'rigtrace-cloud report',
      };
      const out = await generate(deps, reader, req, sink, () => Promise.resolve());
      await new Promise<void>((resolve, reject) =>
        file.end((err?: Error | null) => (err ? reject(err) : resolve())),
      );
      await rename(partial, args.out);
      await audit.record({
        tenantId: tenant,
        action: 'report.complete',
        outcome: 'success',
        actor,
        address: null,
        target,
        after: { sha256: out.sha256, size: out.size, file: args.out, generatedAt: out.ctx.generatedAt },
        detail: `sha256 ${out.sha256}`,
      });
      return {
        ok: true,
        line: JSON.stringify({
          file: args.out,
          type: req.type,
          format: req.format,
          size: out.size,
          sha256: out.sha256,
          summary: out.report.summary,
        }),
      };
    } catch (err) {
      file.destroy();
      await rm(partial, { force: true });
      await audit
        .record({
          tenantId: tenant,
          action: 'report.complete',
          outcome: 'failure',
          actor,
          address: null,
          target,
          detail: (err as Error).message.slice(0, 500),
        })
        .catch(() => undefined);
      throw err;
    }
  } finally {
    await store.db.close();
  }
}
