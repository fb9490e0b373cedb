import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccounts } from '../src/access/accounts.js';
import { uncleared } from '../src/access/viewer.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { TestEdge } from './helpers/edge.js';
import { apiCall, signIn, type Session } from './helpers/signed-in.js';
import { createUsers, type TestUser } from './helpers/users.js';
import { BACKENDS, runAsOwner, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/**
 * Maintenance (ISO/IEC 17025 6.4.13 g, h) on both backends, through the API: events with who,
 * when, what and parts on the audit trail; a repair that needs a calibration before use keeps the
 * instrument tagged out (a record made with it raises the tag-out alert) until a valid calibration;
 * out of service by hand and back; preventive-maintenance plans with their own intervals; site
 * scope and export control on every read and write.
 */

const PW: Record<string, string> = {
  tech: 'torque wrench on shelf 3',
  quality: 'signs for the lab on fridays',
  auditor: 'reads every trail entry',
  scoped: 'second desk by the window',
  cleared: 'signed off the thrust stand',
};
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.now();
const at = (hoursAgo: number) => new Date(NOW - hoursAgo * HOUR).toISOString();
const dayFromToday = (days: number) => new Date(NOW + days * DAY).toISOString().slice(0, 10);

describe.each(BACKENDS)('maintenance on %s', (backend) => {
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
  /** An injector tested on RIG-01, its delivered quantity measured with the flow cell FC-07. */
  const test = (hoursAgo: number, part: string) =>
    envelope('inspection', 'RIG-01', at(hoursAgo), {
      partSerial: part,
      workOrder: 'WO-9',
      operator: 'op-17',
      result: 'pass',
      gauges: ['FC-07'],
      characteristics: [
        {
          name: 'fullLoad.deliveredQty',
          nominal: 60,
          lsl: 59.5,
          usl: 60.5,
          measured: 60.02,
          unit: 'mm3/stroke',
          gauge: 'FC-07',
          result: 'pass',
        },
      ],
    });
  /** A cycle of RIG-01 now. */
  const usage = () =>
    envelope('usage', 'RIG-01', new Date().toISOString(), { event: 'cycle', cycles: 1, operator: 'op-17' });
  const calibration = (hoursAgo: number, asFound: number, traceable = true) =>
    envelope('calibration', 'FC-07', at(hoursAgo), {
      technician: 'T-0117 M. Keller',
      standards: [
        {
          id: 'STD-FLW-0002',
          certificate: 'CERT-FLW-0002-2025-0093',
          ...(traceable ? {} : { dueDate: '2020-01-01' }),
        },
      ],
      points: [
        {
          name: 'full load',
          nominal: 60,
          unit: 'mm3/stroke',
          asFound,
          lowerTolerance: -0.33,
          upperTolerance: 0.33,
          asFoundResult: Math.abs(asFound - 60) <= 0.33 ? 'pass' : 'fail',
        },
      ],
      adjusted: false,
      asFoundResult: Math.abs(asFound - 60) <= 0.33 ? 'pass' : 'fail',
      calibratedAt: at(hoursAgo),
    });
  const ingest = (records: unknown[]) => edge.ingest(records);
  const tagOuts = async () =>
    (await call('auditor', 'GET', '/alerts')).body.items.filter(
      (a: { kind: string }) => a.kind === 'tag-out',
    );
  const auditActions = async () =>
    (await call('auditor', 'GET', '/audit?limit=1000')).body.items.map(
      (i: { entry: { action: string } }) => i.entry.action,
    );

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    await store.tenancy.createSite('acme', 'plant-2', 'Plant 2');
    apiToken = await store.tenancy.createApiToken('acme', 'reader');
    const enroll = await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const users: TestUser[] = [
      ['tech', 'technician', null, false],
      ['quality', 'manager', null, false],
      ['auditor', 'auditor', null, false],
      ['scoped', 'technician', ['plant-2'], false],
      ['cleared', 'technician', null, true],
    ];
    await createUsers(accounts, 'acme', users, PW);
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: process.env.DEBUG_LOG ? 'error' : 'silent' }),
    );
    for (const [who] of users) s[who] = await signIn(cloud.url, 'acme', `${who}@acme.example`, PW[who]!);
    for (const [tag, type, site] of [
      ['FC-07', 'flow cell', 'plant-1'],
      ['RIG-01', 'injector flow rig', 'plant-1'],
      ['PG-02', 'pressure gauge', 'plant-2'],
    ] as const)
      expect(
        (await call('tech', 'POST', '/equipment', { tag, siteId: site, type, intervalDays: 90 })).status,
      ).toBe(201);
    expect(
      (
        await call('cleared', 'POST', '/equipment', {
          tag: 'ITAR-01',
          siteId: 'plant-1',
          type: 'thrust bench',
          intervalDays: 90,
          exportControl: { regime: 'ITAR' },
        })
      ).status,
    ).toBe(201);
    edge = await new TestEdge(cloud.url, {
      protocol: 'opcua',
      endpoint: 'opc.tcp://bench.plant1.local:48400',
    }).enroll(enroll.token, 'line-1');
    // FC-07 calibrated and used before anything happened to it.
    await ingest([calibration(200, 60.05), test(30, 'INJ-1')]);
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('refuses a malformed event with a problem+json naming each field', async () => {
    const bad = await call('tech', 'POST', '/equipment/FC-07/maintenance/events', {
      kind: 'explosion',
      description: '',
      parts: [{ quantity: 0 }],
    });
    expect(bad.status).toBe(400);
    expect(bad.type).toContain('application/problem+json');
    expect(bad.body.code).toBe('CLOUD_VALIDATION');
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(
      ['description', 'kind', 'parts.0.name', 'parts.0.quantity'].sort(),
    );
    const future = await call('tech', 'POST', '/equipment/FC-07/maintenance/events', {
      kind: 'repair',
      description: 'replaced the seal',
      occurredAt: new Date(NOW + DAY).toISOString(),
    });
    expect(future.status).toBe(400);
    expect(future.body.errors).toEqual([{ path: 'occurredAt', message: 'must not be in the future' }]);
    const planOnRepair = await call('tech', 'POST', '/equipment/FC-07/maintenance/events', {
      kind: 'repair',
      description: 'replaced the seal',
      planId: '0b6c2f0e-2f0a-4c8e-9d7a-6d0f2a1b3c4d',
    });
    expect(planOnRepair.status).toBe(400);
    expect(planOnRepair.body.errors.map((e: { path: string }) => e.path)).toEqual(['planId']);
    expect(
      (
        await call('tech', 'POST', '/equipment/NOPE-1/maintenance/events', {
          kind: 'repair',
          description: 'x',
        })
      ).status,
    ).toBe(404);
    expect((await call('tech', 'GET', '/equipment/FC-07/maintenance')).body.events).toEqual([]);
  });

  it('a repair that needs a calibration tags the instrument out until a valid calibration, and its use raises an alert', async () => {
    const logged = await call('tech', 'POST', '/equipment/FC-07/maintenance/events', {
      kind: 'repair',
      occurredAt: at(10),
      description: 'Measuring chamber seal leaking; seal and O-rings replaced.',
      parts: [{ name: 'chamber seal', partNumber: 'FC-SEAL-12', quantity: 1 }, { name: 'O-ring 12x2' }],
      calibrationRequired: true,
    });
    expect(logged.status, logged.text).toBe(201);
    expect(logged.body).toMatchObject({
      equipment: 'FC-07',
      kind: 'repair',
      occurredAt: at(10),
      calibrationRequired: true,
      parts: [{ name: 'chamber seal', partNumber: 'FC-SEAL-12', quantity: 1 }, { name: 'O-ring 12x2' }],
      by: { email: 'tech@acme.example', name: 'tech name', role: 'technician' },
    });
    const log = (await call('auditor', 'GET', '/equipment/FC-07/maintenance')).body;
    expect(log.service).toMatchObject({
      outOfService: true,
      manual: null,
      calibrationRequired: { eventId: logged.body.id, kind: 'repair', since: at(10), metBy: null },
    });
    expect(log.events.map((e: { id: string }) => e.id)).toEqual([logged.body.id]);
    expect(await auditActions()).toContain('maintenance.event');
    // Only a valid calibration ends it: not a person.
    const early = await call('tech', 'POST', '/equipment/FC-07/return-to-service', {});
    expect(early.status).toBe(409);
    expect(early.body.detail).toContain('must pass a calibration first');

    // The test before the repair was made in good faith; the one after it is a tag-out. The
    // auditor is not cleared and ITAR-01 is flagged: alerts of unflagged equipment stay visible.
    expect(await tagOuts()).toEqual([]);
    await ingest([test(5, 'INJ-2')]);
    const alerts = await tagOuts();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: 'critical', tag: 'FC-07', siteId: 'plant-1' });
    expect(alerts[0].message).toContain('RIG-01 (with FC-07) was used on part INJ-2');
    expect(alerts[0].message).toContain('a calibration is required after the repair of');

    // A calibration that fails, or whose standard was not fit for use, does not end it.
    await ingest([calibration(4, 60.02, false)]);
    expect((await call('auditor', 'GET', '/equipment/FC-07/maintenance')).body.service.outOfService).toBe(
      true,
    );
    await ingest([calibration(3, 60.02)]);
    const after = (await call('auditor', 'GET', '/equipment/FC-07/maintenance')).body.service;
    expect(after.outOfService).toBe(false);
    expect(after.calibrationRequired.metBy).toMatchObject({ calibratedAt: at(3) });
    await ingest([test(2, 'INJ-3')]);
    expect(await tagOuts()).toHaveLength(1);
  });

  it('takes equipment out of service by hand and back, both on the audit trail', async () => {
    expect((await call('tech', 'POST', '/equipment/RIG-01/out-of-service', { reason: '' })).status).toBe(400);
    const out = await call('quality', 'POST', '/equipment/RIG-01/out-of-service', {
      reason: 'Hydraulic leak at the rail block',
    });
    expect(out.status, out.text).toBe(200);
    expect(out.body.service).toMatchObject({
      outOfService: true,
      manual: { reason: 'Hydraulic leak at the rail block', by: { email: 'quality@acme.example' } },
    });
    expect((await call('tech', 'POST', '/equipment/RIG-01/out-of-service', { reason: 'again' })).status).toBe(
      409,
    );
    const board = (await call('token', 'GET', '/maintenance')).body.items;
    expect(board.find((i: { tag: string }) => i.tag === 'RIG-01')).toMatchObject({
      siteId: 'plant-1',
      service: { outOfService: true },
    });

    const before = (await tagOuts()).length;
    await ingest([usage()]);
    const alerts = await tagOuts();
    expect(alerts).toHaveLength(before + 1);
    const rig = alerts.find((a: { tag: string }) => a.tag === 'RIG-01');
    expect(rig.message).toContain('RIG-01 was used at');
    expect(rig.message).toContain('out of service: Hydraulic leak at the rail block');

    const back = await call('tech', 'POST', '/equipment/RIG-01/return-to-service', {
      note: 'block resealed, leak test passed',
    });
    expect(back.status, back.text).toBe(200);
    expect(back.body.service.outOfService).toBe(false);
    expect(
      back.body.serviceHistory.map((h: { state: string; reason: string }) => [h.state, h.reason]),
    ).toEqual([
      ['in-service', 'block resealed, leak test passed'],
      ['out-of-service', 'Hydraulic leak at the rail block'],
    ]);
    expect((await call('tech', 'POST', '/equipment/RIG-01/return-to-service', {})).status).toBe(409);
    const actions = await auditActions();
    expect(actions).toContain('equipment.out-of-service');
    expect(actions).toContain('equipment.return-to-service');
  });

  it('the due-list report shows the next maintenance beside the calibration, and lists overdue maintenance', async () => {
    for (const tag of ['PUMP-PM-01', 'PUMP-PM-02']) {
      const r = await call('tech', 'POST', '/equipment', {
        tag,
        siteId: 'plant-1',
        type: 'test-oil pump',
        intervalDays: 365,
      });
      expect(r.status, r.text).toBe(201);
    }
    // PUMP-PM-01 calibrated yesterday (not due this month): listed only for its overdue maintenance.
    const cal = await call('tech', 'POST', '/calibrations', {
      equipment: 'PUMP-PM-01',
      enteredBy: 'tech name',
      body: {
        standards: [],
        points: [
          {
            name: 'flow@60',
            nominal: 60,
            unit: 'L/min',
            asFound: 60.1,
            lowerTolerance: -0.5,
            upperTolerance: 0.5,
            asFoundResult: 'pass',
          },
        ],
        adjusted: false,
        asFoundResult: 'pass',
        calibratedAt: at(24),
      },
      signature: { password: PW.tech, meaning: 'performed' },
    });
    expect(cal.status, cal.text).toBe(201);
    const plan = await call('tech', 'POST', '/equipment/PUMP-PM-01/maintenance/plans', {
      task: 'Replace pump seals',
      intervalDays: 90,
      firstDue: dayFromToday(-4),
    });
    expect(plan.status, plan.text).toBe(201);
    // PUMP-PM-02: never calibrated (listed for that), its maintenance due in ten days.
    expect(
      (
        await call('tech', 'POST', '/equipment/PUMP-PM-02/maintenance/plans', {
          task: 'Grease bearings',
          intervalDays: 30,
          firstDue: dayFromToday(10),
        })
      ).status,
    ).toBe(201);
    const queued = await call('auditor', 'POST', '/reports', {
      type: 'due-list',
      from: dayFromToday(0),
      to: dayFromToday(30),
      format: 'csv',
    });
    expect(queued.status, queued.text).toBe(202);
    const until = Date.now() + 60_000;
    for (;;) {
      const r = await call('auditor', 'GET', `/reports/${queued.body.id}`);
      if (r.body.state === 'done') {
        expect(r.body.summary).toMatchObject({ maintenanceOverdue: 1 });
        break;
      }
      expect(r.body.state).not.toBe('failed');
      expect(Date.now()).toBeLessThan(until);
      await new Promise((res) => setTimeout(res, 100));
    }
    const csv = (await call('auditor', 'GET', `/reports/${queued.body.id}/file`)).text;
    const [head, ...lines] = csv.trim().split(/\r?\n/);
    const cols = head!.split(',');
    const rows = lines.map((l) =>
      Object.fromEntries(l.split(',').map((v, i) => [cols[i], v.replace(/^"|"$/g, '')])),
    );
    expect(cols).toEqual(expect.arrayContaining(['pmTask', 'pmNextDue', 'pmDaysUntilDue', 'pmStatus']));
    expect(rows.find((r) => r.tag === 'PUMP-PM-01')).toMatchObject({
      status: 'current',
      pmTask: 'Replace pump seals',
      pmNextDue: dayFromToday(-4),
      pmDaysUntilDue: '-4',
      pmStatus: 'overdue',
      action: 'maintenance overdue by 4 d: Replace pump seals',
    });
    expect(rows.find((r) => r.tag === 'PUMP-PM-02')).toMatchObject({
      pmTask: 'Grease bearings',
      pmNextDue: dayFromToday(10),
      pmStatus: 'current',
      action: `never validly calibrated: withdraw until calibrated; maintenance due ${dayFromToday(10)}: Grease bearings`,
    });
    // Not the maintenance of equipment the reader may not see.
    expect(rows.some((r) => r.tag === 'ITAR-01')).toBe(false);
    expect((await call('tech', 'DELETE', `/maintenance/plans/${plan.body.id}`)).status).toBe(204);
  });

  it('preventive-maintenance plans have their own interval; the next task is due from the last one done', async () => {
    const bad = await call('tech', 'POST', '/equipment/RIG-01/maintenance/plans', {
      task: 'oil',
      intervalDays: 0,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(['intervalDays']);
    const plan = await call('tech', 'POST', '/equipment/RIG-01/maintenance/plans', {
      task: 'Replace test-oil filter',
      intervalDays: 30,
      firstDue: dayFromToday(-2),
    });
    expect(plan.status, plan.text).toBe(201);
    expect(plan.body).toMatchObject({
      nextDue: dayFromToday(-2),
      daysUntilDue: -2,
      status: 'overdue',
      lastDoneAt: null,
    });
    let item = (await call('auditor', 'GET', '/maintenance')).body.items.find(
      (i: { tag: string }) => i.tag === 'RIG-01',
    );
    expect(item.nextPm).toMatchObject({
      planId: plan.body.id,
      task: 'Replace test-oil filter',
      status: 'overdue',
    });

    const done = await call('tech', 'POST', '/equipment/RIG-01/maintenance/events', {
      kind: 'preventive',
      description: 'Filter replaced, 4 L test oil topped up',
      parts: [{ name: 'test-oil filter', partNumber: 'F-220', quantity: 1 }],
      planId: plan.body.id,
    });
    expect(done.status, done.text).toBe(201);
    let log = (await call('auditor', 'GET', '/equipment/RIG-01/maintenance')).body;
    expect(log.plans[0]).toMatchObject({ nextDue: dayFromToday(30), daysUntilDue: 30, status: 'current' });
    expect(log.nextPm).toMatchObject({ nextDue: dayFromToday(30) });

    const shorter = await call('tech', 'PATCH', `/maintenance/plans/${plan.body.id}`, { intervalDays: 5 });
    expect(shorter.status, shorter.text).toBe(200);
    expect(shorter.body).toMatchObject({ intervalDays: 5, nextDue: dayFromToday(5), status: 'due-soon' });
    expect((await call('tech', 'PATCH', `/maintenance/plans/${plan.body.id}`, {})).status).toBe(400);
    expect(await auditActions()).toEqual(
      expect.arrayContaining(['maintenance.plan.create', 'maintenance.plan.update']),
    );

    expect((await call('tech', 'DELETE', `/maintenance/plans/${plan.body.id}`)).status).toBe(204);
    log = (await call('auditor', 'GET', '/equipment/RIG-01/maintenance')).body;
    expect(log.plans[0]).toMatchObject({ status: 'retired', nextDue: null });
    expect(log.nextPm).toBeNull();
    item = (await call('auditor', 'GET', '/maintenance')).body.items.find(
      (i: { tag: string }) => i.tag === 'RIG-01',
    );
    expect(item).toBeUndefined();
    const onRetired = await call('tech', 'POST', '/equipment/RIG-01/maintenance/events', {
      kind: 'preventive',
      description: 'late',
      planId: plan.body.id,
    });
    expect(onRetired.status).toBe(409);
  });

  it('keeps other sites and export-controlled equipment out of every read and write', async () => {
    // A technician of plant-2 sees neither FC-07's log nor may change it; the answer is that of an absent tag.
    const hidden = await call('scoped', 'GET', '/equipment/FC-07/maintenance');
    const absent = await call('scoped', 'GET', '/equipment/NOPE-1/maintenance');
    expect(hidden.status).toBe(404);
    expect({ ...hidden.body, instance: undefined, detail: undefined }).toEqual({
      ...absent.body,
      instance: undefined,
      detail: undefined,
    });
    expect((await call('scoped', 'POST', '/equipment/FC-07/out-of-service', { reason: 'x' })).status).toBe(
      404,
    );
    expect(
      (await call('scoped', 'POST', '/equipment/PG-02/out-of-service', { reason: 'dropped on the floor' }))
        .status,
    ).toBe(200);
    const scopedBoard = (await call('scoped', 'GET', '/maintenance')).body.items.map(
      (i: { tag: string }) => i.tag,
    );
    expect(scopedBoard).toEqual(['PG-02']);

    // Export-controlled: the cleared technician logs and reads it; nobody else learns it exists.
    expect(
      (
        await call('cleared', 'POST', '/equipment/ITAR-01/maintenance/events', {
          kind: 'damage',
          description: 'Load cell cable crushed',
          calibrationRequired: true,
        })
      ).status,
    ).toBe(201);
    expect((await call('cleared', 'GET', '/equipment/ITAR-01/maintenance')).body.service.outOfService).toBe(
      true,
    );
    expect(
      (await call('cleared', 'GET', '/maintenance')).body.items.map((i: { tag: string }) => i.tag),
    ).toContain('ITAR-01');
    for (const who of ['tech', 'auditor', 'token']) {
      expect((await call(who, 'GET', '/equipment/ITAR-01/maintenance')).status, who).toBe(404);
      expect(
        (await call(who, 'GET', '/maintenance')).body.items.map((i: { tag: string }) => i.tag),
        who,
      ).not.toContain('ITAR-01');
    }
    expect((await call('tech', 'POST', '/equipment/ITAR-01/out-of-service', { reason: 'x' })).status).toBe(
      404,
    );
    // Export control's check of the named equipment (in the service): each refusal is a security
    // event on the audit trail, each access of the cleared technician is logged.
    const exportEntries = (
      (await call('auditor', 'GET', '/audit?limit=1000')).body.items as {
        entry: { action: string; outcome: string; actor: { type: string; email?: string } };
      }[]
    )
      .map((i) => i.entry)
      .filter((e) => e.action === 'export.access');
    const refusedTo = exportEntries
      .filter((e) => e.outcome === 'failure')
      .map((e) => e.actor.email ?? e.actor.type);
    expect(refusedTo.filter((x) => x === 'tech@acme.example').length).toBeGreaterThanOrEqual(2);
    expect(refusedTo).toEqual(expect.arrayContaining(['auditor@acme.example', 'api-token']));
    expect(
      exportEntries.filter((e) => e.outcome === 'success' && e.actor.email === 'cleared@acme.example').length,
    ).toBeGreaterThanOrEqual(2);
    // API tokens read, never write; auditors neither write.
    expect((await call('token', 'POST', '/equipment/RIG-01/out-of-service', { reason: 'x' })).status).toBe(
      403,
    );
    expect(
      (
        await call('auditor', 'POST', '/equipment/RIG-01/maintenance/events', {
          kind: 'repair',
          description: 'x',
        })
      ).status,
    ).toBe(403);
  });

  /** Generates a CSV report as the auditor and answers its rows by tag. */
  async function reportRows(body: Record<string, unknown>): Promise<Record<string, string>[]> {
    const queued = await call('auditor', 'POST', '/reports', { ...body, format: 'csv' });
    expect(queued.status, queued.text).toBe(202);
    const until = Date.now() + 60_000;
    for (;;) {
      const r = await call('auditor', 'GET', `/reports/${queued.body.id}`);
      if (r.body.state === 'done') break;
      expect(r.body.state).not.toBe('failed');
      expect(Date.now()).toBeLessThan(until);
      await new Promise((res) => setTimeout(res, 100));
    }
    const csv = (await call('auditor', 'GET', `/reports/${queued.body.id}/file`)).text;
    const [head, ...lines] = csv.trim().split(/\r?\n/);
    const cols = head!.split(',');
    return lines.map((l) =>
      Object.fromEntries(l.split(',').map((v, i) => [cols[i], v.replace(/^"|"$/g, '')])),
    );
  }

  /** SQL as the database owner (backdating a registration: the API never writes the past). */
  const ownerSql = async (sql: string): Promise<void> => void (await runAsOwner(storage, sql));

  it('the due-list report states the maintenance as it stood on its date, not today', async () => {
    expect(
      (
        await call('tech', 'POST', '/equipment', {
          tag: 'PUMP-ASOF',
          siteId: 'plant-1',
          type: 'test-oil pump',
          intervalDays: 365,
        })
      ).status,
    ).toBe(201);
    // Registered two months ago (so a report of last month lists it).
    await ownerSql(
      `UPDATE equipment SET created_at = '${new Date(NOW - 60 * DAY).toISOString()}' WHERE tag = 'PUMP-ASOF'`,
    );
    const filter = await call('tech', 'POST', '/equipment/PUMP-ASOF/maintenance/plans', {
      task: 'Replace filter',
      intervalDays: 30,
      firstDue: dayFromToday(-20),
    });
    expect(filter.status, filter.text).toBe(201);
    const hoses = await call('tech', 'POST', '/equipment/PUMP-ASOF/maintenance/plans', {
      task: 'Check hoses',
      intervalDays: 30,
      firstDue: dayFromToday(-25),
    });
    expect(hoses.status, hoses.text).toBe(201);
    // Both were due before the report's date; the filter was replaced two days ago and the hose
    // check retired today: neither had happened on the report's date.
    const done = await call('tech', 'POST', '/equipment/PUMP-ASOF/maintenance/events', {
      kind: 'preventive',
      planId: filter.body.id,
      description: 'filter replaced',
      occurredAt: at(48),
    });
    expect(done.status, done.text).toBe(201);
    expect((await call('tech', 'DELETE', `/maintenance/plans/${hoses.body.id}`)).status).toBe(204);

    const past = await reportRows({ type: 'due-list', from: dayFromToday(-40), to: dayFromToday(-10) });
    expect(past.find((r) => r.tag === 'PUMP-ASOF')).toMatchObject({
      pmTask: 'Check hoses',
      pmNextDue: dayFromToday(-25),
      pmDaysUntilDue: '-15',
      pmStatus: 'overdue',
    });
    // Today's report: the hose check is retired, the filter next due 30 days after it was done.
    const now = await reportRows({ type: 'due-list', from: dayFromToday(0), to: dayFromToday(30) });
    expect(now.find((r) => r.tag === 'PUMP-ASOF')).toMatchObject({
      pmTask: 'Replace filter',
      pmNextDue: dayFromToday(28),
      pmStatus: 'current',
    });
  });

  it('GET /due-list and the reminder digest list preventive maintenance, within site scope and export control', async () => {
    // FC-07 is calibrated (due in about 80 days): listed for its overdue maintenance only.
    const clean = await call('tech', 'POST', '/equipment/FC-07/maintenance/plans', {
      task: 'Clean the flow cell',
      intervalDays: 60,
      firstDue: dayFromToday(-3),
    });
    expect(clean.status, clean.text).toBe(201);
    expect(
      (
        await call('scoped', 'POST', '/equipment/PG-02/maintenance/plans', {
          task: 'Check the snubber',
          intervalDays: 90,
          firstDue: dayFromToday(5),
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await call('cleared', 'POST', '/equipment/ITAR-01/maintenance/plans', {
          task: 'Inspect the load cell mount',
          intervalDays: 30,
          firstDue: dayFromToday(-1),
        })
      ).status,
    ).toBe(201);
    const items = async (who: string, q = 'days=30') => {
      const r = await call(who, 'GET', `/due-list?${q}`);
      expect(r.status, r.text).toBe(200);
      return new Map<string, any>(
        r.body.sites.flatMap((s: { items: { tag: string }[] }) => s.items.map((i) => [i.tag, i])),
      );
    };
    const auditor = await items('auditor');
    expect(auditor.get('FC-07')).toMatchObject({
      status: 'current',
      nextPm: {
        planId: clean.body.id,
        task: 'Clean the flow cell',
        nextDue: dayFromToday(-3),
        daysUntilDue: -3,
        status: 'overdue',
      },
    });
    expect(auditor.get('PG-02')).toMatchObject({
      nextPm: { task: 'Check the snubber', nextDue: dayFromToday(5), daysUntilDue: 5, status: 'due-soon' },
    });
    // An item without a plan says so.
    expect(auditor.get('RIG-01')?.nextPm ?? null).toBeNull();
    expect(auditor.has('ITAR-01')).toBe(false);
    expect((await items('cleared')).get('ITAR-01')).toMatchObject({
      nextPm: { task: 'Inspect the load cell mount', status: 'overdue' },
    });
    // A user limited to plant 2 sees plant 2's maintenance only.
    const scoped = await items('scoped');
    expect([...scoped.keys()]).not.toContain('FC-07');
    expect(scoped.get('PG-02')?.nextPm).toMatchObject({ task: 'Check the snubber' });
    expect((await items('auditor', 'days=30&site=plant-2')).has('FC-07')).toBe(false);
    // As of a date before the task fell due, within 2 days: not listed for its maintenance.
    expect((await items('auditor', `asOf=${dayFromToday(-10)}&days=2`)).has('FC-07')).toBe(false);

    // The reminder digest (e-mail and webhook) of each site: its own equipment, never export-controlled.
    const plant1 = await cloud.reminders.digest(uncleared('acme'), 'plant-1', dayFromToday(0));
    expect(plant1.maintenance.map((m) => m.tag)).toContain('FC-07');
    expect(plant1.maintenance.find((m) => m.tag === 'FC-07')).toMatchObject({
      task: 'Clean the flow cell',
      status: 'overdue',
      nextDue: dayFromToday(-3),
      daysLeft: -3,
      type: 'flow cell',
    });
    expect(plant1.maintenance.map((m) => m.tag)).not.toContain('ITAR-01');
    expect(plant1.maintenance.map((m) => m.tag)).not.toContain('PG-02');
    expect(plant1.counts.maintenance).toBe(plant1.maintenance.length);
    const plant2 = await cloud.reminders.digest(uncleared('acme'), 'plant-2', dayFromToday(0));
    expect(plant2.maintenance.map((m) => [m.tag, m.status])).toEqual([['PG-02', 'due-soon']]);
  });
});
