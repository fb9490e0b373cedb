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
 * Out-of-tolerance cases on both backends, through the API as a real process would see it: a
 * bench record that fails as found opens a case with an alert; the case lists every suspect
 * record with the characteristic, measured value, limits, margin and shipment state; signed
 * decisions per part or lot and a signed customer notification close it once the instrument
 * passed again; a tagged-out instrument's use raises an alert; the report counts the decisions.
 */

const PW: Record<string, string> = {
  quality: 'signs for the lab on fridays',
  tech: 'torque wrench on shelf 3',
  auditor: 'reads every trail entry',
  scoped: 'second desk by the window',
};
const HOUR = 3_600_000;
const NOW = Date.now();
const at = (hoursAgo: number) => new Date(NOW - hoursAgo * HOUR).toISOString();

describe.each(BACKENDS)('out-of-tolerance cases on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let apiToken = '';
  /** The line's edge: it sends the bench's calibrations and the rig's tests. */
  let edge: TestEdge;
  const s: Record<string, Session> = {};
  const call = (who: string, method: string, p: string, body?: unknown) =>
    apiCall(cloud.url, who === 'token' ? apiToken : s[who]!, method, p, body);

  const envelope = (kind: string, equipment: string, observedAt: string, body: unknown) =>
    edge.record(kind, equipment, observedAt, body);
  /** A flow-rig test of one injector, its delivered quantity measured with the flow cell FC-07. */
  const test = (hoursAgo: number, part: string, wo: string, qty: number) =>
    envelope('inspection', 'RIG-01', at(hoursAgo), {
      partSerial: part,
      workOrder: wo,
      operator: 'op-17',
      result: qty >= 59.5 && qty <= 60.5 ? 'pass' : 'fail',
      gauges: ['FC-07'],
      characteristics: [
        {
          name: 'fullLoad.deliveredQty',
          nominal: 60,
          lsl: 59.5,
          usl: 60.5,
          measured: qty,
          unit: 'mm3/stroke',
          gauge: 'FC-07',
          result: qty >= 59.5 && qty <= 60.5 ? 'pass' : 'fail',
        },
        { name: 'fullLoad.backLeak', usl: 30, measured: 21.4, unit: 'mL/min', result: 'pass' },
      ],
    });
  const calibration = (hoursAgo: number, asFound: number, asLeft?: number) =>
    envelope('calibration', 'FC-07', at(hoursAgo), {
      technician: 'T-0117 M. Keller',
      standards: [{ id: 'STD-FLW-0002', certificate: 'CERT-FLW-0002-2025-0093' }],
      points: [
        {
          name: 'full load',
          nominal: 60,
          unit: 'mm3/stroke',
          asFound,
          lowerTolerance: -0.33,
          upperTolerance: 0.33,
          asFoundResult: Math.abs(asFound - 60) <= 0.33 ? 'pass' : 'fail',
          ...(asLeft !== undefined
            ? { asLeft, asLeftResult: Math.abs(asLeft - 60) <= 0.33 ? 'pass' : 'fail' }
            : {}),
        },
      ],
      adjusted: asLeft !== undefined,
      asFoundResult: Math.abs(asFound - 60) <= 0.33 ? 'pass' : 'fail',
      ...(asLeft !== undefined ? { asLeftResult: Math.abs(asLeft - 60) <= 0.33 ? 'pass' : 'fail' } : {}),
      calibratedAt: at(hoursAgo),
    });
  const ingest = (records: unknown[]) => edge.ingest(records);
  const caseOf = async (equipment: string) =>
    (await call('auditor', 'GET', `/oot-cases?equipment=${equipment}`)).body.items[0];

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1', 'Europe/Berlin');
    await store.tenancy.createSite('acme', 'plant-2', 'Plant 2');
    apiToken = await store.tenancy.createApiToken('acme', 'reader');
    const enroll = await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    const users: [string, Role, string[] | null][] = [
      ['quality', 'manager', null],
      ['tech', 'technician', null],
      ['auditor', 'auditor', null],
      ['scoped', 'manager', ['plant-2']],
    ];
    for (const [who, role, sites] of users)
      await accounts.users.create(by, 'acme', {
        email: `${who}@acme.example`,
        name: `${who} name`,
        role,
        sites,
        password: PW[who]!,
        mustChangePassword: false,
      });
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    for (const [who] of users) s[who] = await signIn(cloud.url, 'acme', `${who}@acme.example`, PW[who]!);
    for (const [tag, type] of [
      ['FC-07', 'flow cell'],
      ['RIG-01', 'injector flow rig'],
    ])
      expect(
        (await call('tech', 'POST', '/equipment', { tag, siteId: 'plant-1', type, intervalDays: 90 })).status,
      ).toBe(201);
    edge = await new TestEdge(cloud.url, {
      protocol: 'opcua',
      endpoint: 'opc.tcp://bench.plant1.local:48400',
    }).enroll(enroll.token, 'line-1');
    // A good calibration, five injectors tested with the flow cell, then a calibration that finds
    // it reading 0.41 mm³/stroke high, not adjusted: the instrument is out of tolerance.
    await ingest([
      calibration(200, 60.05),
      test(100, 'INJ-1', 'WO-1', 60.02),
      test(90, 'INJ-2', 'WO-1', 60.38),
      test(80, 'INJ-3', 'WO-2', 59.7),
      test(70, 'INJ-4', 'WO-2', 60.1),
      test(60, 'INJ-5', 'WO-2', 60.6),
      calibration(50, 60.41),
    ]);
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('opens a case with an alert when a bench record fails as found, listing each suspect part with its margin', async () => {
    const k = await caseOf('FC-07');
    expect(k).toMatchObject({
      equipment: 'FC-07',
      equipmentType: 'flow cell',
      siteId: 'plant-1',
      state: 'open',
      progress: { suspect: 5, decided: 0, taggedOut: true },
    });
    expect(k.progress.waitingFor.join(' ')).toContain('a passing calibration of FC-07');
    const alerts = (await call('auditor', 'GET', '/alerts')).body.items;
    const alert = alerts.find((a: { kind: string }) => a.kind === 'out-of-tolerance');
    expect(alert).toMatchObject({ severity: 'critical', tag: 'FC-07', siteId: 'plant-1' });
    expect(alert.message).toContain('5 usage and inspection records');
    expect(k.alertId).toBe(alert.id);

    const full = (await call('auditor', 'GET', `/oot-cases/${k.id}`)).body;
    expect(full.instrumentError).toEqual({ magnitude: 0.41, unit: 'mm3/stroke', point: 'full load' });
    expect(full.suspects.map((r: { partSerial: string }) => r.partSerial)).toEqual([
      'INJ-1',
      'INJ-2',
      'INJ-3',
      'INJ-4',
      'INJ-5',
    ]);
    const inj2 = full.suspects[1];
    // Only the characteristic measured with the failed flow cell; its margin to the nearest limit.
    expect(inj2.characteristics).toEqual([
      {
        name: 'fullLoad.deliveredQty',
        measured: 60.38,
        unit: 'mm3/stroke',
        nominal: 60,
        lsl: 59.5,
        usl: 60.5,
        result: 'pass',
        margin: 0.12,
        atRisk: true,
      },
    ]);
    expect(full.suspects[0].characteristics[0]).toMatchObject({ margin: 0.48, atRisk: false });
    // INJ-2 (margin 0.12), INJ-3 (0.2), INJ-4 (0.4) and INJ-5 (outside: -0.1) are within 0.41 of a limit.
    expect(full.progress.atRisk).toBe(4);
    expect(
      (await call('auditor', 'GET', '/audit?limit=1000')).body.items.map(
        (i: { entry: { action: string } }) => i.entry.action,
      ),
    ).toContain('oot.open');

    // The equipment's own suspect CSV names the characteristic and the measured value too.
    const csv = await call('token', 'GET', '/equipment/FC-07/suspect-records?format=csv');
    const [head, ...lines] = csv.text.trim().split('\r\n');
    expect(head).toContain('characteristic,measured,unit,lsl,usl,margin,atRisk');
    expect(lines.find((l) => l.includes('INJ-2'))).toContain(
      'fullLoad.deliveredQty,60.38,mm3/stroke,59.5,60.5,0.12,true',
    );
  });

  it('raises a tag-out alert when a tagged-out instrument is used', async () => {
    const tagOuts = async () =>
      (await call('auditor', 'GET', '/alerts')).body.items.filter(
        (a: { kind: string }) => a.kind === 'tag-out',
      );
    // The tests before the failed calibration were made in good faith: no tag-out alert for them.
    expect(await tagOuts()).toEqual([]);
    await ingest([test(1, 'INJ-6', 'WO-3', 60.0), test(0.5, 'INJ-7', 'WO-3', 60.1)]);
    const tagOut = await tagOuts();
    // One per case and hour, not one per record.
    expect(tagOut.length).toBeGreaterThanOrEqual(1);
    expect(tagOut.length).toBeLessThanOrEqual(2);
    expect(tagOut[0].message).toContain('RIG-01 (with FC-07) was used on part INJ-');
    expect(tagOut[0].message).toContain('do not use it');
    expect((await caseOf('FC-07')).progress.suspect).toBe(7);
  });

  it('keeps the case from other sites and from people without the permission', async () => {
    const k = await caseOf('FC-07');
    expect((await call('scoped', 'GET', `/oot-cases/${k.id}`)).status).toBe(404);
    expect((await call('scoped', 'GET', '/oot-cases')).body.items).toEqual([]);
    const decision = {
      scope: 'part',
      items: ['INJ-1'],
      impact: 'no-impact',
      assessment: 'margin 0.48 is larger than the 0.41 error',
      disposition: 'use-as-is',
      signature: { password: PW.tech, meaning: 'decided' },
    };
    expect((await call('tech', 'POST', `/oot-cases/${k.id}/decisions`, decision)).body.code).toBe(
      'CLOUD_FORBIDDEN',
    );
    expect((await call('token', 'POST', `/oot-cases/${k.id}/decisions`, decision)).status).toBe(403);
    // A wrong password signs nothing (and is on the audit trail).
    const wrong = await call('quality', 'POST', `/oot-cases/${k.id}/decisions`, {
      ...decision,
      signature: { password: 'not mine', meaning: 'decided' },
    });
    expect(wrong.body.code).toBe('CLOUD_REAUTH_FAILED');
    expect((await caseOf('FC-07')).progress.decided).toBe(0);
  });

  it('records signed decisions per part and lot; closes once the instrument passed again and the customer was told', async () => {
    const k = await caseOf('FC-07');
    // Two of the parts were shipped to a customer.
    expect(
      (
        await call('quality', 'PUT', '/parts/shipments', {
          items: [
            {
              partSerial: 'INJ-2',
              state: 'shipped',
              customer: 'Globex Engines',
              shippedAt: at(40),
              reference: 'DN-5531',
            },
            { partSerial: 'INJ-3', state: 'at-customer', customer: 'Globex Engines' },
            { partSerial: 'INJ-1', state: 'in-house' },
          ],
        })
      ).status,
    ).toBe(200);
    const sign = (body: Record<string, unknown>) =>
      call('quality', 'POST', `/oot-cases/${k.id}/decisions`, {
        impact: 'possible-impact',
        assessment: 'the flow cell read up to 0.41 mm³/stroke high',
        disposition: 're-test',
        ...body,
        signature: { password: PW.quality, meaning: 'decided' },
      });
    const one = await sign({
      scope: 'part',
      items: ['INJ-1'],
      impact: 'no-impact',
      disposition: 'use-as-is',
    });
    expect(one.status, one.text).toBe(201);
    expect(one.body.decisions[0]).toMatchObject({
      scope: 'part',
      item: 'INJ-1',
      disposition: 'use-as-is',
      by: { email: 'quality@acme.example', role: 'manager' },
    });
    expect(one.body.decisions[0].signatureSha256).toMatch(/^[0-9a-f]{64}$/);
    const lot = await sign({ scope: 'lot', items: ['WO-2'], disposition: 'recall' });
    expect(lot.status, lot.text).toBe(201);
    const rest = await sign({ scope: 'lot', items: ['WO-1', 'WO-3'] });
    expect(rest.body.case.progress).toMatchObject({ suspect: 7, decided: 7, undecided: 0 });
    // Still open: FC-07 has not passed again, and Globex holds suspect parts and was not told.
    expect(rest.body.case.state).toBe('open');
    expect(rest.body.case.progress.customers).toEqual([{ name: 'Globex Engines', notified: false }]);

    const full = (await call('auditor', 'GET', `/oot-cases/${k.id}`)).body;
    expect(full.suspects.find((r: { partSerial: string }) => r.partSerial === 'INJ-2')).toMatchObject({
      shipment: { state: 'shipped', customer: 'Globex Engines', reference: 'DN-5531' },
      decision: { scope: 'lot', item: 'WO-1', disposition: 're-test' },
    });
    expect(
      full.suspects.find((r: { partSerial: string }) => r.partSerial === 'INJ-4').decision.disposition,
    ).toBe('recall');
    // A later decision on one part of a recalled lot supersedes the lot's for that part.
    await sign({ scope: 'part', items: ['INJ-4'], impact: 'no-impact', disposition: 'use-as-is' });
    expect(
      (await call('auditor', 'GET', `/oot-cases/${k.id}`)).body.suspects.find(
        (r: { partSerial: string }) => r.partSerial === 'INJ-4',
      ).decision,
    ).toMatchObject({ scope: 'part', disposition: 'use-as-is' });

    const told = await call('quality', 'POST', `/oot-cases/${k.id}/notifications`, {
      customer: 'Globex Engines',
      contact: 'R. Diaz, supplier quality',
      notifiedAt: at(0.2),
      method: 'email',
      reference: '8D-2291',
      signature: { password: PW.quality, meaning: 'notified' },
    });
    expect(told.status, told.text).toBe(201);
    expect(told.body.case.state).toBe('open');
    expect(told.body.case.progress.waitingFor).toEqual([
      'a passing calibration of FC-07 (it must not be used until then)',
    ]);

    // The bench recalibrates it (adjusted, left passing): the case closes and its alert is acknowledged.
    await ingest([calibration(0.1, 60.02)]);
    const closed = (await call('auditor', 'GET', `/oot-cases/${k.id}`)).body;
    expect(closed).toMatchObject({
      state: 'closed',
      closedReason: 'decided',
      progress: { taggedOut: false },
    });
    const alert = (await call('auditor', 'GET', '/alerts?state=all')).body.items.find(
      (a: { id: string }) => a.id === k.alertId,
    );
    expect(alert.acknowledgedBy).toBe('case closed');
    // Closed: no more decisions.
    expect((await sign({ scope: 'part', items: ['INJ-1'] })).status).toBe(409);

    const csv = await call('auditor', 'GET', `/oot-cases/${k.id}/suspects.csv`);
    expect(csv.type).toContain('text/csv');
    const line = csv.text.split('\r\n').find((l) => l.includes('INJ-5') && l.includes('deliveredQty'))!;
    expect(line).toContain('60.6,mm3/stroke,59.5,60.5,-0.1,true');
    expect(line).toContain('lot,possible-impact,recall');

    const actions = (await call('auditor', 'GET', '/audit?limit=1000')).body.items
      .filter((i: { entry: { outcome: string } }) => i.entry.outcome === 'success')
      .map((i: { entry: { action: string } }) => i.entry.action);
    expect(actions.filter((a: string) => a === 'oot.decide')).toHaveLength(4);
    expect(actions).toContain('oot.notify');
    expect(actions).toContain('oot.close');
    expect((await call('auditor', 'GET', '/audit/verify')).body.ok).toBe(true);
  });

  it('opens a case for a failed manual entry and closes it when the entry is rejected', async () => {
    const entry = await call('tech', 'POST', '/calibrations', {
      equipment: 'RIG-01',
      enteredBy: 'T-0124 A. Novak',
      body: {
        technician: 'T-0124 A. Novak',
        standards: [],
        points: [
          {
            name: 'rail 1000 bar',
            nominal: 1000,
            unit: 'bar',
            asFound: 1008,
            lowerTolerance: -5,
            upperTolerance: 5,
            asFoundResult: 'fail',
          },
        ],
        adjusted: false,
        asFoundResult: 'fail',
        calibratedAt: at(0.05),
      },
      signature: { password: PW.tech, meaning: 'performed' },
    });
    expect(entry.status, entry.text).toBe(201);
    const k = await caseOf('RIG-01');
    expect(k).toMatchObject({ state: 'open', calibrationId: entry.body.calibration.id });
    const rejected = await call(
      'quality',
      'POST',
      `/calibrations/${encodeURIComponent(entry.body.calibration.id)}/reject`,
      {
        password: PW.quality,
        meaning: 'rejected',
        reason: '1008 was typed for 1000.8',
      },
    );
    expect(rejected.status, rejected.text).toBe(200);
    expect(await caseOf('RIG-01')).toMatchObject({ state: 'closed', closedReason: 'voided' });
  });
});
