import { createHash } from 'node:crypto';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccounts } from '../src/access/accounts.js';
import type { Role } from '../src/access/policy.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { apiCall, signIn, type Session } from './helpers/signed-in.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';
import { dccXml, tinyPdf } from './helpers/certificates.js';
import { readDcc } from '../src/calibration/dcc.js';

const PW: Record<string, string> = {
  tech: 'torque wrench on shelf 3',
  tech2: 'second bench in room 12',
  cleared: 'export desk key holder 42',
  scoped: 'plant two manager desk 9',
  auditor: 'reads every trail entry',
};
const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();
const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64');
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

const body = (o: {
  at: string;
  asFound?: number;
  fail?: boolean;
  standards?: { id: string; certificate?: string }[];
  certificate?: string;
}) => ({
  technician: 'A. Smith (level 3)',
  ...(o.certificate ? { certificate: { number: o.certificate } } : {}),
  standards: o.standards ?? [],
  points: [
    {
      name: 'p@800',
      nominal: 800,
      unit: 'bar',
      asFound: o.asFound ?? (o.fail ? 806 : 800.4),
      lowerTolerance: -2,
      upperTolerance: 2,
      asFoundResult: o.fail ? 'fail' : 'pass',
    },
    {
      name: 'p@1600',
      nominal: 1600,
      unit: 'bar',
      asFound: 1600.6,
      lowerTolerance: -4,
      upperTolerance: 4,
      asFoundResult: 'pass',
    },
  ],
  adjusted: false,
  asFoundResult: o.fail ? 'fail' : 'pass',
  calibratedAt: o.at,
});

describe.each(BACKENDS)(
  'calibration certificates and traceability that follows the data on %s',
  (backend) => {
    let storage: TestStorage;
    let cloud: RunningCloud;
    let apiToken = '';
    const s: Record<string, Session> = {};
    const call = (who: string, method: string, p: string, b?: unknown) =>
      apiCall(cloud.url, who === 'token' ? apiToken : s[who]!, method, p, b);
    const enc = encodeURIComponent;
    const calibrate = async (who: string, tag: string, b: ReturnType<typeof body>) => {
      const r = await call(who, 'POST', '/calibrations', {
        equipment: tag,
        enteredBy: 'A. Smith',
        body: b,
        signature: { password: PW[who], meaning: 'performed' },
      });
      expect(r.status, r.text).toBe(201);
      return r.body.calibration as { id: string; traceability: { status: string; issues: string[] } };
    };
    const calibrationOf = async (tag: string, id: string) =>
      (
        (await call('tech', 'GET', `/equipment/${enc(tag)}/calibrations`)).body.items as {
          id: string;
          valid: boolean;
          traceability: { status: string; issues: string[] };
        }[]
      ).find((c) => c.id === id)!;
    const audit = async () =>
      ((await call('auditor', 'GET', '/audit?limit=1000')).body.items as { entry: any }[]).map(
        (i) => i.entry,
      );

    setupOrFailEach(async () => {
      storage = await testStorage(backend);
      const cfg = loadCloudConfig({}, storage.overrides);
      const store = await openStore(cfg);
      await store.tenancy.createTenant('acme', 'Acme');
      await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
      await store.tenancy.createSite('acme', 'plant-2', 'Plant 2');
      apiToken = await store.tenancy.createApiToken('acme', 'reader');
      const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
      const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
      const users: [string, Role, string[] | null, boolean][] = [
        ['tech', 'technician', null, false],
        ['tech2', 'technician', null, false],
        ['cleared', 'admin', null, true],
        ['scoped', 'manager', ['plant-2'], false],
        ['auditor', 'auditor', null, false],
      ];
      for (const [who, role, sites, usPerson] of users)
        await accounts.users.create(by, 'acme', {
          email: `${who}@acme.example`,
          name: `${who} name`,
          role,
          sites,
          password: PW[who]!,
          mustChangePassword: false,
          usPerson,
        });
      await store.db.close();
      cloud = await startCloud(
        loadCloudConfig({}, { ...storage.overrides, port: '0', certificateMaxBytes: '65536' }),
        pino({ level: 'silent' }),
      );
      for (const [who] of users) s[who] = await signIn(cloud.url, 'acme', `${who}@acme.example`, PW[who]!);
      const reg = async (who: string, e: Record<string, unknown>) => {
        const r = await call(who, 'POST', '/equipment', {
          siteId: 'plant-1',
          type: 'transducer',
          intervalDays: 180,
          ...e,
        });
        expect(r.status, r.text).toBe(201);
      };
      await reg('tech', { tag: 'PT-RAIL-03' });
      await reg('tech', { tag: 'PT-RAIL-04' });
      await reg('tech', { tag: 'PT-RAIL-05' });
      await reg('cleared', { tag: 'PT-ITAR-01', exportControl: { regime: 'ITAR' } });
      await reg('tech', {
        tag: 'STD-PRS-0007',
        type: 'reference standard',
        intervalDays: 365,
        referenceStandard: { certificate: 'DKD-K-1207-2026' },
      });
      await reg('tech', {
        tag: 'STD-PRS-0009',
        type: 'reference standard',
        intervalDays: 365,
        referenceStandard: {},
      });
      await reg('tech', {
        tag: 'STD-PRS-0011',
        type: 'reference standard',
        intervalDays: 365,
        referenceStandard: { dueDate: ago(400).slice(0, 10) },
      });
    });
    afterAll(async () => {
      await cloud?.close();
      await storage?.cleanup();
    });

    it('stores a PDF certificate with its SHA-256 on the audit trail and serves the same bytes back', async () => {
      const cal = await calibrate('tech', 'PT-RAIL-03', body({ at: ago(3), certificate: 'LAB-2026-0412' }));
      const pdf = tinyPdf('Certificate LAB-2026-0412');
      // The name says XML; the content decides.
      const up = await call('tech', 'POST', `/calibrations/${enc(cal.id)}/certificates`, {
        filename: 'LAB-2026-0412.xml',
        content: b64(pdf),
      });
      expect(up.status, up.text).toBe(201);
      expect(up.body).toMatchObject({
        kind: 'pdf',
        mediaType: 'application/pdf',
        size: pdf.length,
        sha256: sha(pdf),
        equipment: 'PT-RAIL-03',
        dcc: null,
        differences: [],
      });
      const list = await call('token', 'GET', `/calibrations/${enc(cal.id)}/certificates`);
      expect(list.status).toBe(200);
      expect(list.body.items.map((i: { id: string }) => i.id)).toEqual([up.body.id]);
      const file = await fetch(`${cloud.url}/api/v1/calibrations/${enc(cal.id)}/certificates/${up.body.id}`, {
        headers: { authorization: `Bearer ${apiToken}` },
      });
      expect(file.status).toBe(200);
      expect(file.headers.get('content-type')).toMatch(/^application\/pdf/);
      expect(file.headers.get('x-content-sha256')).toBe(sha(pdf));
      expect(file.headers.get('content-disposition')).toMatch(/^attachment; filename="LAB-2026-0412.xml"/);
      expect(Buffer.from(await file.arrayBuffer()).equals(pdf)).toBe(true);
      const entry = (await audit()).find((e) => e.action === 'calibration.certificate.attach');
      expect(entry).toMatchObject({
        outcome: 'success',
        target: { type: 'calibration', id: cal.id },
        after: { sha256: sha(pdf), size: pdf.length, kind: 'pdf', certificate: up.body.id },
      });
    });

    it('reads a DCC and names the one point that differs from what was entered', async () => {
      const at = ago(2);
      const cal = await calibrate('tech', 'PT-RAIL-04', body({ at, certificate: 'DKD-K-4711-2026' }));
      const xml = dccXml({
        number: 'DKD-K-4711-2026',
        date: at.slice(0, 10),
        points: [
          { name: 'p@800', nominal: 800, asFound: 800.4, unit: '\\bar', uncertainty: 0.2 },
          { name: 'p@1600', nominal: 1600, asFound: 1601.9, unit: '\\bar' },
        ],
      });
      const up = await call('tech', 'POST', `/calibrations/${enc(cal.id)}/certificates`, {
        filename: 'cert.bin',
        content: b64(xml),
      });
      expect(up.status, up.text).toBe(201);
      expect(up.body).toMatchObject({ kind: 'dcc', mediaType: 'application/xml', sha256: sha(xml) });
      expect(up.body.dcc).toMatchObject({
        schemaVersion: '3.3.0',
        certificateNumber: 'DKD-K-4711-2026',
        points: [
          { name: 'p@800', unit: 'bar', nominal: 800, asFound: 800.4, uncertainty: 0.2 },
          { name: 'p@1600', unit: 'bar', nominal: 1600, asFound: 1601.9 },
        ],
      });
      expect(up.body.differences).toEqual([
        {
          field: 'asFound',
          point: 'p@1600',
          certificate: 1601.9,
          entered: 1600.6,
          message: 'p@1600: as found 1601.9 bar on the certificate, 1600.6 bar entered',
        },
      ]);
      const file = await fetch(`${cloud.url}/api/v1/calibrations/${enc(cal.id)}/certificates/${up.body.id}`, {
        headers: { authorization: `Bearer ${apiToken}` },
      });
      expect(file.headers.get('content-type')).toMatch(/^application\/xml/);
      expect(await file.text()).toBe(xml);
      // Another certificate number and date are differences too.
      const other = await call('tech', 'POST', `/calibrations/${enc(cal.id)}/certificates`, {
        filename: 'other.xml',
        content: b64(
          dccXml({
            number: 'DKD-K-9999-2026',
            date: '2020-01-01',
            points: [
              { name: 'p@800', nominal: 800, asFound: 800.4, unit: '\\bar' },
              { name: 'p@1600', nominal: 1600, asFound: 1600.6, unit: '\\bar' },
            ],
          }),
        ),
      });
      expect(other.body.differences.map((d: { field: string }) => d.field)).toEqual([
        'certificate',
        'calibratedAt',
      ]);
    });

    it('refuses what is not a PDF or a DCC, an XML entity declaration, and a file over the limit', async () => {
      const cal = await calibrate('tech', 'PT-RAIL-05', body({ at: ago(1) }));
      const post = (content: string, filename = 'cert.pdf') =>
        call('tech', 'POST', `/calibrations/${enc(cal.id)}/certificates`, { filename, content });
      const text = await post(b64('just some text, %PDF- later'));
      expect(text.status).toBe(400);
      expect(text.type).toMatch(/problem\+json/);
      expect(text.body.errors[0]).toMatchObject({ path: 'content' });
      expect((await post(b64('<?xml version="1.0"?><invoice xmlns="urn:x"/>'))).status).toBe(400);
      const xxe = dccXml({
        number: 'X',
        date: '2026-01-01',
        points: [{ name: 'p@800', nominal: 800, asFound: 800, unit: '\\bar' }],
        doctype: '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
      });
      const refused = await post(b64(xxe));
      expect(refused.status).toBe(400);
      expect(refused.body.errors[0].message).toMatch(/DOCTYPE/);
      const big = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(70_000, 0x20)]);
      const tooBig = await post(b64(big));
      expect(tooBig.status).toBe(413);
      expect(tooBig.type).toMatch(/problem\+json/);
      expect((await post(b64('%PDF-1.4'), '../../etc/passwd')).status).toBe(400);
      expect((await call('tech', 'GET', `/calibrations/${enc(cal.id)}/certificates`)).body.items).toEqual([]);
      // Reading roles may not attach.
      expect(
        (
          await call('auditor', 'POST', `/calibrations/${enc(cal.id)}/certificates`, {
            filename: 'a.pdf',
            content: b64('%PDF-1.4'),
          })
        ).status,
      ).toBe(403);
    });

    it('serves certificates only to viewers of the equipment: other sites and uncleared readers get 404', async () => {
      const cal = await calibrate('tech', 'PT-RAIL-05', body({ at: ago(1) }));
      const up = await call('tech', 'POST', `/calibrations/${enc(cal.id)}/certificates`, {
        filename: 'c.pdf',
        content: b64(tinyPdf('plant 1')),
      });
      expect(up.status).toBe(201);
      const scoped = await call('scoped', 'GET', `/calibrations/${enc(cal.id)}/certificates`);
      expect(scoped.status).toBe(404);
      expect(
        (await call('scoped', 'GET', `/calibrations/${enc(cal.id)}/certificates/${up.body.id}`)).status,
      ).toBe(404);
      expect(
        (await call('tech', 'GET', `/calibrations/${enc(cal.id)}/certificates/${up.body.id}`)).status,
      ).toBe(200);

      const itar = await calibrate('cleared', 'PT-ITAR-01', body({ at: ago(1) }));
      const secret = await call('cleared', 'POST', `/calibrations/${enc(itar.id)}/certificates`, {
        filename: 'itar.pdf',
        content: b64(tinyPdf('export controlled')),
      });
      expect(secret.status, secret.text).toBe(201);
      for (const who of ['token', 'tech'])
        expect(
          (await call(who, 'GET', `/calibrations/${enc(itar.id)}/certificates/${secret.body.id}`)).status,
        ).toBe(404);
      expect(
        (
          await call('tech', 'POST', `/calibrations/${enc(itar.id)}/certificates`, {
            filename: 'x.pdf',
            content: b64('%PDF-1.4'),
          })
        ).status,
      ).toBe(404);
      expect(
        (await call('cleared', 'GET', `/calibrations/${enc(itar.id)}/certificates/${secret.body.id}`)).status,
      ).toBe(200);
      const log = await call('cleared', 'GET', '/export-access?limit=1000');
      expect(
        log.body.items.some((i: { objectId?: string; object?: { id: string } }) =>
          JSON.stringify(i).includes(itar.id),
        ),
      ).toBe(true);
    });

    it('exports a calibration as a DCC that comes back through the DCC import with no difference', async () => {
      const reg = await call('tech', 'POST', '/equipment', {
        tag: 'PT-DCC-01',
        siteId: 'plant-1',
        type: 'pressure transducer',
        make: 'Kistler',
        model: '4067E',
        serial: 'SN 88123',
        intervalDays: 180,
      });
      expect(reg.status, reg.text).toBe(201);
      const at = ago(2);
      const b = {
        ...body({
          at,
          fail: true,
          certificate: 'RT-2026-0042',
          standards: [{ id: 'STD-PRS-0007', certificate: 'DKD-K-1207-2026' }],
        }),
        environment: { temperatureC: 20.5, humidityPct: 44 },
      };
      b.points[0] = { ...b.points[0]!, asLeft: 800.3, asLeftResult: 'pass', uncertainty: 0.25 } as never;
      Object.assign(b, { adjusted: true, asLeftResult: 'pass' });
      const cal = await calibrate('tech', 'PT-DCC-01', b);
      const got = await call('token', 'GET', `/calibrations/${enc(cal.id)}/dcc`);
      expect(got.status, got.text).toBe(200);
      expect(got.type).toMatch(/^application\/xml/);
      expect(got.headers.get('content-disposition')).toMatch(
        /^attachment; filename="PT-DCC-01-.*\.dcc\.xml"/,
      );
      expect(got.text).toContain('<dcc:value>SN 88123</dcc:value>');
      expect(got.text).toContain('<dcc:content lang="en">Acme</dcc:content>');
      expect(got.text).toContain('<dcc:value>DKD-K-1207-2026</dcc:value>');
      const d = readDcc(got.text);
      expect(d).toMatchObject({
        schemaVersion: '3.3.0',
        certificateNumber: 'RT-2026-0042',
        beginPerformanceDate: at.slice(0, 10),
        asFoundResult: 'fail',
        asLeftResult: 'pass',
      });
      expect(d.points).toEqual([
        {
          name: 'p@800',
          unit: 'bar',
          nominal: 800,
          asFound: 806,
          asLeft: 800.3,
          uncertainty: 0.25,
          lowerLimit: 798,
          upperLimit: 802,
          asFoundResult: 'fail',
          asLeftResult: 'pass',
        },
        {
          name: 'p@1600',
          unit: 'bar',
          nominal: 1600,
          asFound: 1600.6,
          asLeft: null,
          uncertainty: null,
          lowerLimit: 1596,
          upperLimit: 1604,
          asFoundResult: 'pass',
        },
      ]);
      // The round trip: attached to the same calibration, the exported DCC agrees with it.
      const up = await call('tech', 'POST', `/calibrations/${enc(cal.id)}/certificates`, {
        filename: 'export.xml',
        content: b64(got.text),
      });
      expect(up.status, up.text).toBe(201);
      expect(up.body.kind).toBe('dcc');
      expect(up.body.dcc.points).toEqual(d.points);
      expect(up.body.differences).toEqual([]);
      // Read without storing (to fill in a calibration being recorded): what the import reads.
      const read = await call('tech', 'POST', '/calibrations/dcc-read', {
        filename: 'x.xml',
        content: b64(got.text),
      });
      expect(read.status, read.text).toBe(200);
      expect(read.body.dcc).toEqual(d);
      const pdf = await call('tech', 'POST', '/calibrations/dcc-read', {
        filename: 'x.pdf',
        content: b64(tinyPdf('x')),
      });
      expect(pdf.status).toBe(400);
      expect(pdf.body.errors[0].message).toMatch(/DCC XML/);
      expect(
        (
          await call('auditor', 'POST', '/calibrations/dcc-read', {
            filename: 'x.xml',
            content: b64(got.text),
          })
        ).status,
      ).toBe(403);
      expect((await call('tech', 'GET', `/calibrations/${enc(cal.id)}/certificates`)).body.items.length).toBe(
        1,
      );
      // Read like the calibration: other sites, uncleared readers of export-controlled equipment: 404.
      expect((await call('scoped', 'GET', `/calibrations/${enc(cal.id)}/dcc`)).status).toBe(404);
      expect((await call('tech', 'GET', `/calibrations/${enc('manual:nope')}/dcc`)).status).toBe(404);
      const itar = await calibrate('cleared', 'PT-ITAR-01', body({ at: ago(1) }));
      for (const who of ['token', 'tech'])
        expect((await call(who, 'GET', `/calibrations/${enc(itar.id)}/dcc`)).status).toBe(404);
      expect((await call('cleared', 'GET', `/calibrations/${enc(itar.id)}/dcc`)).status).toBe(200);
    });

    it('flags (does not refuse) a calibration citing another certificate than the standard’s in the register', async () => {
      const wrong = await calibrate(
        'tech',
        'PT-RAIL-03',
        body({ at: ago(1), standards: [{ id: 'STD-PRS-0007', certificate: 'CERT-PRS-0007-2025-0412' }] }),
      );
      expect(wrong.traceability.status).toBe('flagged');
      expect(wrong.traceability.issues).toEqual([
        "STD-PRS-0007: the certificate cited is CERT-PRS-0007-2025-0412, the register's current one is DKD-K-1207-2026",
      ]);
      const right = await calibrate(
        'tech',
        'PT-RAIL-04',
        body({ at: ago(1), standards: [{ id: 'STD-PRS-0007', certificate: 'DKD-K-1207-2026' }] }),
      );
      expect(right.traceability).toEqual({ status: 'ok', issues: [] });
    });

    it('re-evaluates calibrations made with a standard when its failure or a late calibration arrives', async () => {
      // STD-PRS-0009: good 100 days ago; PT-RAIL-05 calibrated with it 10 days ago (fine then).
      await calibrate('tech', 'STD-PRS-0009', body({ at: ago(100) }));
      const used = await calibrate(
        'tech',
        'PT-RAIL-05',
        body({ at: ago(10), standards: [{ id: 'STD-PRS-0009' }] }),
      );
      expect(used.traceability.status).toBe('ok');
      expect((await calibrationOf('PT-RAIL-05', used.id)).valid).toBe(true);
      // The standard fails 5 days ago: the instrument's calibration falls in its suspect window.
      const failed = await calibrate('tech2', 'STD-PRS-0009', body({ at: ago(5), fail: true }));
      const after = await calibrationOf('PT-RAIL-05', used.id);
      expect(after.traceability.status).toBe('flagged');
      expect(after.valid).toBe(false);
      expect(after.traceability.issues).toEqual([
        `STD-PRS-0009: found out of tolerance on ${ago(5).slice(0, 10)} (calibration ${failed.id}); used on ${ago(10).slice(0, 10)}, inside its suspect window`,
      ]);
      const entry = (await audit()).find(
        (e) => e.action === 'calibration.traceability' && e.target?.id === used.id,
      );
      expect(entry).toMatchObject({
        actor: { type: 'system' },
        before: { status: 'ok', issues: [] },
        after: { status: 'flagged', standard: 'STD-PRS-0009', cause: failed.id },
      });
      // The chain: standard → instrument (→ the records it made since).
      const chain = await call('tech', 'GET', `/equipment/STD-PRS-0009/suspect-chain`);
      expect(chain.status, chain.text).toBe(200);
      expect(chain.body.window.failedCalibration.id).toBe(failed.id);
      expect(chain.body.links).toEqual([
        {
          equipment: 'PT-RAIL-05',
          calibrationId: used.id,
          calibratedAt: expect.stringMatching(new RegExp(`^${ago(10).slice(0, 10)}T`)),
          // Its next valid calibration (yesterday's, from the tests above) ends what it measured on trust.
          until: expect.stringMatching(new RegExp(`^${ago(1).slice(0, 10)}T`)),
          suspectRecords: 0,
        },
      ]);
      expect((await call('scoped', 'GET', `/equipment/STD-PRS-0009/suspect-chain`)).status).toBe(404);
      // The failure was a wrong entry: rejected by a second person, it stops counting, and the flag it raised goes.
      const rejected = await call('tech', 'POST', `/calibrations/${enc(failed.id)}/reject`, {
        password: PW.tech,
        meaning: 'reviewed',
        reason: 'entered against the wrong standard',
      });
      expect(rejected.status, rejected.text).toBe(200);
      expect((await calibrationOf('PT-RAIL-05', used.id)).traceability).toEqual({ status: 'ok', issues: [] });

      // STD-PRS-0011: no calibration here and its registered certificate long past due: flagged …
      const late = await calibrate(
        'tech',
        'PT-RAIL-03',
        body({ at: ago(20), standards: [{ id: 'STD-PRS-0011' }] }),
      );
      expect(late.traceability.issues[0]).toMatch(/^STD-PRS-0011: its registered certificate was due/);
      // … until its calibration (done 30 days ago, entered late) arrives: the flag is lifted.
      await calibrate('tech', 'STD-PRS-0011', body({ at: ago(30) }));
      expect((await calibrationOf('PT-RAIL-03', late.id)).traceability).toEqual({ status: 'ok', issues: [] });
    });
  },
);
