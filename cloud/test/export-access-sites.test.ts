import { afterAll, describe, expect, it } from 'vitest';
// The server first: it loads the features in their order.
import { openStore } from '../src/server.js';
import { createAccounts } from '../src/access/accounts.js';
import type { Viewer } from '../src/access/index.js';
import { EquipmentRepository } from '../src/calibration/index.js';
import { ExportControlService } from '../src/export-control/index.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { Witness } from '../src/platform/witness.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/**
 * The export-access log has no site column: a row is of the site of what it names (the
 * equipment, a calibration's equipment, a record's edge). A cleared reader limited to sites reads
 * only the rows of its sites; a tenant-wide cleared reader reads them all.
 */
describe.each(BACKENDS)('the export-access log read as a site-limited reader on %s', (backend) => {
  let storage: TestStorage;
  let store: Awaited<ReturnType<typeof openStore>>;
  let exportControl: ExportControlService;

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    await store.tenancy.createSite('acme', 'plant-2', 'Plant 2');
    for (const [id, siteId] of [
      ['edge-p1', 'plant-1'],
      ['edge-p2', 'plant-2'],
    ] as const)
      await store.tenancy.createEdge({
        tenantId: 'acme',
        id,
        siteId,
        name: id,
        publicKey: new Uint8Array(32),
      });
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    exportControl = new ExportControlService(store.db, accounts.audit);
    const equipment = new EquipmentRepository(store.db);
    const now = new Date(Date.now() - 86_400_000).toISOString();
    for (const [tag, siteId] of [
      ['PT-RAIL-03', 'plant-1'],
      ['RIG-FLOW-01', 'plant-2'],
    ] as const)
      await store.db.withTenant('acme', () =>
        equipment.insert(
          'acme',
          {
            tag,
            siteId,
            type: 'instrument',
            intervalDays: 180,
            intervalCycles: null,
            dueSoonDays: null,
            isReferenceStandard: false,
            stdDueDate: null,
            spec: '{}',
            exportRegime: 'ITAR',
          },
          now,
        ),
      );
    // A calibration of RIG-FLOW-01 (plant 2), entered by hand.
    await store.db.withTenant('acme', () =>
      store.db.run(
        `INSERT INTO calibrations (tenant_id, id, equipment, source, edge_id, seq, calibrated_at, as_found,
           traceability, trace_issues, body, created_at)
         VALUES ('acme', 'cal-rig', 'RIG-FLOW-01', 'manual', NULL, NULL, ?, 'pass', 'traceable', '[]', '{}', ?)`,
        [now, now],
      ),
    );
    // What the log names, one row each, a second apart.
    const rows: [string, string][] = [
      ['equipment', 'PT-RAIL-03'],
      ['equipment', 'RIG-FLOW-01'],
      ['yield', 'RIG-FLOW-01'],
      ['calibration', 'cal-rig'],
      ['inspection', 'edge-p1:7'],
      ['record', 'edge-p2:3'],
      ['equipment', 'GONE-01'],
    ];
    let i = 0;
    for (const [type, id] of rows) {
      i += 1;
      await store.db.withTenant('acme', () =>
        store.db.run(
          `INSERT INTO export_access_log (tenant_id, id, at, user_id, principal, object_type, object_id, regime, eccn, address, route)
           VALUES ('acme', ?, ?, NULL, 'user:x', ?, ?, 'ITAR', NULL, NULL, 'GET /x')`,
          [
            `00000000-0000-4000-8000-00000000000${i}`,
            new Date(Date.parse(now) + i * 1000).toISOString(),
            type,
            id,
          ],
        ),
      );
    }
  });
  afterAll(async () => {
    await store?.db.close();
    await storage?.cleanup();
  });

  const reader = (sites: string[] | null): Viewer => ({
    kind: 'user',
    tenantId: 'acme',
    id: 'u',
    sites,
    cleared: true,
  });
  const names = async (sites: string[] | null) =>
    (await exportControl.list(reader(sites), { limit: 100 })).items.map(
      (r) => `${r.object_type} ${r.object_id}`,
    );

  it('gives a reader limited to sites the rows of what those sites hold', async () => {
    expect(await names(null)).toEqual([
      'equipment PT-RAIL-03',
      'equipment RIG-FLOW-01',
      'yield RIG-FLOW-01',
      'calibration cal-rig',
      'inspection edge-p1:7',
      'record edge-p2:3',
      'equipment GONE-01',
    ]);
    expect(await names(['plant-1'])).toEqual(['equipment PT-RAIL-03', 'inspection edge-p1:7']);
    expect(await names(['plant-2'])).toEqual([
      'equipment RIG-FLOW-01',
      'yield RIG-FLOW-01',
      'calibration cal-rig',
      'record edge-p2:3',
    ]);
    expect(await names([])).toEqual([]);
    // Paging keeps the scope.
    const first = await exportControl.list(reader(['plant-2']), { limit: 2 });
    expect(first.items.map((r) => r.object_id)).toEqual(['RIG-FLOW-01', 'RIG-FLOW-01']);
    const [at, id] = first.next!.split('~') as [string, string];
    const rest = await exportControl.list(reader(['plant-2']), { limit: 100, after: { at, id } });
    expect(rest.items.map((r) => r.object_id)).toEqual(['cal-rig', 'edge-p2:3']);
  });
});
