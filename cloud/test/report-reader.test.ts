import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
// The server first: it loads the features in their order (reports' routes need the others).
import { openStore } from '../src/server.js';
import { createAccounts } from '../src/access/accounts.js';
import { uncleared, wholeTenant, type Viewer } from '../src/access/index.js';
import type { Principal } from '../src/access/policy.js';
import { CalibrationRepository, EquipmentRepository } from '../src/calibration/index.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { Witness } from '../src/platform/witness.js';
import { createReports, standaloneReportDeps, type ReportsModule } from '../src/reports/index.js';
import { clauseMap } from '../src/reports/clauses.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
const TODAY = new Date().toISOString().slice(0, 10);

/**
 * A report job is read as its requester when it runs: export clearance withdrawn after the
 * request (the job was queued, the requester's session still said cleared) leaves the flagged
 * equipment out; a requester still cleared gets it. The register and the out-of-tolerance list
 * are read with the job's reader, not with the clearance stored at request time. Likewise its site
 * scope: a requester limited to a site meanwhile gets only that site's sources. The clause map
 * counts only what its reader sees.
 */
describe.each(BACKENDS)('report jobs read as their requester at run time on %s', (backend) => {
  let storage: TestStorage;
  let store: Awaited<ReturnType<typeof openStore>>;
  let accounts: ReturnType<typeof createAccounts>;
  let reports: ReportsModule;
  const ids: Record<string, string> = {};

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    await store.tenancy.createSite('acme', 'plant-2', 'Plant 2');
    for (const [siteId, name] of [
      ['plant-1', 'line-1'],
      ['plant-2', 'line-2'],
    ] as const)
      await store.tenancy.createEdge({
        tenantId: 'acme',
        id: store.tenancy.newEdgeId(),
        siteId,
        name,
        publicKey: new Uint8Array(32).fill(7),
      });
    const witness = Witness.load(cfg.dataDir, cfg.witnessName);
    accounts = createAccounts({ ...store, witness });
    for (const who of ['withdrawn', 'kept']) {
      const u = await accounts.users.create(by, 'acme', {
        email: `${who}@acme.example`,
        role: 'auditor',
        password: 'reads every trail entry',
        mustChangePassword: false,
        usPerson: true,
      });
      ids[who] = u.user.id;
    }
    const equipment = new EquipmentRepository(store.db);
    const now = new Date(Date.now() - 86_400_000).toISOString();
    for (const [tag, exportRegime] of [
      ['PT-RAIL-03', 'ITAR'],
      ['TT-OIL-02', null],
    ] as const)
      await store.db.withTenant('acme', () =>
        equipment.insert(
          'acme',
          {
            tag,
            siteId: 'plant-1',
            type: 'instrument',
            intervalDays: 180,
            intervalCycles: null,
            dueSoonDays: null,
            isReferenceStandard: false,
            stdDueDate: null,
            spec: '{}',
            exportRegime,
          },
          now,
        ),
      );
    reports = createReports({
      ...standaloneReportDeps(store, accounts.audit, witness),
      logger: pino({ level: 'silent' }),
    });
  });
  afterAll(async () => {
    await reports?.service.close();
    await store?.db.close();
    await storage?.cleanup();
  });

  /** The principal of a request made while the user was cleared. */
  const clearedAtRequest = (who: string): Principal => ({
    kind: 'user',
    tenantId: 'acme',
    id: ids[who]!,
    email: `${who}@acme.example`,
    role: 'auditor',
    sites: null,
    usPerson: true,
  });

  async function register(who: string, withdrawBeforeRun: boolean): Promise<string[]> {
    const p = clearedAtRequest(who);
    const actor = { type: 'user' as const, id: p.id, email: p.email! };
    // Withdrawn in the database while the request's principal (read when it arrived) still says
    // cleared: the job, queued with the clearance of the request, runs after the withdrawal.
    if (withdrawBeforeRun) await accounts.users.setUsPerson(by, 'acme', p.id, false);
    const asked = await reports.service.request(p, actor, null, {
      type: 'calibration-register',
      from: TODAY,
      to: TODAY,
      format: 'json',
    });
    await reports.service.idle();
    const view = await reports.service.get(p, asked.id);
    expect(view.state, String(view.error)).toBe('done');
    const { chunks } = await reports.service.file(p, actor, null, asked.id);
    const parts: Buffer[] = [];
    for await (const c of chunks) parts.push(c);
    const json = JSON.parse(Buffer.concat(parts).toString('utf8')) as {
      sections: { equipment: { tag: string }[] };
    };
    return json.sections.equipment.map((r) => r.tag);
  }

  it('leaves flagged equipment out when the requester lost clearance before the job ran', async () => {
    expect(await register('kept', false)).toEqual(['PT-RAIL-03', 'TT-OIL-02']);
    expect(await register('withdrawn', true)).toEqual(['TT-OIL-02']);
  });

  it('names only the edges of the sites the requester sees when the job runs', async () => {
    const p = clearedAtRequest('kept');
    const actor = { type: 'user' as const, id: p.id, email: p.email! };
    const run = async (siteId: string | null) => {
      const asked = await reports.service.request(p, actor, null, {
        type: 'calibration-register',
        siteId,
        from: TODAY,
        to: TODAY,
        format: 'json',
      });
      await reports.service.idle();
      const view = await reports.service.get(p, asked.id);
      return {
        state: view.state,
        // By name: the two edges may be enrolled in the same millisecond (then listed by their ids).
        edges: view.sources
          ? (view.sources as { edges: { name: string }[] }).edges.map((e) => e.name).sort()
          : null,
      };
    };
    expect(await run(null)).toEqual({ state: 'done', edges: ['line-1', 'line-2'] });
    // Limited to plant 1 after the request (its principal, read when it arrived, said every site).
    await accounts.users.setRole(by, 'acme', p.id, 'auditor', ['plant-1']);
    expect(await run(null)).toEqual({ state: 'done', edges: ['line-1'] });
    // A report of plant 2, which the requester no longer sees, is not made.
    expect(await run('plant-2')).toEqual({ state: 'failed', edges: null });
  });

  it('counts in the clause map only what its reader sees', async () => {
    // A calibration of the export-controlled gauge whose reference standard was flagged.
    await store.db.withTenant('acme', () =>
      new CalibrationRepository(store.db).insert(
        'acme',
        {
          id: 'cal-rail-1',
          equipment: 'PT-RAIL-03',
          source: 'manual',
          edge_id: null,
          seq: null,
          calibrated_at: new Date(Date.now() - 3_600_000).toISOString(),
          as_found: 'pass',
          as_left: null,
          traceability: 'flagged',
          trace_issues: '["reference standard overdue"]',
          body: '{}',
          entered_by: null,
          recorded_by: null,
          evidence_sha256: null,
        },
        new Date().toISOString(),
      ),
    );
    const figures = async (v: Viewer) => {
      const items = await clauseMap(reports.repo, reports.oot, v, 'plant-1');
      const f = items.find((i) => i.clause === '7.1.5.2')!.figures;
      return { instruments: f.instruments, flagged: f.flaggedCalibrations12Months };
    };
    expect(await figures(wholeTenant('acme'))).toEqual({ instruments: 2, flagged: 1 });
    // PT-RAIL-03 is export-controlled: neither it nor its calibration counts for a reader not
    // cleared for it.
    expect(await figures(uncleared('acme'))).toEqual({ instruments: 1, flagged: 0 });
  });

  it('shows in the clause map only an integrity report its reader may see', async () => {
    const p = clearedAtRequest('kept');
    const actor = { type: 'user' as const, id: p.id, email: p.email! };
    const asked = await reports.service.request(p, actor, null, {
      type: 'integrity',
      from: TODAY,
      to: TODAY,
      format: 'json',
    });
    await reports.service.idle();
    expect((await reports.service.get(p, asked.id)).state).toBe('done');
    const last = async (v: Viewer) => {
      const items = await clauseMap(reports.repo, reports.oot, v, 'plant-1');
      const f = items.find((i) => i.clause === '3.3')!.figures as {
        lastIntegrityReport: { id: string } | null;
      };
      return f.lastIntegrityReport?.id ?? null;
    };
    expect(await last(wholeTenant('acme'))).toBe(asked.id);
    // A tenant-wide report is not one a reader limited to plant 1 may see (nor list, nor open).
    expect(await last({ ...wholeTenant('acme'), sites: ['plant-1'] })).toBeNull();
  });
});
