import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
// The server first: it loads the features in their order (reports' routes need the others).
import { openStore } from '../src/server.js';
import { createAccounts } from '../src/access/accounts.js';
import type { Principal } from '../src/access/policy.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { Witness } from '../src/platform/witness.js';
import { createReports, standaloneReportDeps, type ReportsModule } from '../src/reports/index.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
const TODAY = new Date().toISOString().slice(0, 10);

/**
 * A report job is read as its requester when it runs, site scope included: a requester limited
 * to plant-1 when asking, moved to plant-2 before the job ran, gets no plant-1 edge in the
 * report's sources (the edges are listed in the query, as the job's reader).
 */
describe.each(BACKENDS)('report jobs list the edges their requester sees at run time on %s', (backend) => {
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
    const witness = Witness.load(cfg.dataDir, cfg.witnessName);
    accounts = createAccounts({ ...store, witness });
    for (const who of ['moved', 'kept']) {
      const u = await accounts.users.create(by, 'acme', {
        email: `${who}@acme.example`,
        role: 'manager',
        sites: ['plant-1'],
        password: 'reads one plant only',
        mustChangePassword: false,
      });
      ids[who] = u.user.id;
    }
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

  /** The edges in the sources of a plant-1 register report, asked while the user had plant-1. */
  async function edgesOfReport(who: string, moveBeforeRun: boolean): Promise<string[]> {
    const p: Principal = {
      kind: 'user',
      tenantId: 'acme',
      id: ids[who]!,
      email: `${who}@acme.example`,
      role: 'manager',
      sites: ['plant-1'],
      usPerson: false,
    };
    const actor = { type: 'user' as const, id: p.id, email: p.email! };
    // Moved in the database while the request's principal (read when it arrived) still says plant-1.
    if (moveBeforeRun) await accounts.users.setRole(by, 'acme', p.id, 'manager', ['plant-2']);
    const asked = await reports.service.request(p, actor, null, {
      type: 'calibration-register',
      siteId: 'plant-1',
      from: TODAY,
      to: TODAY,
      format: 'json',
    });
    await reports.service.idle();
    const view = await reports.service.get(p, asked.id);
    expect(view.state, String(view.error)).toBe('done');
    return (view.sources as { edges: { edge: string }[] }).edges.map((e) => e.edge);
  }

  it('leaves out the edges of a site the requester no longer sees when the job runs', async () => {
    expect(await edgesOfReport('kept', false)).toEqual(['edge-p1']);
    expect(await edgesOfReport('moved', true)).toEqual([]);
  });
});
