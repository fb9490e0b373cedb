import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DESKTOP,
  PHONE,
  SHOTS,
  sidewaysOverflow,
  startPortal,
  type Browser,
  type DemoSeed,
  type PortalFixture,
} from './helpers/browser.js';
import { TestEdge } from './helpers/edge.js';

/**
 * A sensor built into a rig, in Chromium against the cloud as a real process: the technician
 * adds the position "rail pressure" to RIG-01 and installs the rail-pressure transducer in it
 * from two months ago; RIG-01 has been testing injectors all along (records from its edge); the
 * bench then finds the transducer failed as found. The transducer's page lists, as suspect, the
 * injectors RIG-01 tested in the window, each naming the position, and says where the transducer
 * sits; the rig's page shows the position, its device and history. Both pages at 390 and
 * 1280 px without sideways scrolling; screenshots in test-results/screenshots/.
 */

const DAY = 86_400_000;
const NOW = Date.now();
const daysAgo = (d: number) => new Date(NOW - d * DAY).toISOString();

describe('positions and devices in a browser', () => {
  let portal: PortalFixture;
  let b: Browser;
  let page: Page;
  let url = '';
  let seed: DemoSeed;
  /** RIG-01's edge: it sends the rig's tests and the bench's calibrations. */
  let edge: TestEdge;
  const api = (role: string, method: string, p: string, body?: unknown) => portal.api(role, method, p, body);

  const envelope = (kind: string, equipment: string, observedAt: string, body: unknown) =>
    edge.record(kind, equipment, observedAt, body);
  const injectorTest = (d: number, part: string) =>
    envelope('inspection', 'RIG-01', daysAgo(d), {
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
        },
      ],
    });
  const benchCalibration = (d: number, asFound: number) => {
    const verdict = Math.abs(asFound - 1000) <= 5 ? 'pass' : 'fail';
    return envelope('calibration', 'PT-RIG01-RAIL', daysAgo(d), {
      technician: 'T-0117 M. Keller',
      standards: [{ id: 'STD-PRS-0007', certificate: 'CERT-PRS-0007-2025-0412' }],
      points: [
        {
          name: '1000 bar',
          nominal: 1000,
          unit: 'bar',
          asFound,
          lowerTolerance: -5,
          upperTolerance: 5,
          asFoundResult: verdict,
        },
      ],
      adjusted: false,
      asFoundResult: verdict,
      calibratedAt: daysAgo(d),
    });
  };
  const ingest = (records: unknown[]) => edge.ingest(records);

  const signIn = (role: string) => portal.signIn(role);

  /** Both widths: no sideways scrolling, a screenshot of each. */
  async function checkWidths(name: string, ready: () => Promise<unknown>, part?: string) {
    const problems: string[] = [];
    for (const size of [PHONE, DESKTOP]) {
      await page.setViewportSize(size);
      await page.reload();
      await ready();
      const o = await sidewaysOverflow(page);
      if (o.px > 0)
        problems.push(`${name} at ${size.width} px scrolls ${o.px} px sideways (widest: ${o.widest})`);
      await b.shot(`positions-${name}-${size.width}`);
      // The part of the page this is about, at full size.
      if (part)
        await page
          .getByTestId(part)
          .screenshot({ path: path.join(SHOTS, `positions-${name}-${part}-${size.width}.png`) });
    }
    await page.setViewportSize(DESKTOP);
    expect(problems).toEqual([]);
  }

  beforeAll(async () => {
    // The fitter: a technician of plant-1 only (made with createUsers), installs the sensor.
    portal = await startPortal('positions', { users: [['fitter', 'technician', ['plant-1'], false]] });
    ({ url, seed, page, browser: b } = portal);
    await api('technician', 'POST', '/equipment', {
      tag: 'RIG-01',
      siteId: 'plant-1',
      type: 'injector test rig',
      make: 'RigTrace',
      model: 'flow rig',
      intervalDays: 365,
    });
    await api('technician', 'POST', '/equipment', {
      tag: 'PT-RIG01-RAIL',
      siteId: 'plant-1',
      type: 'rail-pressure transducer',
      make: 'Kistler',
      model: '4067E',
      serial: 'KI4711203',
      intervalDays: 180,
    });
    edge = await new TestEdge(url, { protocol: 'modbus', endpoint: 'tcp://127.0.0.1:5020' }).enroll(
      seed.enrollmentToken,
      'line-1',
    );
    // The transducer passed 30 days ago; RIG-01 tested injectors before and since.
    await ingest([
      injectorTest(40, 'INJ-0400'),
      benchCalibration(30, 1001.3),
      injectorTest(20, 'INJ-0417'),
      injectorTest(10, 'INJ-0431'),
      injectorTest(5, 'INJ-0452'),
    ]);
  }, 120_000);

  afterAll(async () => {
    await portal?.close();
  });

  it('installs a sensor in a rig; its failed calibration names the injectors the rig tested, with the position', async () => {
    await signIn('fitter');
    await page.goto(`${url}/#/equipment/RIG-01`);
    await page.getByTestId('equipment-page').waitFor();
    // No positions yet: the technician adds one.
    await page.getByTestId('positions').locator('summary').click();
    await page.getByLabel('New position').fill('rail pressure');
    await page.getByLabel('Description (optional)').fill('common-rail pressure before the injector');
    await page.getByRole('button', { name: 'Add position' }).click();
    const position = page.getByTestId('position');
    await position.waitFor();
    expect(await position.getByTestId('position-empty').textContent()).toBe('empty');

    // Install the transducer from two months ago (the site's local time in the form).
    await position.getByTestId('install-device').click();
    const form = page.getByTestId('install-form');
    await form.getByLabel('Device (asset tag)').fill('PT-RIG01-RAIL');
    // The form takes the site's wall-clock time; within a few hours of UTC is all this needs.
    await form.getByLabel(/Installed from/).fill(new Date(NOW - 60 * DAY).toISOString().slice(0, 16));
    // A device that is not in the register is refused, with the reason.
    await form.getByLabel('Device (asset tag)').fill('PT-NOWHERE');
    await form.getByRole('button', { name: 'Install' }).click();
    expect(await page.getByTestId('position-error').textContent()).toContain(
      'no equipment PT-NOWHERE in the register',
    );
    await form.getByLabel('Device (asset tag)').fill('PT-RIG01-RAIL');
    await form.getByRole('button', { name: 'Install' }).click();
    await position.getByTestId('position-device').waitFor();
    expect(await position.getByTestId('position-device').textContent()).toContain('PT-RIG01-RAIL');
    const installs = (await api('technician', 'GET', '/equipment/RIG-01/positions')).positions[0];
    expect(installs.current).toMatchObject({ device: 'PT-RIG01-RAIL', label: 'RIG-01 / rail pressure' });
    expect(Math.abs(Date.parse(installs.current.from) - (NOW - 60 * DAY))).toBeLessThan(15 * 3600_000);

    // The bench finds the transducer reading 7.42 bar low at 1000 bar: failed as found.
    await ingest([benchCalibration(1, 992.58)]);

    await page.goto(`${url}/#/equipment/PT-RIG01-RAIL`);
    await page.getByTestId('suspect-records').waitFor();
    const rows = page.getByTestId('suspect-row');
    await rows.first().waitFor();
    const texts = await rows.allTextContents();
    expect(texts).toHaveLength(3);
    for (const [i, part] of ['INJ-0417', 'INJ-0431', 'INJ-0452'].entries()) {
      expect(texts[i]).toContain(part);
      expect(texts[i]).toContain('in RIG-01 / rail pressure');
    }
    expect(texts.join(' ')).not.toContain('INJ-0400');
    expect(await page.getByTestId('installed-now').textContent()).toContain('RIG-01 / rail pressure');
    await checkWidths(
      'failed-sensor',
      () => page.getByTestId('suspect-row').first().waitFor(),
      'suspect-records',
    );

    // The out-of-tolerance case opened by the failure lists the same injectors with the position.
    await page.getByTestId('tag-out').getByRole('link', { name: 'Open its case' }).click();
    await page.getByTestId('suspects').waitFor();
    const caseText = await page.getByTestId('suspects').textContent();
    for (const part of ['INJ-0417', 'INJ-0431', 'INJ-0452']) expect(caseText).toContain(part);
    expect(caseText).toContain('PT-RIG01-RAIL in RIG-01 / rail pressure');

    // The rig's page: the position with its device and history.
    await page.goto(`${url}/#/equipment/RIG-01`);
    await page.getByTestId('position-device').waitFor();
    await checkWidths('rig', () => page.getByTestId('position-device').waitFor(), 'positions');

    // Removing it keeps the history; the audit trail has each change.
    await page.getByTestId('remove-device').click();
    await page.getByTestId('install-form').getByRole('button', { name: 'Remove' }).click();
    await page.getByTestId('position-empty').waitFor();
    expect(await page.getByTestId('position-history').locator('tbody tr').count()).toBe(1);
    const trail = (await api('admin', 'GET', '/audit?limit=1000')).items
      .map((i: { entry: { action: string; target?: { id: string } } }) => i.entry)
      .filter((e: { target?: { id: string } }) => e.target?.id === 'RIG-01 / rail pressure')
      .map((e: { action: string }) => e.action);
    expect(trail).toEqual(['position.create', 'device.install', 'device.remove']);
    // The one 400 is the refused install of PT-NOWHERE above.
    expect(b.errors.filter((e) => !/status of 400/.test(e))).toEqual([]);
    expect(b.errors.filter((e) => /status of 400/.test(e))).toHaveLength(1);
  }, 180_000);
});
