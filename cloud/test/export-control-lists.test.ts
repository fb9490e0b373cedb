import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccounts } from '../src/access/accounts.js';
import type { Role } from '../src/access/policy.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { TestEdge } from './helpers/edge.js';
import { apiCall, signIn, type Session } from './helpers/signed-in.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/**
 * Export control on the paged lists of usage and inspection records (`GET /inspections`,
 * `GET /usage`, `GET /equipment/{tag}/suspect-records`): a record naming an export-controlled
 * gauge is left out in the query for a caller who is not cleared, so that a page of `limit` is
 * full while more records it may see exist, and its cursor is the last record it was served.
 */

const PW: Record<string, string> = {
  cleared: 'granted bench work nine',
  uncleared: 'plain bench work only 7',
};

const at = (minute: number) => new Date(Date.UTC(2026, 10, 1, 8, minute)).toISOString();

// Inspections of RIG-A (seq 2..9) all name the gauge GAUGE-X; 3, 4 and 7 also name the
// ITAR-flagged PT-RAIL-03. Usage of RIG-A: 10..14. GAUGE-X: good at seq 1 (calibrated with the
// standard STD-1), failed at seq 15. STD-1: good before GAUGE-X's calibration (16), failed after
// (17): its suspect chain is GAUGE-X, whose records are the inspections.
const FLAGGED_INSPECTIONS = [3, 4, 7];
const PLAIN_INSPECTIONS = [2, 5, 6, 8, 9];
const ALL_INSPECTIONS = [2, 3, 4, 5, 6, 7, 8, 9];
const USAGE = [10, 11, 12, 13, 14];

describe.each(BACKENDS)('export control on paged record lists on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let apiToken = '';
  let edgeId = '';
  const s: Record<string, Session> = {};
  const as = (who: string, method: string, p: string, body?: unknown) =>
    apiCall(cloud.url, who === 'token' ? apiToken : s[who]!, method, p, body);
  const UNCLEARED = ['uncleared', 'token'];

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    apiToken = await store.tenancy.createApiToken('acme', 'reader');
    const enroll = await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    const users: [string, Role, boolean][] = [
      ['cleared', 'admin', true],
      ['uncleared', 'technician', false],
    ];
    for (const [who, role, usPerson] of users)
      await accounts.users.create(by, 'acme', {
        email: `${who}@acme.example`,
        role,
        sites: null,
        password: PW[who]!,
        mustChangePassword: false,
        usPerson,
      });
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    for (const [who] of users) s[who] = await signIn(cloud.url, 'acme', `${who}@acme.example`, PW[who]!);
    for (const [tag, type, flag] of [
      ['PT-RAIL-03', 'transducer', { regime: 'ITAR', eccn: '3A001.b.2' }],
      ['GAUGE-X', 'gauge', undefined],
      ['RIG-A', 'rig', undefined],
      ['STD-1', 'reference standard', undefined],
    ] as const) {
      const reg = await as('cleared', 'POST', '/equipment', {
        tag,
        siteId: 'plant-1',
        type,
        intervalDays: 180,
        ...(flag ? { exportControl: flag } : {}),
      });
      expect(reg.status, reg.text).toBe(201);
    }
    const edge = await new TestEdge(cloud.url).enroll(enroll.token, 'line-1');
    edgeId = edge.id;
    const cal = edge.calibration('GAUGE-X', at(0), 'pass');
    const records: unknown[] = [{ ...cal, body: { ...cal.body, standards: [{ id: 'STD-1' }] } }];
    for (const seq of ALL_INSPECTIONS) {
      const r = edge.inspection('RIG-A', at(seq), `P${seq}`, 'pass');
      const gauges = FLAGGED_INSPECTIONS.includes(seq) ? ['GAUGE-X', 'PT-RAIL-03'] : ['GAUGE-X'];
      records.push({ ...r, body: { ...r.body, gauges } });
    }
    for (const seq of USAGE) records.push(edge.usage('RIG-A', at(seq), 'cycle'));
    records.push(edge.calibration('GAUGE-X', at(30), 'fail'));
    records.push(edge.calibration('STD-1', at(-5), 'pass'), edge.calibration('STD-1', at(40), 'fail'));
    await edge.ingest(records);
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  /**
   * Every page of `path` at `limit`, checking that each page handed a cursor is full and that
   * the cursor is the last record on it; the seqs served, in order.
   */
  const walk = async (who: string, path: string, limit: number, cursorIn = 'body') => {
    const served: number[] = [];
    let after: string | null = null;
    for (let i = 0; i < 20; i++) {
      const sep = path.includes('?') ? '&' : '?';
      const page: Awaited<ReturnType<typeof as>> = await as(
        who,
        'GET',
        `${path}${sep}limit=${limit}${after ? `&after=${encodeURIComponent(after)}` : ''}`,
      );
      expect(page.status, `${who} ${path}`).toBe(200);
      if (cursorIn === 'csv') {
        const seqs = page.text
          .split('\r\n')
          .slice(1)
          .filter((l) => l !== '')
          .map((l) => Number(l.split(',')[1]));
        served.push(...seqs);
        after = page.headers.get('x-next-cursor');
        if (!after) break;
        expect(seqs, `${who} ${path}: a page with a cursor`).toHaveLength(limit);
        expect(after, `${who} ${path}`).toBe(`${at(seqs.at(-1)!)}~${edgeId}~${seqs.at(-1)}`);
        continue;
      }
      const items = page.body.items as { seq: number; observedAt: string; edge: string }[];
      served.push(...items.map((x) => x.seq));
      after = page.body.next;
      if (!after) break;
      expect(
        items.map((x) => x.seq),
        `${who} ${path}: a page with a cursor`,
      ).toHaveLength(limit);
      const last = items.at(-1)!;
      // A suspect chain's cursor is the link's calibration id, then the record's.
      const link = path.includes('/suspect-chain/') ? `${after.slice(0, after.indexOf('~'))}~` : '';
      expect(after, `${who} ${path}`).toBe(`${link}${last.observedAt}~${last.edge}~${last.seq}`);
    }
    return served;
  };

  it('gives callers who are not cleared full inspection pages without records naming a flagged gauge', async () => {
    for (const who of UNCLEARED) {
      for (const limit of [1, 2, 3]) {
        const served = await walk(who, '/inspections?equipment=RIG-A', limit);
        expect(served, `${who} limit=${limit}`).toEqual(PLAIN_INSPECTIONS);
      }
      // One page of two, starting on the record before the flagged ones: both served are plain.
      const first = await as(who, 'GET', '/inspections?equipment=RIG-A&limit=2');
      expect(first.body.items.map((x: { seq: number }) => x.seq)).toEqual([2, 5]);
      expect(first.text).not.toContain('PT-RAIL-03');
    }
    expect(await walk('cleared', '/inspections?equipment=RIG-A', 2)).toEqual(ALL_INSPECTIONS);
  });

  it('gives callers who are not cleared full usage pages', async () => {
    for (const who of UNCLEARED)
      for (const limit of [1, 2]) expect(await walk(who, '/usage?equipment=RIG-A', limit)).toEqual(USAGE);
    expect(await walk('cleared', '/usage?equipment=RIG-A', 2)).toEqual(USAGE);
  });

  it('gives callers who are not cleared full suspect-record pages (JSON and CSV) without records naming a flagged gauge', async () => {
    for (const who of UNCLEARED)
      for (const limit of [1, 2, 3]) {
        expect(await walk(who, '/equipment/GAUGE-X/suspect-records', limit), `${who} ${limit}`).toEqual(
          PLAIN_INSPECTIONS,
        );
        expect(
          await walk(who, '/equipment/GAUGE-X/suspect-records?format=csv', limit, 'csv'),
          `${who} csv ${limit}`,
        ).toEqual(PLAIN_INSPECTIONS);
      }
    expect(await walk('cleared', '/equipment/GAUGE-X/suspect-records', 2)).toEqual(ALL_INSPECTIONS);
  });

  it("gives callers who are not cleared full pages of a suspect chain's records, and counts only those", async () => {
    for (const who of UNCLEARED) {
      for (const limit of [1, 2, 3])
        expect(await walk(who, '/equipment/STD-1/suspect-chain/records', limit), `${who} ${limit}`).toEqual(
          PLAIN_INSPECTIONS,
        );
      const chain = await as(who, 'GET', '/equipment/STD-1/suspect-chain');
      expect(chain.body.links.map((l: any) => [l.equipment, l.suspectRecords])).toEqual([
        ['GAUGE-X', PLAIN_INSPECTIONS.length],
      ]);
    }
    expect(await walk('cleared', '/equipment/STD-1/suspect-chain/records', 2)).toEqual(ALL_INSPECTIONS);
    const chain = await as('cleared', 'GET', '/equipment/STD-1/suspect-chain');
    expect(chain.body.links.map((l: any) => [l.equipment, l.suspectRecords])).toEqual([
      ['GAUGE-X', ALL_INSPECTIONS.length],
    ]);
  });

  it('logs each flagged record a cleared user is served from these lists, and nothing for the others', async () => {
    const log = async () =>
      ((await as('cleared', 'GET', '/export-access?limit=1000')).body.items as any[]).filter(
        (x) => x.objectType === 'inspection',
      );
    const before = (await log()).length;
    for (const who of UNCLEARED) {
      await as(who, 'GET', '/inspections?equipment=RIG-A');
      await as(who, 'GET', '/equipment/GAUGE-X/suspect-records');
    }
    expect((await log()).slice(before)).toEqual([]);
    for (const [path, route] of [
      ['/inspections?equipment=RIG-A', 'GET /inspections'],
      ['/equipment/GAUGE-X/suspect-records', 'GET /equipment/{tag}/suspect-records'],
    ]) {
      const from = (await log()).length;
      expect((await as('cleared', 'GET', path!)).status).toBe(200);
      const logged = (await log()).slice(from);
      expect(logged.map((x) => [x.objectId, x.regime, x.route]).sort(), path).toEqual(
        FLAGGED_INSPECTIONS.map((seq) => [`${edgeId}:${seq}`, 'ITAR', route]),
      );
    }
  });
});
