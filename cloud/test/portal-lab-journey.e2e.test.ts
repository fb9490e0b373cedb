import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DESKTOP,
  PHONE,
  sidewaysOverflow,
  startPortal,
  type Browser,
  type PortalFixture,
} from './helpers/browser.js';
import { TestEdge } from './helpers/edge.js';

/**
 * Issue 17's "done when", as one lab's path through the portal (Chromium against the cloud as a
 * real process, nothing registered beforehand): the technician moves the register in from a CSV
 * (after a dry run), writes the transducer's procedure, installs the transducer in RIG-01's
 * "rail pressure" position, calibrates it against the procedure and attaches the laboratory's
 * certificate; RIG-01 tests injectors meanwhile (records from its edge). The next calibration
 * finds the transducer failed as found; its suspect list names the injectors RIG-01 tested since
 * the last good calibration, each "in RIG-01 / rail pressure". The technician logs the repair
 * (calibration required before use): the transducer is out of service. Each page the path ends on
 * is checked at 390 and 1280 px for sideways scrolling; screenshots in test-results/screenshots/.
 */

const DAY = 86_400_000;
const NOW = Date.now();
const daysAgo = (d: number) => new Date(NOW - d * DAY).toISOString();
/**
 * The lab's site keeps India time (UTC+05:30 all year, shown as "UTC+5:30"): the forms' times are
 * typed in it, and what the cloud stores is the UTC instant. The long zone name must not make the
 * phone's cards scroll sideways either.
 */
const ZONE = 'Asia/Kolkata';
/** A form's date-time value in the site's zone for d days ago (to the minute). */
const formTime = (d: number) => new Date(Date.parse(daysAgo(d)) + 330 * 60_000).toISOString().slice(0, 16);
/** The UTC instant that value stands for. */
const sentAt = (d: number) => `${daysAgo(d).slice(0, 16)}:00.000Z`;

/** The smallest file the cloud takes for a PDF certificate (typed by its `%PDF-` start). */
const PDF = Buffer.from(
  '%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n',
);

describe('a lab moves in and traces a failed rig sensor, all in the portal', () => {
  let portal: PortalFixture;
  let b: Browser;
  let page: Page;
  let url = '';
  /** RIG-01's edge. */
  let edge: TestEdge;
  const api = (role: string, method: string, p: string, body?: unknown) => portal.api(role, method, p, body);

  /**
   * An injector tested on RIG-01 (sent by the rig's edge); `named`: its rail pressure says it was
   * read at the rig's "rail pressure" position (RECORDS.md, "Positions").
   */
  const injectorTest = (d: number, part: string, named = false) =>
    edge.record('inspection', 'RIG-01', daysAgo(d), {
      partSerial: part,
      workOrder: 'WO-2026-118',
      operator: 'op-17',
      result: 'pass',
      characteristics: [
        {
          name: 'rail pressure',
          nominal: 1000,
          lsl: 990,
          usl: 1010,
          measured: 1004.1,
          unit: 'bar',
          result: 'pass',
          ...(named ? { position: 'rail pressure' } : {}),
        },
      ],
    });
  const ingest = (records: unknown[]) => edge.ingest(records);

  /** Records a calibration of the transducer from its procedure, through the form. */
  async function calibrate(d: number, asFound: string, verdict: 'pass' | 'fail') {
    await page.goto(`${url}/#/calibrations/new/PT-RIG01-RAIL`);
    await page.getByTestId('procedure-note').waitFor();
    expect(await page.getByTestId('procedure-note').textContent()).toContain('CP-PT-001 rev D');
    const row = page.getByTestId('point-row');
    await expect.poll(() => row.count()).toBe(1);
    expect(await page.locator('#f-points-0-name').inputValue()).toBe('1000 bar');
    expect(await page.locator('#f-points-0-name').isEditable()).toBe(false);
    expect(await row.getByTestId('point-limits').innerText()).toBe('995 … 1005 bar');
    expect(await page.getByRole('checkbox', { name: /STD-PRS-0007/ }).isChecked()).toBe(true);
    expect(await page.getByLabel(`Calibrated at (${ZONE})`).count()).toBe(1);
    await page.locator('#f-calibratedAt').fill(formTime(d));
    expect(await page.getByTestId('calibrated-at-utc').textContent()).toContain(
      `That is ${sentAt(d).slice(0, 10)} ${sentAt(d).slice(11, 19)} UTC.`,
    );
    await page.locator('#f-points-0-asFound').fill(asFound);
    expect(await row.getByTestId('live-asFound').textContent()).toBe(verdict);
    await page.getByLabel('Temperature (°C)').fill('20.5');
    await page.getByLabel('Relative humidity (%)').fill('44');
    await page.getByLabel('Performed by (name and qualification)').fill('T-0124 A. Novak (level 2)');
    await page.getByLabel('My password').fill(portal.user('technician').password);
    await page.getByRole('button', { name: 'Sign and record' }).click();
    await page.getByTestId('record-result').waitFor();
  }

  /** No sideways scrolling at 390 and 1280 px, and a screenshot of each. */
  async function checkWidths(name: string, ready: () => Promise<unknown>) {
    const problems: string[] = [];
    for (const size of [PHONE, DESKTOP]) {
      await page.setViewportSize(size);
      await page.reload();
      await ready();
      const o = await sidewaysOverflow(page);
      if (o.px > 0) problems.push(`${name} at ${size.width} px scrolls ${o.px} px (widest: ${o.widest})`);
      await b.shot(`journey-${name}-${size.width}`);
    }
    await page.setViewportSize(DESKTOP);
    expect(problems).toEqual([]);
  }

  beforeAll(async () => {
    portal = await startPortal('journey');
    ({ url, page, browser: b } = portal);
    edge = await new TestEdge(url, { protocol: 'modbus', endpoint: 'tcp://127.0.0.1:5020' }).enroll(
      portal.seed.enrollmentToken,
      'rig-01-edge',
    );
  }, 120_000);

  afterAll(async () => {
    await portal?.close();
  });

  it('imports the register, calibrates against a procedure with its certificate, installs the sensor, and traces its failure to the injectors', async () => {
    await api('admin', 'PUT', '/sites/plant-1', { timeZone: ZONE });
    await portal.signIn('technician');

    // 1. The register, from the old system's CSV: a dry run first, then the import.
    await portal.menu('Register');
    await page.getByTestId('import-register').click();
    await page.getByTestId('import-page').waitFor();
    const csv = [
      'Tag,Site ID,Type,Make,Model,Serial,Location,Owner,Interval days,Procedure id,Procedure revision,Reference certificate,Reference due date',
      'STD-PRS-0007,plant-1,dead-weight tester,DH-Budenberg,5201,D-9,metrology lab,ours,365,,,DKD-K-1207-2026,2027-06-30',
      'RIG-01,plant-1,injector test rig,RigTrace,flow rig,R-01,line 1,ours,365,,,,',
      'PT-RIG01-RAIL,plant-1,rail-pressure transducer,Kistler,4067E,KI4711203,RIG-01,ours,180,CP-PT-001,D,,',
    ].join('\n');
    await page.getByTestId('import-csv').fill(csv);
    await page.getByTestId('import-check').click();
    await expect
      .poll(() => page.getByTestId('import-result').textContent())
      .toContain('3 rows ready to import');
    expect(await page.getByTestId('import-problem').count()).toBe(0);
    await page.getByTestId('import-go').click();
    await page.getByTestId('import-done').waitFor();
    expect(await page.getByTestId('import-done').textContent()).toContain(
      'STD-PRS-0007, RIG-01, PT-RIG01-RAIL',
    );
    await portal.menu('Register');
    await expect.poll(() => page.getByTestId('register-row').count()).toBe(3);

    // 2. The transducer's procedure: one point, its limits, the standard it needs.
    await portal.menu('Procedures');
    await page.getByTestId('procedures-empty').waitFor();
    const form = page.getByTestId('procedure-form');
    await form.getByLabel('Procedure id').fill('CP-PT-001');
    await form.getByLabel('Revision').fill('D');
    await form.getByLabel('Title').fill('Rail-pressure transducer against the dead-weight tester');
    await form.getByLabel('Name of point 1').fill('1000 bar');
    await form.getByLabel('Unit of point 1').fill('bar');
    await form.getByLabel('Nominal of point 1').fill('1000');
    await form.getByLabel('± Tolerance of point 1').fill('5');
    await form.getByLabel('Required reference standards (asset tags, comma-separated)').fill('STD-PRS-0007');
    await form.getByRole('button', { name: 'Store revision' }).click();
    await page.locator('[data-testid=procedure][data-procedure="CP-PT-001"]').waitFor();

    // 3. The sensor goes into the rig: position "rail pressure" of RIG-01, from 60 days ago.
    await page.goto(`${url}/#/equipment/RIG-01`);
    await page.getByTestId('equipment-page').waitFor();
    await page.getByTestId('positions').locator('summary').click();
    await page.getByLabel('New position').fill('rail pressure');
    await page.getByRole('button', { name: 'Add position' }).click();
    const position = page.getByTestId('position');
    await position.getByTestId('install-device').click();
    const install = page.getByTestId('install-form');
    await install.getByLabel('Device (asset tag)').fill('PT-RIG01-RAIL');
    await install.getByLabel(/Installed from/).fill(formTime(60));
    await install.getByRole('button', { name: 'Install' }).click();
    await position.getByTestId('position-device').waitFor();
    expect(await position.getByTestId('position-device').textContent()).toContain('PT-RIG01-RAIL');

    // 4. Calibrated 30 days ago against the procedure (in tolerance), and its certificate attached.
    await calibrate(30, '1000.4', 'pass');
    await page.goto(`${url}/#/equipment/PT-RIG01-RAIL`);
    const cal = page.getByTestId('calibration').first();
    await cal.waitFor();
    const certs = cal.getByTestId('certificates');
    await certs
      .getByTestId('certificate-input')
      .setInputFiles({ name: 'DKD-K-4711-2026.pdf', mimeType: 'application/pdf', buffer: PDF });
    await certs.getByTestId('certificate-attach').click();
    await certs.getByTestId('certificate-file').first().waitFor();
    expect(await certs.getByTestId('certificate-file').first().textContent()).toContain(
      'DKD-K-4711-2026.pdf',
    );

    // RIG-01 tests injectors: one before that calibration, three after it.
    await ingest([
      injectorTest(40, 'INJ-0400'),
      injectorTest(20, 'INJ-0417'),
      injectorTest(10, 'INJ-0431', true),
      injectorTest(5, 'INJ-0452'),
    ]);

    // 5. Today's calibration finds it 7.42 bar low at 1000 bar: failed as found.
    await calibrate(0, '992.58', 'fail');

    // 6. The transducer's suspect list: the injectors RIG-01 tested since the last good
    // calibration, each with the position the transducer sat in: INJ-0431's record names that
    // position (its value was read there), the others were made while it was installed.
    await page.goto(`${url}/#/equipment/PT-RIG01-RAIL`);
    await page.getByTestId('suspect-records').waitFor();
    const rows = page.getByTestId('suspect-row');
    await rows.first().waitFor();
    const texts = await rows.allTextContents();
    expect(texts).toHaveLength(3);
    for (const [i, part] of ['INJ-0417', 'INJ-0431', 'INJ-0452'].entries()) {
      expect(texts[i]).toContain(part);
      expect(texts[i]).toContain(
        part === 'INJ-0431'
          ? 'named position RIG-01 / rail pressure'
          : 'made while installed in RIG-01 / rail pressure',
      );
    }
    expect(texts.join(' ')).not.toContain('INJ-0400');

    // 7. The repair, logged on the transducer: a calibration is required before it is used again.
    const maintenance = page.getByTestId('maintenance');
    await maintenance.getByTestId('event-kind').selectOption('repair');
    await maintenance
      .getByTestId('event-description')
      .fill('Sensor cell drifted after an overpressure; cell replaced.');
    await maintenance.getByTestId('event-parts').fill('sensor cell 4067E-CELL');
    await maintenance.getByTestId('event-cal-required').check();
    await maintenance.getByTestId('event-submit').click();
    await maintenance.getByTestId('out-of-service').waitFor();
    expect(await maintenance.getByTestId('out-of-service').textContent()).toContain(
      'A calibration is required after the repair',
    );
    expect(await maintenance.getByTestId('maintenance-event').first().textContent()).toContain(
      'sensor cell 4067E-CELL',
    );
    await checkWidths('failed-sensor', () => page.getByTestId('suspect-row').first().waitFor());

    // What the portal did is what the cloud holds.
    const calibrations = (await api('technician', 'GET', '/equipment/PT-RIG01-RAIL/calibrations')).items;
    expect(calibrations.map((c: { body: { asFoundResult: string } }) => c.body.asFoundResult)).toEqual([
      'pass',
      'fail',
    ]);
    // Typed in the site's zone, stored as the UTC instant.
    expect(calibrations.map((c: { calibratedAt: string }) => c.calibratedAt)).toEqual([
      sentAt(30),
      sentAt(0),
    ]);
    expect(calibrations[0].body).toMatchObject({
      procedure: { id: 'CP-PT-001', revision: 'D' },
      standards: [{ id: 'STD-PRS-0007', certificate: 'DKD-K-1207-2026' }],
    });
    expect(calibrations[0].traceability.status).toBe('ok');
    const attached = await api(
      'technician',
      'GET',
      `/calibrations/${encodeURIComponent(calibrations[0].id)}/certificates`,
    );
    expect(attached.items.map((c: { kind: string }) => c.kind)).toEqual(['pdf']);
    expect(b.errors).toEqual([]);
  }, 240_000);

  it('opens the report form on the site’s days, not UTC days', async () => {
    // A zone whose date differs from UTC's right now: 14 h ahead from 11:00 UTC (already
    // tomorrow there from 10:00), 11 h behind before (still yesterday there until 11:00).
    const zone = new Date().getUTCHours() >= 11 ? 'Pacific/Kiritimati' : 'Pacific/Pago_Pago';
    await api('admin', 'PUT', '/sites/plant-1', { timeZone: zone });
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: zone }).format(new Date());
    expect(today).not.toBe(new Date().toISOString().slice(0, 10));
    const plus = (n: number) =>
      new Date(Date.parse(`${today}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
    await portal.signIn('auditor');
    await page.goto(`${url}/#/reports`);
    await page.getByTestId('reports-page').waitFor();
    const site = page.getByLabel('Site');
    await site.locator('option[value="plant-1"]').waitFor({ state: 'attached' });
    await site.selectOption('plant-1');
    expect([
      await page.getByLabel('From').inputValue(),
      await page.getByLabel('To (included)').inputValue(),
    ]).toEqual([plus(-90), today]);
    await page.getByTestId('report-type').selectOption('due-list');
    expect([
      await page.getByLabel('From').inputValue(),
      await page.getByLabel('To (included)').inputValue(),
    ]).toEqual([today, plus(30)]);
    expect(b.errors).toEqual([]);
  }, 60_000);
});
