import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
// The server first: it loads the features in their order (reports' routes need the others).
import { openStore } from '../src/server.js';
import { createAccounts } from '../src/access/accounts.js';
import type { Principal } from '../src/access/policy.js';
import { EquipmentRepository } from '../src/calibration/index.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { Witness } from '../src/platform/witness.js';
import { createReports, standaloneReportDeps, type ReportsModule } from '../src/reports/index.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
const TODAY = new Date().toISOString().slice(0, 10);

/**
 * A report job is read as its requester when it runs: export clearance withdrawn after the
 * request (the job was queued, the requester's session still said cleared) leaves the flagged
 * equipment out; a requester still cleared gets it. The register and the out-of-tolerance list
 * are read with the job's reader, not with the clearance stored at request time.
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
});
