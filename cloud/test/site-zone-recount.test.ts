import { afterAll, describe, expect, it } from 'vitest';
import { AuditRepository } from '../src/audit/audit.repository.js';
import { AuditService } from '../src/audit/audit.service.js';
import { ExportControlService } from '../src/export-control/export-control.service.js';
import { CalibrationRepository } from '../src/calibration/calibration.repository.js';
import { CalibrationService } from '../src/calibration/calibration.service.js';
import { EquipmentRepository } from '../src/calibration/equipment.repository.js';
import { InspectionRepository } from '../src/production/inspection.repository.js';
import { loadCloudConfig } from '../src/platform/config.js';
import type { Db } from '../src/platform/db/db.js';
import { Witness } from '../src/platform/witness.js';
import { openStore, type Store } from '../src/server.js';
import { TenancyRepository } from '../src/tenancy/tenancy.repository.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/** Instruments at the site: more than two pages of 500, so the recount pages through them. */
const N = 1_200;
const T0 = Date.parse('2026-04-01T00:00:00.000Z');
const tagOf = (i: number) => `PT-${String(i).padStart(4, '0')}`;

/** The statements a Db runs (run, get, all), counted; everything else passes through. */
function counting(db: Db): { db: Db; count: () => number } {
  let n = 0;
  const counted = new Proxy(db, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      const f = v as (...a: unknown[]) => unknown;
      if (prop === 'run' || prop === 'get' || prop === 'all')
        return (...a: unknown[]) => {
          n++;
          return f.apply(target, a);
        };
      return f.bind(target);
    },
  });
  return { db: counted, count: () => n };
}

/**
 * A site's time zone changes: the due dates of its equipment are recounted from the local day of
 * each one's last valid calibration, in a few set-based statements, with the same results as
 * recounting each instrument from its full history.
 */
describe.each(BACKENDS)('recounting a site’s due dates in a new time zone on %s', (backend) => {
  let storage: TestStorage | undefined;
  let store: Store | undefined;
  let service: CalibrationService;
  let statements: () => number;

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    store = await openStore(cfg);
    const c = counting(store.db);
    statements = c.count;
    const db = c.db;
    const audit = new AuditService(db, new AuditRepository(db), Witness.load(cfg.dataDir, cfg.witnessName));
    service = new CalibrationService(
      db,
      new TenancyRepository(db),
      new EquipmentRepository(db),
      new CalibrationRepository(db),
      new InspectionRepository(db),
      audit,
      new ExportControlService(db, audit),
      undefined,
      () => new Date('2026-05-01T12:00:00.000Z'),
    );
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-in', 'Pune', 'Asia/Kolkata');
    await store.tenancy.createSite('acme', 'plant-de', 'Stuttgart', 'Europe/Berlin');
    const now = new Date(T0).toISOString();
    const equipment = new EquipmentRepository(db);
    const calibrations = new CalibrationRepository(db);
    await db.transaction(() =>
      db.withTenant('acme', async () => {
        for (let i = 0; i < N + 3; i++) {
          // Three instruments at another site, which the recount leaves alone.
          const siteId = i < N ? 'plant-in' : 'plant-de';
          await equipment.insert(
            'acme',
            {
              tag: tagOf(i),
              siteId,
              type: 'pressure transducer',
              intervalDays: 30 + (i % 7),
              intervalCycles: null,
              dueSoonDays: null,
              isReferenceStandard: false,
              stdDueDate: null,
              spec: '{}',
            },
            now,
          );
          if (i % 97 === 5) continue; // never calibrated
          const cal = (n: number, at: number, asFound: 'pass' | 'fail') =>
            calibrations.insert(
              'acme',
              {
                id: `cal-${i}-${n}`,
                equipment: tagOf(i),
                source: 'manual',
                edge_id: null,
                seq: null,
                calibrated_at: new Date(at).toISOString(),
                as_found: asFound,
                as_left: null,
                traceability: 'ok',
                trace_issues: '[]',
                body: '{}',
                entered_by: 'A. Smith',
                recorded_by: null,
                evidence_sha256: null,
              },
              now,
            );
          // Every 17 minutes over two weeks: every hour of the day, in every zone.
          const at = T0 + i * 17 * 60_000;
          await cal(1, at, 'pass');
          if (i % 50 === 0) await cal(2, at + 3_600_000, 'fail'); // out of tolerance since
          if (i % 200 === 7) await equipment.retire('acme', tagOf(i), now);
        }
      }),
    );
    for (let i = 0; i < N + 3; i++) await service.refresh('acme', tagOf(i));
  });
  afterAll(async () => {
    await store?.db.close();
    await storage?.cleanup();
  });

  const snapshot = async () =>
    store!.db.withTenant('acme', () =>
      store!.db.all<{
        tag: string;
        next_due: string | null;
        due_sort: string;
        last_valid_at: string | null;
        out_of_tolerance: number | boolean;
      }>(
        `SELECT tag, next_due, due_sort, last_valid_at, out_of_tolerance FROM equipment
          WHERE tenant_id = ? ORDER BY tag`,
        ['acme'],
      ),
    );

  it('recounts a site of 1,200 instruments in a few statements, as each one’s history would', async () => {
    const before = await snapshot();
    // 01:30 on 1 April in Kolkata is 13:00 on 31 March in Los Angeles: a day earlier.
    const kolkata = before.find((r) => r.tag === tagOf(0))!;
    expect([kolkata.last_valid_at, kolkata.next_due]).toEqual(['2026-04-01T00:00:00.000Z', '2026-05-01']);

    await store!.tenancy.updateSite('acme', 'plant-in', {
      name: 'Pune',
      timeZone: 'America/Los_Angeles',
      shifts: null,
    });
    const from = statements();
    await store!.db.transaction(() => service.refreshSite('acme', 'plant-in'));
    const used = statements() - from;
    // Three pages read, at most one UPDATE per page, the site's zone and the due-soon default:
    // not four statements per instrument.
    expect(used).toBeLessThanOrEqual(8);

    const after = await snapshot();
    const changed = after.filter((r, i) => r.next_due !== before[i]!.next_due);
    expect(changed.length).toBeGreaterThan(N / 4);
    expect(after.find((r) => r.tag === tagOf(0))!.next_due).toBe('2026-04-30');
    // Out of tolerance (last valid at 04:20 UTC on 2 April: 09:50 in Kolkata, 21:20 the day
    // before in Los Angeles): the due date moves, the due list's sort key stays "attention now".
    const oot = after.find((r) => r.tag === tagOf(100))!;
    expect([oot.next_due, oot.due_sort]).toEqual(['2026-05-03', '0000-01-01']);
    expect(before.find((r) => r.tag === tagOf(100))!.next_due).toBe('2026-05-04');
    // The other site's instruments are untouched.
    expect(after.slice(N)).toEqual(before.slice(N));

    // The same as recounting each instrument from its whole calibration history.
    for (let i = 0; i < N + 3; i++) await service.refresh('acme', tagOf(i));
    expect(await snapshot()).toEqual(after);
  });
});
