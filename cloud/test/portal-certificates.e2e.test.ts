import { createHash } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DESKTOP,
  PHONE,
  sidewaysOverflow,
  type Browser,
  startPortal,
  type PortalFixture,
} from './helpers/browser.js';
import { TestEdge } from './helpers/edge.js';
import { dccXml, tinyPdf } from './helpers/certificates.js';
import { readDcc } from '../src/calibration/dcc.js';

/**
 * A technician attaches the laboratory's certificates to a calibration in Chromium against the
 * cloud as a real process: a PDF, then the Digital Calibration Certificate (DCC), whose one
 * differing point is named on the calibration; the calibration that cites another certificate
 * for its reference standard than the register's is flagged. Opened at 390 and 1280 px: nothing
 * scrolls sideways. Screenshots go to test-results/screenshots/.
 */

describe('calibration certificates in a browser', () => {
  let portal: PortalFixture;
  let b: Browser;
  let page: Page;
  let url = '';
  let calibrationId = '';
  const at = new Date(Date.now() - 2 * 86_400_000).toISOString();

  const user = (role: string) => portal.user(role);
  const api = (method: string, p: string, body?: unknown) => portal.api('technician', method, p, body);

  beforeAll(async () => {
    portal = await startPortal('certs');
    ({ url, page, browser: b } = portal);
    await api('POST', '/equipment', {
      tag: 'STD-PRS-0007',
      siteId: 'plant-1',
      type: 'dead-weight tester',
      intervalDays: 365,
      referenceStandard: { certificate: 'DKD-K-1207-2026' },
    });
    await api('POST', '/equipment', {
      tag: 'PT-CERT-01',
      siteId: 'plant-1',
      type: 'pressure transducer',
      intervalDays: 180,
    });
    const u = user('technician');
    const out = await api('POST', '/calibrations', {
      equipment: 'PT-CERT-01',
      enteredBy: 'A. Smith (level 3)',
      body: {
        technician: 'A. Smith (level 3)',
        certificate: { number: 'DKD-K-4711-2026' },
        standards: [{ id: 'STD-PRS-0007', certificate: 'CERT-PRS-0007-2025-0412' }],
        points: [
          {
            name: 'p@800',
            nominal: 800,
            unit: 'bar',
            asFound: 800.4,
            lowerTolerance: -2,
            upperTolerance: 2,
            asFoundResult: 'pass',
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
        asFoundResult: 'pass',
        calibratedAt: at,
      },
      signature: { password: u.password, meaning: 'performed' },
    });
    calibrationId = out.calibration.id;
  }, 120_000);

  afterAll(async () => {
    await portal?.close();
  });

  it('attaches a PDF and a DCC with one differing point, and shows the flags on the calibration', async () => {
    await portal.signIn('technician');
    await page.goto(`${url}/#/equipment/PT-CERT-01`);
    const cal = page.getByTestId('calibration').first();
    await cal.waitFor();
    // The standard's certificate cited is not the register's: flagged, not refused.
    expect(await cal.getByTestId('traceability-flagged').textContent()).toContain(
      "STD-PRS-0007: the certificate cited is CERT-PRS-0007-2025-0412, the register's current one is DKD-K-1207-2026",
    );
    const panel = cal.getByTestId('certificates');
    expect(await panel.textContent()).toContain('None attached.');

    const pdf = tinyPdf('Calibration certificate DKD-K-4711-2026');
    await panel
      .getByTestId('certificate-input')
      .setInputFiles({ name: 'DKD-K-4711-2026.pdf', mimeType: 'application/pdf', buffer: pdf });
    await panel.getByTestId('certificate-attach').click();
    await panel.getByTestId('certificate-file').first().waitFor();

    const xml = dccXml({
      number: 'DKD-K-4711-2026',
      date: at.slice(0, 10),
      points: [
        { name: 'p@800', nominal: 800, asFound: 800.4, unit: '\\bar', uncertainty: 0.2 },
        { name: 'p@1600', nominal: 1600, asFound: 1601.9, unit: '\\bar' },
      ],
    });
    // The browser's type for the file is not what decides: the content is.
    await panel.getByTestId('certificate-input').setInputFiles({
      name: 'DKD-K-4711-2026.xml',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(xml),
    });
    await panel.getByTestId('certificate-attach').click();
    await panel.getByTestId('dcc-differences').waitFor();
    const diffs = await panel.getByTestId('dcc-difference').allTextContents();
    expect(diffs).toEqual(['p@1600: as found 1601.9 bar on the certificate, 1600.6 bar entered']);
    expect(await panel.getByTestId('certificate-file').count()).toBe(2);

    // The download link serves the stored bytes (the session's cookie, same origin).
    const href = await panel.getByTestId('certificate-download').first().getAttribute('href');
    const got = await page.request.get(`${url}${href}`);
    expect(got.status()).toBe(200);
    expect(got.headers()['content-type']).toMatch(/^application\/pdf/);
    expect(
      createHash('sha256')
        .update(await got.body())
        .digest('hex'),
    ).toBe(createHash('sha256').update(pdf).digest('hex'));

    // The calibration as a DCC: the download link serves DCC 3.3.0 XML that the DCC import reads back
    // with the calibration's certificate number and points.
    const dccHref = await panel.getByTestId('dcc-export').getAttribute('href');
    const exported = await page.request.get(`${url}${dccHref}`);
    expect(exported.status()).toBe(200);
    expect(exported.headers()['content-type']).toMatch(/^application\/xml/);
    const exportedXml = await exported.text();
    const back = readDcc(exportedXml);
    expect(back).toMatchObject({ schemaVersion: '3.3.0', certificateNumber: 'DKD-K-4711-2026' });
    expect(back.points.map((p) => [p.name, p.nominal, p.asFound, p.unit])).toEqual([
      ['p@800', 800, 800.4, 'bar'],
      ['p@1600', 1600, 1600.6, 'bar'],
    ]);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      panel.getByTestId('dcc-export').click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^PT-CERT-01-.*\.dcc\.xml$/);

    // Still there after a reload; nothing scrolls sideways on a phone or a desktop.
    for (const size of [DESKTOP, PHONE]) {
      await page.setViewportSize(size);
      await page.reload();
      await page.getByTestId('dcc-difference').first().waitFor();
      await cal.scrollIntoViewIfNeeded();
      expect(await sidewaysOverflow(page)).toEqual({ px: 0, widest: null });
      await b.shot(`certificates-${size.width}`);
      await panel.getByTestId('dcc-export').scrollIntoViewIfNeeded();
      await b.shot(`certificates-dcc-export-${size.width}`, false);
    }
    await page.setViewportSize(DESKTOP);
    expect(calibrationId).toMatch(/^manual:/);
    expect(b.errors).toEqual([]);
  }, 120_000);

  it('records a calibration filled from the laboratory’s DCC, and attaches the DCC to it', async () => {
    const u = user('technician');
    await api('POST', '/equipment', {
      tag: 'PT-CERT-02',
      siteId: 'plant-1',
      type: 'pressure transducer',
      intervalDays: 180,
    });
    // The laboratory's certificate: the DCC export of PT-CERT-01's calibration (points with limits).
    const lab = await page.request.get(`${url}/api/v1/calibrations/${encodeURIComponent(calibrationId)}/dcc`);
    expect(lab.status()).toBe(200);
    const xml = await lab.text();
    await page.goto(`${url}/#/calibrations/new/PT-CERT-02`);
    await page.getByTestId('dcc-fill-input').setInputFiles({
      name: 'DKD-K-4711-2026.xml',
      mimeType: 'application/xml',
      buffer: Buffer.from(xml),
    });
    await page.getByTestId('dcc-filled').waitFor();
    expect(await page.getByLabel('Certificate number (optional)').inputValue()).toBe('DKD-K-4711-2026');
    expect(await page.getByLabel('Calibrated at (UTC)').inputValue()).toMatch(
      new RegExp(`^${at.slice(0, 10)}T`),
    );
    const rows = page.getByTestId('point-row');
    expect(await rows.count()).toBe(2);
    expect(await page.locator('#f-points-1-asFound').inputValue()).toBe('1600.6');
    expect(await page.locator('#f-points-1-upperTolerance').inputValue()).toBe('4');
    expect(await rows.nth(1).getByTestId('point-limits').textContent()).toContain('1596 … 1604');
    expect(await rows.nth(1).getByTestId('live-asFound').textContent()).toBe('pass');
    for (const size of [PHONE, DESKTOP]) {
      await page.setViewportSize(size);
      await page.getByTestId('dcc-filled').scrollIntoViewIfNeeded();
      expect(await sidewaysOverflow(page)).toEqual({ px: 0, widest: null });
      await b.shot(`record-from-dcc-${size.width}`, false);
    }
    await page.getByLabel('Performed by (name and qualification)').fill('A. Smith (level 3)');
    await page.getByLabel('My password').fill(u.password);
    await page.getByRole('button', { name: 'Sign and record' }).click();
    const attached = page.getByTestId('record-dcc-attached');
    await attached.waitFor();
    expect(await attached.textContent()).toContain('it agrees with what was recorded');
    const cals = await api('GET', '/equipment/PT-CERT-02/calibrations');
    expect(cals.items).toHaveLength(1);
    const certs = await api('GET', `/calibrations/${encodeURIComponent(cals.items[0].id)}/certificates`);
    expect(certs.items).toHaveLength(1);
    expect(certs.items[0]).toMatchObject({ kind: 'dcc', filename: 'DKD-K-4711-2026.xml', differences: [] });
    expect(certs.items[0].sha256).toBe(createHash('sha256').update(xml).digest('hex'));
    await b.shot('record-from-dcc-recorded-1280', false);
    expect(b.errors).toEqual([]);
  }, 90_000);

  it('flags the calibrations made with a standard found out of tolerance later, and shows the chain on the standard', async () => {
    const u = user('technician');
    // STD-PRS-0007 was good 30 days ago; PT-CERT-01 was calibrated with it 2 days ago; today it fails.
    const cal = (tag: string, daysAgo: number, fail: boolean, standards: unknown[] = []) =>
      api('POST', '/calibrations', {
        equipment: tag,
        enteredBy: 'Cal lab',
        body: {
          standards,
          points: [
            {
              name: 'p@2000',
              nominal: 2000,
              unit: 'bar',
              asFound: fail ? 2003 : 2000.1,
              lowerTolerance: -0.8,
              upperTolerance: 0.8,
              asFoundResult: fail ? 'fail' : 'pass',
            },
          ],
          adjusted: false,
          asFoundResult: fail ? 'fail' : 'pass',
          calibratedAt: new Date(Date.now() - daysAgo * 86_400_000).toISOString(),
        },
        signature: { password: u.password, meaning: 'performed' },
      });
    await cal('STD-PRS-0007', 30, false);
    // After its calibration with the standard, PT-CERT-01 measured one injector on RIG-C1 (its
    // gauge): the product end of the chain standard → instrument → product.
    await api('POST', '/equipment', {
      tag: 'RIG-C1',
      siteId: 'plant-1',
      type: 'injector test rig',
      intervalDays: 365,
    });
    const edge = await new TestEdge(url, { protocol: 'modbus', endpoint: 'tcp://127.0.0.1:5020' }).enroll(
      portal.seed.enrollmentToken,
      'rig-c1-edge',
    );
    // 52 injectors: more than one page of the chain's records (50).
    const injector = (n: number) =>
      edge.record('inspection', 'RIG-C1', new Date(Date.now() - 86_400_000 + n * 60_000).toISOString(), {
        partSerial: `INJ-CHAIN-${n}`,
        workOrder: 'WO-9',
        operator: 'op-17',
        result: 'pass',
        gauges: ['PT-CERT-01'],
        characteristics: [
          {
            name: 'rail pressure',
            nominal: 1000,
            lsl: 990,
            usl: 1010,
            measured: 1003,
            unit: 'bar',
            result: 'pass',
          },
        ],
      });
    await edge.ingest(Array.from({ length: 52 }, (_, i) => injector(i + 1)));
    const failed = await cal('STD-PRS-0007', 0.01, true);
    await page.goto(`${url}/#/equipment/PT-CERT-01`);
    await page.reload(); // the same page as before: load it again
    const flagged = page.getByTestId('calibration').first().getByTestId('traceability-flagged');
    await flagged.waitFor();
    expect(await flagged.textContent()).toContain(
      `STD-PRS-0007: found out of tolerance on ${new Date().toISOString().slice(0, 10)} (calibration ${failed.calibration.id})`,
    );
    await page.goto(`${url}/#/equipment/STD-PRS-0007`);
    const chain = page.getByTestId('suspect-chain');
    await chain.waitFor();
    const links = await chain.getByTestId('chain-link').allTextContents();
    expect(links).toHaveLength(1);
    expect(links[0]).toContain('PT-CERT-01');
    expect(links[0]).toContain('(no valid calibration since)');
    expect(links[0]).toContain('52 records made since');
    // Each part by name: the first page, then the next.
    const parts = () => chain.getByTestId('chain-record-part').allTextContents();
    await chain.getByTestId('chain-record').first().waitFor();
    expect(await parts()).toHaveLength(50);
    const first = await chain.getByTestId('chain-record').first().textContent();
    expect(first).toContain('INJ-CHAIN-1');
    expect(first).toContain('PT-CERT-01');
    expect(first).toContain('RIG-C1');
    expect(first).toContain('1003');
    await chain.getByTestId('chain-more').click();
    await chain.getByTestId('chain-more').waitFor({ state: 'detached' });
    expect(await parts()).toEqual(Array.from({ length: 52 }, (_, i) => `INJ-CHAIN-${i + 1}`));
    expect(await chain.getByTestId('chain-csv').getAttribute('href')).toBe(
      '/api/v1/equipment/STD-PRS-0007/suspect-chain/records?format=csv&limit=10000',
    );
    for (const size of [PHONE, DESKTOP]) {
      await page.setViewportSize(size);
      await chain.locator('#chain-title').evaluate((h) => h.scrollIntoView());
      expect(await sidewaysOverflow(page)).toEqual({ px: 0, widest: null });
      await b.shot(`suspect-chain-${size.width}`, false);
    }
    expect(b.errors).toEqual([]);
  }, 60_000);

  it('tells a tenant administrator who makes new tenants (there is no cross-tenant account)', async () => {
    await portal.signIn('admin');
    await page.goto(`${url}/#/admin/sites`);
    const note = page.getByTestId('new-tenant-note');
    await note.waitFor();
    expect(await note.textContent()).toContain('rigtrace-cloud tenant create --id ID --name NAME');
    await page.setViewportSize(PHONE);
    await note.scrollIntoViewIfNeeded();
    expect(await sidewaysOverflow(page)).toEqual({ px: 0, widest: null });
    await b.shot('sites-new-tenant-note-390');
    await page.setViewportSize(DESKTOP);
    expect(b.errors).toEqual([]);
  }, 60_000);
});
