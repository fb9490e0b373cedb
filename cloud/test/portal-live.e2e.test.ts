import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli, startProcess, waitFor, type Proc } from '@rigtrace/protocols/testing';
import { formatValue } from '../../portal/src/lib/live-model.js';
import { unitLabel } from '../../portal/src/lib/units.js';
import { zoneName } from '../../portal/src/lib/time.js';
import { base32Decode, totp } from '../src/access/totp.js';
import { PISTON_RINGS } from './helpers/spc-data.js';
import {
  momentsNotShownOneWay,
  PHONE,
  SHOTS,
  sidewaysOverflow,
  startPortal,
  type DemoSeed,
  type PortalFixture,
} from './helpers/browser.js';
import { TestEdge } from './helpers/edge.js';

/**
 * The manager's and the quality engineer's pages, and the auditor's reports, in Chromium against
 * real processes: a flow-rig simulator on Modbus TCP, a real edge, and the cloud. A manager signs
 * in with a TOTP code and watches a rig's value change on the live dashboard to a value the
 * simulator produced; the cloud process is stopped and started again and the page reconnects by
 * itself. The SPC page draws an X̄-R chart of seeded measurements (Montgomery's piston rings) with
 * the textbook limits. An auditor generates a PDF report and downloads it. Screenshots go to
 * test-results/screenshots/.
 */

const TAG = 'RIG-01';
/** What a stopped cloud makes the browser log (failed requests, the socket): expected here. */
const CLOUD_AWAY = /ERR_CONNECTION_REFUSED|WebSocket|socket\.io/;

describe('live dashboard, SPC and reports in a browser', () => {
  let portal: PortalFixture;
  let work = '';
  let dataDir = '';
  let edgeDir = '';
  let edgeConfig = '';
  let rig: Proc | undefined;
  let edge: Proc | undefined;
  let page: Page;
  let url = '';
  let seed: DemoSeed;
  /** An edge of the site's inspection PC (the SPC data), which also records a hand gauge's use. */
  let cmm: TestEdge;
  const secrets = new Map<string, Uint8Array>();
  /** The page's errors, but for those of the cloud being away while it restarts. */
  const browserErrors = () => portal.browser.errors.filter((e) => !CLOUD_AWAY.test(e));
  /** Everything the page logged, shown when the connection never comes up. */
  const consoleLines: string[] = [];
  const user = (role: string) => portal.user(role);

  const api = async (p: string) => {
    const res = await fetch(`${url}/api/v1${p}`, { headers: { authorization: `Bearer ${seed.apiToken}` } });
    const text = await res.text();
    expect(res.status, `GET ${p}: ${text}`).toBe(200);
    return JSON.parse(text);
  };

  const shot = (name: string, fullPage = true) => portal.browser.shot(name, fullPage);

  let lastStep = 0;
  async function freshCode(secret: Uint8Array): Promise<string> {
    for (;;) {
      const step = Math.floor(Date.now() / 30_000);
      if (step > lastStep) {
        lastStep = step;
        return totp(secret, step * 30);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Turns on TOTP for a demo user through the API (the portal's own enrolment is tested elsewhere). */
  async function enrollTotp(role: string): Promise<void> {
    const u = user(role);
    const login = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: seed.tenant, email: u.email, password: u.password }),
    });
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    const headers = {
      'content-type': 'application/json',
      cookie: login.headers.getSetCookie()[0]!.split(';')[0]!,
      'x-csrf-token': csrfToken,
    };
    const enroll = await fetch(`${url}/api/v1/auth/mfa/totp/enroll`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ password: u.password }),
    });
    const secret = base32Decode(((await enroll.json()) as { secret: string }).secret);
    const confirm = await fetch(`${url}/api/v1/auth/mfa/totp/confirm`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ code: await freshCode(secret) }),
    });
    expect(confirm.status, await confirm.text()).toBe(200);
    secrets.set(role, secret);
  }

  async function signIn(role: string) {
    await portal.signIn(role, () => freshCode(secrets.get(role)!));
    expect(await page.getByTestId('who').textContent()).toContain(role);
  }
  const signOut = () => portal.signOut();

  /** Every value of `point` of the rig that reached the cloud, as the dashboard formats it. */
  async function producedValues(point: string): Promise<Set<string>> {
    const out = new Set<string>();
    const r = await api(`/records?kind=telemetry&limit=1000`);
    for (const item of r.items as { record: any }[]) {
      if (item.record.equipment !== TAG) continue;
      for (const p of item.record.body.points)
        if (p.name === point) out.add(formatValue(p.value, p.unit ?? null));
    }
    return out;
  }

  const liveValue = (point: string) =>
    page
      .locator(
        `[data-testid=rig-card][data-equipment="${TAG}"] [data-point="${point}"] [data-testid=live-number]`,
      )
      .textContent({ timeout: 20_000 });

  beforeAll(async () => {
    portal = await startPortal('live');
    ({ work, dataDir, url, seed, page } = portal);
    edgeDir = path.join(work, 'edge');
    edgeConfig = path.join(work, 'edge.yaml');
    await page.setViewportSize({ width: 1280, height: 900 });
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));

    // Seeded inspection data for SPC: Montgomery's piston rings (25 subgroups of 5), from an edge
    // of its own, one measurement a minute ending an hour ago.
    const tokenOut = runCli('cloud/src/cli.ts', [
      'token',
      'enroll',
      '--tenant',
      'demo',
      '--site',
      'plant-1',
      '--data-dir',
      dataDir,
    ]);
    expect(tokenOut.status, tokenOut.stderr).toBe(0);
    const spcToken = (JSON.parse(tokenOut.stdout) as { token: string }).token;
    cmm = await new TestEdge(url, {
      protocol: 'opcua',
      endpoint: 'opc.tcp://cmm.plant1.local:4840',
    }).enroll(spcToken, 'cmm-pc');
    const values = PISTON_RINGS.flat();
    const start = Date.now() - 3_600_000 - values.length * 60_000;
    await cmm.ingest(
      values.map((measured, i) =>
        cmm.record('inspection', 'CMM-02', new Date(start + i * 60_000).toISOString(), {
          partSerial: `RING${String(i + 1).padStart(6, '0')}`,
          workOrder: 'WO-2001',
          result: 'pass',
          characteristics: [
            {
              name: 'bore.diameter',
              nominal: 74,
              lsl: 73.95,
              usl: 74.05,
              measured,
              unit: 'mm',
              result: 'pass',
            },
          ],
        }),
      ),
    );

    // The plant floor: a flow-rig simulator and a real edge reading it over Modbus TCP.
    const rigProc = await startProcess(
      'firmware-sim/src/cli.ts',
      [
        'flow-rig',
        '--port',
        '0',
        '--asset',
        TAG,
        '--test-seconds',
        '1',
        '--idle-seconds',
        '0.2',
        '--seed',
        '11',
      ],
      (l) => l.includes('"event":"listening"'),
    );
    rig = rigProc;
    const rigPort = (JSON.parse(rigProc.readyLine) as { port: number }).port;
    const template = readFileSync(path.join(repoRoot, 'deploy/demo/edge.yaml.template'), 'utf8');
    writeFileSync(
      edgeConfig,
      template
        .replaceAll('${EDGE_DATA_DIR}', edgeDir)
        .replaceAll('${CLOUD_URL}', url)
        .replaceAll('${EDGE_STATUS_PORT}', '0')
        .replaceAll('${RIG1_PORT}', String(rigPort))
        .replace(/\n {2}- id: flow-rig-02[\s\S]*$/, '\n')
        .replace('batchSize: 500', 'batchSize: 50\n  retry: { initialMs: 100, maxMs: 1000 }'),
    );
    const edgeEnrolled = runCli('edge/src/cli.ts', [
      'enroll',
      '--config',
      edgeConfig,
      '--cloud',
      url,
      '--token',
      seed.enrollmentToken,
    ]);
    expect(edgeEnrolled.status, edgeEnrolled.stderr).toBe(0);
    edge = await startProcess('edge/src/cli.ts', ['run', '--config', edgeConfig], (l) =>
      l.includes('"event":"running"'),
    );

    await enrollTotp('manager');
    await enrollTotp('auditor');
  }, 180_000);

  afterAll(async () => {
    await edge?.stop();
    await rig?.stop();
    await portal?.close();
  });

  it('shows a manager the rig live: a value changes in place to one the simulator produced', async () => {
    await signIn('manager');
    const nav = (await page.getByTestId('main-nav').textContent()) ?? '';
    expect(nav).toContain('Live');
    expect(nav).toContain('SPC');
    expect(nav).not.toContain('Reports');
    await page.getByTestId('main-nav').getByRole('link', { name: 'Live', exact: true }).click();
    await page.getByTestId('dashboard-page').waitFor();
    const conn = page.getByTestId('connection-state');
    await expect
      .poll(() => conn.getAttribute('data-state'), {
        timeout: 20_000,
        message: `the page's console:\n${consoleLines.join('\n')}\n${browserErrors().join('\n')}`,
      })
      .toBe('connected');
    expect(await conn.getAttribute('aria-live')).toBe('polite');

    const first = (await liveValue('railPressure'))!.trim();
    expect(first).toMatch(/^[\d,.]+$/);
    // The card's box stays put while values tick: same position and size before and after.
    const card = page.locator(`[data-testid=rig-card][data-equipment="${TAG}"]`);
    const boxBefore = await card.boundingBox();
    const changed = await waitFor(
      async () => {
        const v = (await liveValue('railPressure'))!.trim();
        return v !== first ? v : undefined;
      },
      30_000,
      'the rail pressure on the dashboard to change',
    );
    const produced = await waitFor(
      async () => {
        const set = await producedValues('railPressure');
        return set.has(changed) ? set : undefined;
      },
      10_000,
      `the shown value ${changed} among the simulator's rail pressures`,
    );
    expect(produced.has(changed)).toBe(true);
    const boxAfter = await card.boundingBox();
    expect(boxAfter?.x).toBe(boxBefore?.x);
    expect(boxAfter?.width).toBe(boxBefore?.width);
    // The small charts are drawn (uPlot canvases), and the rig's state is shown.
    await expect.poll(() => card.locator('canvas').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(['Running', 'Idle', 'Stopped']).toContain(
      (await card.getByTestId('rig-state').textContent())?.trim(),
    );
    // Signals and units read as words and symbols, the device's own names on hover.
    const rail = card.locator('[data-testid=live-value][data-point=railPressure]');
    expect((await rail.locator('dt').textContent())?.trim()).toBe('Rail pressure');
    expect(await rail.locator('dt').getAttribute('title')).toBe('railPressure');
    const oil = card.locator('[data-testid=live-value][data-point=oilTemp]');
    expect((await oil.locator('.unit').textContent())?.trim()).toBe('°C');
    // Today's figures come from the simulator's inspections.
    await expect
      .poll(async () => Number(await page.getByTestId('today-inspections').textContent()), {
        timeout: 30_000,
      })
      .toBeGreaterThan(0);
    // The throughput chart counts the site's own hours from its midnight, named with its zone.
    const zone = ((await api('/yield?site=plant-1')).shifts as { siteId: string; timeZone: string }[]).find(
      (x) => x.siteId === 'plant-1',
    )!.timeZone;
    expect((await page.getByTestId('throughput-label').textContent())?.trim()).toBe(
      `Throughput per hour (${zoneName(new Date().toISOString(), zone)})`,
    );
    expect((await page.getByTestId('throughput-first').textContent())?.trim()).toBe('00:00');
    // First-pass yield per rig, with its 14-day trend: the rig's own figures, not the plant's.
    const yieldRow = page.locator(`[data-testid=yield-row][data-equipment="${TAG}"]`);
    await expect.poll(() => yieldRow.count(), { timeout: 30_000 }).toBe(1);
    expect((await yieldRow.getByTestId('yield-today').textContent())?.trim()).toMatch(/^\d{1,3}\.\d %$/);
    expect(await yieldRow.locator('.day').count()).toBe(14);
    // A few more seconds of samples, so that the small charts show a trace.
    await new Promise((r) => setTimeout(r, 8000));
    await shot('live-dashboard-1280');
    await page.setViewportSize({ width: 768, height: 1024 });
    await shot('live-dashboard-768');
    await page.setViewportSize({ width: 1280, height: 900 });
  }, 90_000);

  it('shows a hand gauge, which sends no telemetry, as a gauge in use with its calibration, never running or idle, and "Do not use" once tagged out', async () => {
    // A setting ring, named like a rig: what it is comes from its data (no telemetry), not its name.
    const GAUGE = 'RIG-SR-12';
    await portal.api('technician', 'POST', '/equipment', {
      tag: GAUGE,
      siteId: 'plant-1',
      type: 'setting ring',
      intervalDays: 365,
    });
    const used = new Date(Date.now() - 2 * 3_600_000).toISOString();
    await cmm.ingest([
      cmm.calibration(GAUGE, new Date(Date.now() - 86_400_000).toISOString(), 'pass'),
      cmm.usage(GAUGE, used, 'start', { operator: 'op-5', partSerial: 'RING000007' }),
    ]);
    const card = page.locator(`[data-testid=rig-card][data-equipment="${GAUGE}"]`);
    await card.waitFor({ timeout: 20_000 });
    const state = card.getByTestId('rig-state');
    expect(await state.getAttribute('data-state')).toBe('in-use');
    expect((await state.textContent())?.trim()).toBe('In use');
    const use = card.getByTestId('gauge-use');
    expect((await use.locator('time').textContent())?.trim()).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);
    expect(await use.locator('time').getAttribute('datetime')).toBe(used);
    expect(await use.textContent()).toContain('operator op-5');
    // A card first made by the usage push: its status comes with the status push, its next due
    // date with the snapshot the page reads again after the batch.
    const cal = card.getByTestId('gauge-calibration');
    await expect
      .poll(() => cal.textContent(), { timeout: 20_000 })
      .toMatch(/Current\s+next due \d{4}-\d{2}-\d{2}/);
    expect(await cal.getByTestId('status-badge').getAttribute('data-status')).toBe('current');
    // No run state, no values, no "no telemetry yet".
    expect(await card.getByTestId('live-value').count()).toBe(0);
    expect(await card.textContent()).not.toMatch(/Running|Idle|Stopped|No telemetry/);

    // Its next use, pushed over the socket: the card follows without a reload.
    const again = new Date(Date.now() - 60_000).toISOString();
    await cmm.ingest([cmm.usage(GAUGE, again, 'stop')]);
    await expect.poll(() => use.locator('time').getAttribute('datetime'), { timeout: 20_000 }).toBe(again);
    expect((await state.textContent())?.trim()).toBe('In use');
    // A failed calibration: the status follows the `status` push.
    await cmm.ingest([cmm.calibration(GAUGE, new Date().toISOString(), 'fail')]);
    await expect
      .poll(() => cal.getByTestId('status-badge').getAttribute('data-status'), { timeout: 20_000 })
      .toBe('out-of-tolerance');
    // It is tagged out (the case the failure opened): "Do not use", never "In use", with its case.
    await expect.poll(() => state.getAttribute('data-state'), { timeout: 20_000 }).toBe('do-not-use');
    expect((await state.textContent())?.trim()).toBe('Do not use');
    const kase = ((await api(`/oot-cases?state=open&equipment=${GAUGE}`)).items as { id: string }[])[0]!;
    expect(await cal.getByTestId('gauge-case').getAttribute('href')).toBe(`#/oot/${kase.id}`);
    // No next due date a year ahead beside "Out of tolerance": it is due now.
    expect(await cal.textContent()).toMatch(/Out of tolerance\s+recalibrate before use/);
    expect(await cal.textContent()).not.toContain('next due');
    await card.scrollIntoViewIfNeeded();
    await card.screenshot({ path: path.join(SHOTS, 'live-floor-gauge-card-1280.png') });
    await page.setViewportSize(PHONE);
    await card.scrollIntoViewIfNeeded();
    expect(await sidewaysOverflow(page)).toEqual({ px: 0, widest: null });
    await card.screenshot({ path: path.join(SHOTS, 'live-floor-gauge-card-390.png') });
    await page.setViewportSize({ width: 1280, height: 900 });
  }, 60_000);

  it('marks a gauge taken out of service "Do not use" at once, and "In use" again when it is returned', async () => {
    const GAUGE = 'SR-OOS-3';
    await portal.api('technician', 'POST', '/equipment', {
      tag: GAUGE,
      siteId: 'plant-1',
      type: 'setting ring',
      intervalDays: 365,
    });
    await cmm.ingest([
      cmm.calibration(GAUGE, new Date(Date.now() - 86_400_000).toISOString(), 'pass'),
      cmm.usage(GAUGE, new Date(Date.now() - 3_600_000).toISOString(), 'start', { operator: 'op-5' }),
    ]);
    const card = page.locator(`[data-testid=rig-card][data-equipment="${GAUGE}"]`);
    await card.waitFor({ timeout: 20_000 });
    const state = card.getByTestId('rig-state');
    await expect.poll(() => state.getAttribute('data-state'), { timeout: 20_000 }).toBe('in-use');
    // No record comes with it: only the `service` push tells the page.
    await portal.api('technician', 'POST', `/equipment/${GAUGE}/out-of-service`, {
      reason: 'dropped, bore nicked',
    });
    await expect.poll(() => state.getAttribute('data-state'), { timeout: 10_000 }).toBe('do-not-use');
    expect((await state.textContent())?.trim()).toBe('Do not use');
    await card.scrollIntoViewIfNeeded();
    await card.screenshot({ path: path.join(SHOTS, 'live-floor-gauge-out-of-service-1280.png') });
    await portal.api('technician', 'POST', `/equipment/${GAUGE}/return-to-service`, { note: 'checked' });
    await expect.poll(() => state.getAttribute('data-state'), { timeout: 10_000 }).toBe('in-use');
  }, 60_000);

  it('marks a rig taken out of service "Do not use" at once, with why, and lets it go when it is returned, without a reload', async () => {
    const RIG = 'RIG-OOS-7';
    await portal.api('technician', 'POST', '/equipment', {
      tag: RIG,
      siteId: 'plant-1',
      type: 'injector flow rig',
      intervalDays: 365,
    });
    // A rig: it sends telemetry, and runs.
    const now = Date.now();
    await cmm.ingest([
      cmm.telemetry(RIG, new Date(now - 2000).toISOString(), { railPressure: 1650.5, returnFlow: 12.25 }),
      cmm.usage(RIG, new Date(now - 1000).toISOString(), 'start', { operator: 'op-7', workOrder: 'WO-77' }),
    ]);
    const card = page.locator(`[data-testid=rig-card][data-equipment="${RIG}"]`);
    await card.waitFor({ timeout: 20_000 });
    const state = card.getByTestId('rig-state');
    await expect.poll(() => state.getAttribute('data-state'), { timeout: 20_000 }).toBe('running');
    expect(await card.getByTestId('rig-do-not-use').count()).toBe(0);
    // The page is not loaded again from here on: a mark on its window stays.
    await page.evaluate(() => ((globalThis as unknown as { noReload: boolean }).noReload = true));

    // No record comes with it: only the `service` push tells the page.
    await portal.api('technician', 'POST', `/equipment/${RIG}/out-of-service`, {
      reason: 'injector holder cracked',
    });
    await expect.poll(() => state.getAttribute('data-state'), { timeout: 10_000 }).toBe('do-not-use');
    expect((await state.textContent())?.trim()).toBe('Do not use');
    const why = card.getByTestId('rig-do-not-use');
    expect((await why.textContent())?.replace(/\s+/g, ' ').trim()).toBe(
      'Out of service: injector holder cracked Details',
    );
    // Its values stay on the tile: what it reports is still shown.
    expect(await card.locator('[data-testid=live-value][data-point=railPressure]').count()).toBe(1);
    await card.scrollIntoViewIfNeeded();
    await card.screenshot({ path: path.join(SHOTS, 'live-floor-rig-out-of-service-1280.png') });
    await page.setViewportSize(PHONE);
    await card.scrollIntoViewIfNeeded();
    expect(await sidewaysOverflow(page)).toEqual({ px: 0, widest: null });
    await card.screenshot({ path: path.join(SHOTS, 'live-floor-rig-out-of-service-390.png') });
    await page.setViewportSize({ width: 1280, height: 900 });
    // The page's own snapshot re-read after the push keeps it (the cloud's tile says the same).
    await new Promise((r) => setTimeout(r, 4000));
    expect(await state.getAttribute('data-state')).toBe('do-not-use');

    await portal.api('technician', 'POST', `/equipment/${RIG}/return-to-service`, {
      note: 'holder replaced',
    });
    await expect.poll(() => state.getAttribute('data-state'), { timeout: 10_000 }).not.toBe('do-not-use');
    expect(['running', 'stale']).toContain(await state.getAttribute('data-state'));
    expect(await card.getByTestId('rig-do-not-use').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { noReload?: boolean }).noReload)).toBe(true);
  }, 60_000);

  it('shows each test point of the last completed test, names every signal in words, and no idle zeros', async () => {
    const card = page.locator(`[data-testid=rig-card][data-equipment="${TAG}"]`);
    const test = card.getByTestId('last-test');
    await test.waitFor({ timeout: 30_000 });
    // The test points by name (the demo's signal dictionary), in the order the rig runs them.
    expect(
      (await test.locator('[data-testid=test-point] th').allTextContents()).map((t) => t.trim()),
    ).toEqual(['Full load · 1800 bar', 'Emission · 1000 bar', 'Idle · 350 bar', 'Pilot · 800 bar']);
    expect((await test.locator('thead th').allTextContents()).map((t) => t.trim())).toEqual([
      'Test point',
      'Delivered quantity',
      'Back-leak',
    ]);
    // The values are those of one completed test, the inspection the rig reported, each at its own
    // test point (read in one go: the rig completes a test every second or so).
    const shown = await test.evaluate((el) => ({
      part: el.querySelector('[data-testid=last-test-part]')?.textContent?.trim() ?? '',
      values: Object.fromEntries(
        [...el.querySelectorAll('[data-testid=test-value]')].map((td) => [
          td.getAttribute('data-characteristic'),
          td.textContent?.replace(/\s+/g, ' ').trim(),
        ]),
      ),
    }));
    const found = await api(`/inspections?partSerial=${encodeURIComponent(shown.part)}`);
    const inspection = (found.items as { record: any }[]).find((i) => i.record.equipment === TAG)!.record;
    const expected = Object.fromEntries(
      (
        inspection.body.characteristics as { name: string; measured: number; unit: string; result: string }[]
      ).map((c) => [
        c.name,
        `${formatValue(c.measured, c.unit)} ${unitLabel(c.unit)}${c.result === 'fail' ? ' fail' : ''}`,
      ]),
    );
    expect(shown.values).toEqual(expected);
    expect(Number(shown.values['fullLoad.deliveredQty']!.split(' ')[0])).toBeGreaterThan(50);
    expect(Number(shown.values['idle.deliveredQty']!.split(' ')[0])).toBeLessThan(10);
    // Its moments the portal's one way: the site's zone (UTC here), the UTC time on hover.
    expect(await momentsNotShownOneWay(page, '[data-testid=dashboard-page]')).toEqual([]);
    expect(await test.locator('time').textContent()).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);

    // What the rig does, in words; every signal named in words, units as people write them.
    const WORDS = ['Testing', 'Waiting for the next injector', 'Fault'];
    await expect
      .poll(async () => (await card.getByTestId('rig-word').first().textContent())?.trim(), {
        timeout: 10_000,
      })
      .toMatch(new RegExp(`^(${WORDS.join('|')})$`));
    await card.locator('details summary').click();
    const labels = await card.evaluate((el) =>
      [...el.querySelectorAll('[data-testid=live-value] dt, [data-testid=other-value] th')].map((e) => ({
        raw: e.getAttribute('title'),
        text: e.textContent?.trim() ?? '',
      })),
    );
    expect(labels.map((l) => l.raw).sort()).toEqual(
      [
        'backLeak',
        'coilResistance',
        'cycleCount',
        'deliveredQty',
        'energizingTime',
        'oilTemp',
        'railPressure',
        'state',
        'testPoint',
      ].sort(),
    );
    for (const l of labels) {
      expect(l.text, l.raw).not.toBe(l.raw);
      expect(l.text, l.raw).not.toMatch(/[a-z][A-Z]|^[a-z]/);
    }
    const units = await card.evaluate((el) =>
      [...el.querySelectorAll('[data-testid=live-value] .unit, [data-testid=other-value] td:last-child')].map(
        (e) => e.textContent?.trim() ?? '',
      ),
    );
    for (const u of units) expect(u).not.toMatch(/^(us|degC|ohm|mm3\/stroke)$/);
    const stateRow = card.locator('[data-testid=other-value][data-point=state] td').first();
    expect(WORDS).toContain((await stateRow.textContent())?.trim());

    // No idle zeros: over several tests, a value measured only while testing shows a reading
    // (above zero) or "between tests", never the rig's idle 0.
    const gated = ['deliveredQty', 'backLeak', 'energizingTime'];
    const seen = { between: 0, readings: 0 };
    for (let i = 0; i < 24; i++) {
      const texts = await card.evaluate(
        (el, points) =>
          points.map((p) => {
            const row = el.querySelector(`[data-point="${p}"]`);
            return row?.querySelector('[data-testid=live-number], td.num-value')?.textContent?.trim() ?? null;
          }),
        gated,
      );
      for (const [k, t] of texts.entries()) {
        expect(t, gated[k]).not.toBeNull();
        if (t === '—') seen.between += 1;
        else {
          expect(Number(t!.replace(/,/g, '')), `${gated[k]} = ${t}`).toBeGreaterThan(0);
          seen.readings += 1;
        }
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(seen.readings).toBeGreaterThan(0);
    await shot('live-floor-last-test-1280');

    // First-pass yield per shift, in the site's shifts.
    const shiftRows = page.locator(`[data-testid=shift-yield-row][data-equipment="${TAG}"]`);
    await expect.poll(() => shiftRows.count(), { timeout: 30_000 }).toBe(3);
    expect(await shiftRows.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-shift')))).toEqual([
      'Early',
      'Late',
      'Night',
    ]);
    expect(await shiftRows.first().locator('.day').count()).toBe(14);

    // A phone: nothing scrolls sideways.
    await page.setViewportSize(PHONE);
    await card.scrollIntoViewIfNeeded();
    expect(await sidewaysOverflow(page)).toEqual({ px: 0, widest: null });
    await shot('live-floor-last-test-390');
    await card.screenshot({ path: path.join(SHOTS, 'live-floor-rig-card-390.png') });
    await page.setViewportSize({ width: 1280, height: 900 });
  }, 90_000);

  it('reconnects by itself after the cloud process restarts, and keeps updating', async () => {
    const conn = page.getByTestId('connection-state');
    await portal.stopCloud();
    await expect
      .poll(() => conn.getAttribute('data-state'), { timeout: 20_000 })
      .toMatch(/^(reconnecting|offline)$/);
    expect(await conn.textContent()).toMatch(/Reconnecting|Offline/);
    expect(await page.getByTestId('stale-note').innerText()).toMatch(
      /^Showing values as of \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC;/,
    );
    expect(await momentsNotShownOneWay(page, '[data-testid=dashboard-page]')).toEqual([]);
    await shot('live-dashboard-reconnecting', false);
    const before = (await liveValue('railPressure'))!.trim();

    await portal.startCloud();
    await expect.poll(() => conn.getAttribute('data-state'), { timeout: 30_000 }).toBe('connected');
    const after = await waitFor(
      async () => {
        const v = (await liveValue('railPressure'))!.trim();
        return v !== before ? v : undefined;
      },
      30_000,
      'the rail pressure to change after the restart',
    );
    await waitFor(
      async () => ((await producedValues('railPressure')).has(after) ? true : undefined),
      10_000,
      `the value ${after} among the simulator's rail pressures`,
    );
  }, 90_000);

  it('draws an X̄-R chart of seeded measurements with the textbook limits, and lets a manager freeze them', async () => {
    await page.getByTestId('main-nav').getByRole('link', { name: 'SPC', exact: true }).click();
    await page.getByTestId('spc-page').waitFor();
    await page.getByTestId('characteristic-select').selectOption({ value: 'CMM-02\u0000bore.diameter' });
    const chart = page.getByTestId('spc-chart');
    // The page first opens on the worst characteristic; wait for the chosen one's chart, not that one's.
    await expect
      .poll(() => chart.getAttribute('data-characteristic'), { timeout: 20_000 })
      .toBe('CMM-02 · bore.diameter');
    await expect.poll(() => chart.getAttribute('aria-busy'), { timeout: 20_000 }).toBe('false');
    await expect.poll(() => chart.getAttribute('data-chart'), { timeout: 20_000 }).toBe('xbar-r');
    await expect
      .poll(() => chart.locator('[data-testid=x-chart] canvas').count(), { timeout: 20_000 })
      .toBe(1);
    // Montgomery, Example 6.1: X̄ chart 73.988..74.014 (74.0146 and 73.9878 unrounded), R chart 0..0.049.
    const num = async (loc: string) => Number(await page.locator(loc).textContent());
    expect(await num('[data-testid=x-chart] [data-testid=ucl]')).toBeCloseTo(74.0146, 3);
    expect(await num('[data-testid=x-chart] [data-testid=lcl]')).toBeCloseTo(73.9878, 3);
    expect(await num('[data-testid=x-chart] [data-testid=cl]')).toBeCloseTo(74.0012, 3);
    expect(await num('[data-testid=range-chart] [data-testid=ucl]')).toBeCloseTo(0.0491, 3);
    expect(await page.getByTestId('limits-source').textContent()).toContain('computed from the 25 points');
    const cpk = await page
      .locator('[data-testid=cpk-row][data-equipment="CMM-02"] [data-testid=cpk]')
      .textContent();
    expect(Number(cpk)).toBeGreaterThan(1);
    await shot('spc-1280');

    // A manager freezes these limits: the chart then says they are the baseline's.
    await page.getByTestId('freeze-open').click();
    await page.getByRole('button', { name: 'Freeze baseline' }).click();
    await expect
      .poll(() => page.getByTestId('notice').textContent(), { timeout: 15_000 })
      .toContain('Limits frozen from 25 points');
    await expect
      .poll(() => page.getByTestId('limits-source').textContent(), { timeout: 15_000 })
      .toContain('Limits frozen by manager@');
    expect(await num('[data-testid=x-chart] [data-testid=ucl]')).toBeCloseTo(74.0146, 3);
    await signOut();
  }, 90_000);

  it('lets an auditor generate a PDF report, follow its progress and download it, and shows the clause map', async () => {
    await signIn('auditor');
    const nav = (await page.getByTestId('main-nav').textContent()) ?? '';
    expect(nav).toContain('Reports');
    expect(nav).toContain('Clause map');
    await page.getByTestId('main-nav').getByRole('link', { name: 'Reports', exact: true }).click();
    await page.getByTestId('reports-page').waitFor();
    await page.getByTestId('report-type').selectOption('calibration-register');
    await page.getByLabel('PDF').check();
    await page.getByTestId('report-generate').click();
    const row = page
      .locator('[data-testid=report-row][data-type=calibration-register][data-format=pdf]')
      .first();
    await row.waitFor();
    const link = row.getByTestId('report-download');
    await link.waitFor({ timeout: 60_000 });
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const file = path.join(work, 'register.pdf');
    await download.saveAs(file);
    expect(readFileSync(file).subarray(0, 5).toString('latin1')).toBe('%PDF-');
    const text = spawnSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/Calibration register/i);
    await shot('reports-1280');
    // The browser's date picker shows its own language's format; beside it, the day chosen the
    // portal's one way and the zone whose calendar day it is.
    const hints = page.getByTestId('date-hint');
    expect(await hints.count()).toBe(2);
    await page.getByLabel('From', { exact: true }).fill('2026-11-02');
    expect((await hints.first().textContent())?.trim()).toMatch(/^2026-11-02 · a day in [A-Za-z_/+-]+$/);
    expect((await hints.last().textContent())?.trim()).toMatch(
      /^\d{4}-\d{2}-\d{2} · a day in [A-Za-z_/+-]+$/,
    );
    await page.setViewportSize(PHONE);
    expect(await sidewaysOverflow(page)).toEqual({ px: 0, widest: null });
    await shot('reports-dates-390', false);
    await page.setViewportSize({ width: 1280, height: 900 });

    await page.getByTestId('main-nav').getByRole('link', { name: 'Clause map', exact: true }).click();
    await page.getByTestId('clauses-page').waitFor();
    const rows = page.getByTestId('clause-row');
    await expect.poll(() => rows.count(), { timeout: 20_000 }).toBeGreaterThan(3);
    // Honest: a clause the product does not cover says so, and offers no report.
    const notCovered = page.locator('[data-testid=clause-row][data-coverage=not-covered]').first();
    expect(await notCovered.textContent()).toContain('Not covered');
    expect(await notCovered.getByTestId('clause-generate').count()).toBe(0);
    const first = page.locator('[data-testid=clause-row][data-clause="7.1.5"]').first();
    expect(await first.getByTestId('clause-evidence').textContent()).toMatch(/\d/);
    await first.getByTestId('clause-generate').click();
    await first.getByTestId('report-download').waitFor({ timeout: 60_000 });
    await shot('clauses-1280');
    await signOut();
    expect(browserErrors()).toEqual([]);
  }, 150_000);
});
