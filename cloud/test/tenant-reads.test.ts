import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Reads take a `Viewer`: a repository method that reads rows (`db.get` / `db.all`, no `db.run`)
 * and took a bare tenant id as its first parameter would apply neither site scope nor export
 * control, so a route calling it would have to remember them. None is left: every read takes its
 * reader (a request's `viewerOf(req)`, or the documented `wholeTenant` / `uncleared` for the
 * product's own work), and a new one fails here.
 */
const SRC = path.resolve(import.meta.dirname, '../src');

function repositoryFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return repositoryFiles(p);
    return d.name.endsWith('.repository.ts') ? [p] : [];
  });
}

/** Each repository method: its name, its first parameter, and whether it reads only. */
function methods(): { id: string; first: string; reads: boolean }[] {
  const out: { id: string; first: string; reads: boolean }[] = [];
  for (const file of repositoryFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const rel = path.relative(SRC, file).split(path.sep).join('/');
    const visit = (node: ts.Node) => {
      if (ts.isClassDeclaration(node) && node.name) {
        for (const m of node.members) {
          if (!ts.isMethodDeclaration(m) || !m.body || !ts.isIdentifier(m.name)) continue;
          if (m.modifiers?.some((x) => x.kind === ts.SyntaxKind.PrivateKeyword)) continue;
          const p = m.parameters[0];
          const first = p ? `${p.name.getText(sf)}: ${p.type?.getText(sf) ?? '?'}` : '';
          const body = m.body.getText(sf);
          const reads = /\.(get|all)\s*</.test(body) || /\.(get|all)\(/.test(body);
          out.push({
            id: `${rel} ${node.name.text}.${m.name.text}`,
            first,
            // A write that answers with RETURNING (an upsert, also through the insert helpers of
            // platform/db/insert-chunked.ts) reads no stored row for a caller.
            reads:
              reads &&
              !/\.run\(/.test(body) &&
              !/\b(INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b|\binsert(Chunked|ChunkedReturning|Statement)\(/.test(
                body,
              ),
          });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return out;
}

describe('repository reads take a Viewer', () => {
  const all = methods();
  const byTenant = all
    .filter((m) => m.reads && /^tenantId: string$/.test(m.first))
    .map((m) => m.id)
    .sort();

  it('no read method takes a bare tenant id', () => {
    expect(byTenant, 'read methods taking a bare tenant id: take a Viewer and use visibleSql').toEqual([]);
  });

  it('the converted reads are there', () => {
    const byViewer = all
      .filter((m) => m.reads && /^\w+: (\w*Viewer|Reader|Pick<Viewer\b)/.test(m.first))
      .map((m) => m.id);
    for (const id of [
      'calibration/equipment.repository.ts EquipmentRepository.find',
      'calibration/equipment.repository.ts EquipmentRepository.list',
      'calibration/equipment.repository.ts EquipmentRepository.dueBy',
      'calibration/equipment.repository.ts EquipmentRepository.withUsageInterval',
      'calibration/calibration.repository.ts CalibrationRepository.manualEntries',
      'production/inspection.repository.ts InspectionRepository.query',
      'production/inspection.repository.ts InspectionRepository.firstPassYieldByQuarter',
      'records/records.repository.ts RecordsRepository.list',
      'oot/oot.repository.ts OotRepository.find',
      'oot/oot.repository.ts OotRepository.list',
      'spc/spc.repository.ts SpcRepository.currentBaselines',
      'spc/alerts.repository.ts AlertsRepository.openCounts',
      'spc/spc.repository.ts SpcRepository.measurements',
      'calibration/positions.repository.ts PositionRepository.positionsOf',
      'calibration/trace-review.repository.ts TraceReviewRepository.citing',
      'reports/reports.repository.ts ReportsRepository.countRegister',
      'reports/reports.repository.ts ReportsRepository.registerPage',
      'reports/reports.repository.ts ReportsRepository.maintenanceFigures',
      'reports/reports.repository.ts ReportsRepository.failedCalibrations',
      'reports/reports.repository.ts ReportsRepository.get',
      'reports/reports.repository.ts ReportsRepository.list',
      'reports/reports.repository.ts ReportsRepository.chunk',
      'reports/reports.repository.ts ReportsRepository.equipmentStates',
      'reports/reports.repository.ts ReportsRepository.edgeSources',
      'reminders/reminders.repository.ts RemindersRepository.getSettings',
      'reminders/reminders.repository.ts RemindersRepository.webhooks',
      'reminders/reminders.repository.ts RemindersRepository.siteName',
      'calibration/calibration.repository.ts CalibrationRepository.get',
      'calibration/calibration.repository.ts CalibrationRepository.forEquipment',
      'calibration/calibration.repository.ts CalibrationRepository.signaturesOf',
      'calibration/equipment.repository.ts EquipmentRepository.getMany',
      'production/inspection.repository.ts InspectionRepository.suspect',
      'production/inspection.repository.ts InspectionRepository.countSuspect',
      'records/records.repository.ts RecordsRepository.acceptedSince',
      'records/records.repository.ts RecordsRepository.allLeafHashes',
      'records/records.repository.ts RecordsRepository.checkpointAt',
      'records/records.repository.ts RecordsRepository.checkpointsOf',
      'records/records.repository.ts RecordsRepository.count',
      'records/records.repository.ts RecordsRepository.get',
      'records/records.repository.ts RecordsRepository.latestCheckpoint',
      'records/records.repository.ts RecordsRepository.leafHashes',
      'records/records.repository.ts RecordsRepository.leafPage',
      'spc/spc.repository.ts SpcRepository.currentBaseline',
      'spc/spc.repository.ts SpcRepository.tailSince',
    ])
      expect(byViewer).toContain(id);
  });
});
