import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startProcess, type Proc } from '@rigtrace/protocols/testing';
import { base32Decode, totp } from '../src/access/totp.js';
import { PHONE, SHOTS, sidewaysOverflow } from './helpers/browser.js';
import { TestEdge } from './helpers/edge.js';

/**
 * The portal in a real browser against the cloud as a real process: sign in with TOTP, read the
 * calibration board, filter it, open an instrument with a failed calibration and its suspect
 * records. Screenshots of each page go to test-results/screenshots/ for a person to look at.
 */

const CHROMIUM = '/usr/bin/chromium';
const DAY = 86_400_000;
const NOW = Date.now();
const at = (daysAgo: number) => new Date(NOW - daysAgo * DAY).toISOString();
const date = (daysFromNow: number) => new Date(NOW + daysFromNow * DAY).toISOString().slice(0, 10);

interface Seed {
  tenant: string;
  apiToken: string;
  enrollmentToken: string;
  users: { email: string; role: string; password: string }[];
}

const equipment = (tag: string, type: string, intervalDays: number, extra: Record<string, unknown> = {}) => ({
  tag,
  siteId: 'plant-1',
  type,
  make: 'Keller',
  model: 'PA-33X',
  serial: `SN-${tag}`,
  procedure: { id: 'CP-001', revision: 'D' },
  intervalDays,
  ...extra,
});

const point = (asFound: number, asLeft?: number) => ({
  name: 'flow@60',
  nominal: 60,
  unit: 'mm3',
  asFound,
  lowerTolerance: -1,
  upperTolerance: 1,
  asFoundResult: Math.abs(asFound - 60) <= 1 ? 'pass' : 'fail',
  ...(asLeft !== undefined ? { asLeft, asLeftResult: Math.abs(asLeft - 60) <= 1 ? 'pass' : 'fail' } : {}),
});

const calibrationBody = (calibratedAt: string, asFound: number, extra: Record<string, unknown> = {}) => {
  const p = point(asFound);
  return {
    technician: 'A. Smith (level 3)',
    certificate: { number: `CERT-${calibratedAt.slice(0, 10)}` },
    standards: [{ id: 'STD-DWT-02', certificate: 'TR-55821', dueDate: date(300) }],
    points: [p],
    adjusted: false,
    asFoundResult: p.asFoundResult,
    calibratedAt,
    ...extra,
  };
};

describe('portal in a browser', () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'rt-portal-'));
  let cloud: Proc | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  let url = '';
  let seed: Seed;
  let secret: Uint8Array;
  const browserErrors: string[] = [];

  // API tokens only read calibration data: writes are made by the signed-in demo technician.
  let techSession: { cookie: string; csrf: string } | undefined;
  const techPassword = () => seed.users.find((u) => u.role === 'technician')!.password;
  const api = async (method: string, p: string, body?: unknown) => {
    if (method !== 'GET' && !techSession) {
      const tech = seed.users.find((u) => u.role === 'technician')!;
      const login = await fetch(`${url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tenant: seed.tenant, email: tech.email, password: tech.password }),
      });
      const lb = (await login.json()) as { csrfToken: string };
      techSession = { cookie: login.headers.getSetCookie()[0]!.split(';')[0]!, csrf: lb.csrfToken };
    }
    const res = await fetch(`${url}/api/v1${p}`, {
      method,
      headers: {
        ...(method === 'GET'
          ? { authorization: `Bearer ${seed.apiToken}` }
          : { cookie: techSession!.cookie, 'x-csrf-token': techSession!.csrf }),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    expect(res.status, `${method} ${p}: ${text}`).toBeLessThan(300);
    return text ? JSON.parse(text) : undefined;
  };

  const shot = (name: string, fullPage = true) =>
    page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is missing at ${CHROMIUM}: the portal's browser test needs it (apt-get install chromium; .ci/run installs it).`,
      );
    }
    // portal/dist is built once for the whole run by vitest.global-setup.ts.

    const dataDir = path.join(work, 'cloud');
    const started = await startProcess(
      'cloud/src/cli.ts',
      ['serve', '--port', '0', '--data-dir', dataDir],
      (l) => l.includes('"event":"listening"'),
    );
    cloud = started;
    url = (JSON.parse(started.readyLine) as { url: string }).url;
    const seeded = runCli('cloud/src/cli.ts', ['seed-demo', '--data-dir', dataDir]);
    expect(seeded.status, seeded.stderr).toBe(0);
    seed = JSON.parse(seeded.stdout) as Seed;

    // The register: one instrument per status.
    await api('POST', '/equipment', equipment('FLOW-CELL-07', 'flow cell', 90));
    await api('POST', '/equipment', equipment('PT-RAIL-03', 'pressure transducer', 180));
    await api('POST', '/equipment', equipment('TT-OIL-02', 'temperature probe', 30));
    await api(
      'POST',
      '/equipment',
      equipment('STD-DWT-02', 'dead-weight tester', 365, {
        referenceStandard: { certificate: 'TR-55821', dueDate: date(300) },
      }),
    );
    await api('POST', '/calibrations', {
      equipment: 'PT-RAIL-03',
      enteredBy: 'B. Jones',
      body: calibrationBody(at(170), 60.3),
      signature: { password: techPassword(), meaning: 'performed' },
    });
    await api('POST', '/calibrations', {
      equipment: 'STD-DWT-02',
      enteredBy: 'B. Jones',
      body: calibrationBody(at(10), 60.1, { standards: [] }),
      signature: { password: techPassword(), meaning: 'performed' },
    });

    // An edge's records: a passing calibration of FLOW-CELL-07, parts made with it, then a
    // calibration that fails as found, so those parts are suspect.
    const line = await new TestEdge(url, {
      protocol: 'opcua',
      endpoint: 'opc.tcp://bench.plant1.local:48400',
    }).enroll(seed.enrollmentToken, 'line-1');
    const rec = (kind: string, observedAt: string, body: unknown) =>
      line.record(kind, 'FLOW-CELL-07', observedAt, body);
    const usage = (d: number, part: string) =>
      rec('usage', at(d), {
        event: 'cycle',
        cycles: 1,
        operator: 'op-4471',
        workOrder: 'WO-1182',
        partSerial: part,
      });
    const records = [
      rec('calibration', at(60), calibrationBody(at(60), 60.2)),
      usage(20, 'INJ00000101'),
      usage(12, 'INJ00000102'),
      usage(5, 'INJ00000103'),
      rec('calibration', at(2), calibrationBody(at(2), 63.4)),
    ];
    expect((await line.ingest(records)).accepted).toBe(records.length);

    // The demo technician turns on TOTP (through the API, as the portal cannot enrol yet).
    const tech = seed.users.find((u) => u.role === 'technician')!;
    const login = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: seed.tenant, email: tech.email, password: tech.password }),
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
      body: JSON.stringify({ password: tech.password }),
    });
    secret = base32Decode(((await enroll.json()) as { secret: string }).secret);
    const confirm = await fetch(`${url}/api/v1/auth/mfa/totp/confirm`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ code: totp(secret, Math.floor(Date.now() / 1000)) }),
    });
    expect(confirm.status).toBe(200);

    mkdirSync(SHOTS, { recursive: true });
    context = await chromium.launchPersistentContext(path.join(work, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      viewport: { width: 1280, height: 800 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 401/.test(m.text())) browserErrors.push(m.text());
    });
    page.on('pageerror', (e) => browserErrors.push(e.message));
  }, 40_000);

  afterAll(async () => {
    await context?.close();
    await cloud?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('signs in with a password and a TOTP code, showing errors in between', async () => {
    const tech = seed.users.find((u) => u.role === 'technician')!;
    await page.goto(url);
    await page.getByLabel('Tenant').fill(seed.tenant);
    await page.getByLabel('Email').fill(tech.email);
    await page.getByLabel('Password').fill('not the password at all');
    await shot('01-sign-in');
    await page.getByLabel('Password').press('Enter');
    await expect.poll(() => page.getByTestId('sign-in-error').textContent()).toContain('wrong');
    await shot('02-sign-in-error');

    await page.getByLabel('Password').fill(tech.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const code = page.getByLabel('Authentication code');
    await code.waitFor();
    expect(await code.evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
    await code.fill(totp(secret, Math.floor(Date.now() / 1000)) === '000000' ? '111111' : '000000');
    await code.press('Enter');
    await expect.poll(() => page.getByTestId('sign-in-error').textContent()).toContain('not valid');
    await shot('03-mfa-error');
    // The next step's code: the current one was used to confirm enrolment (no replay).
    await code.fill(totp(secret, Math.floor(Date.now() / 1000) + 30));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByTestId('calibration-board').waitFor();
    expect(await page.getByTestId('who').textContent()).toContain('technician');
  });

  it('lists every instrument by urgency with its status, and filters by status and tag', async () => {
    const rows = page.getByTestId('board-row');
    await rows.first().waitFor();
    const board = async () =>
      rows.evaluateAll((trs) =>
        trs.map((tr) => [
          tr.getAttribute('data-tag'),
          tr.querySelector('[data-testid=status-badge]')?.textContent?.trim(),
        ]),
      );
    expect(await board()).toEqual([
      ['FLOW-CELL-07', 'Out of tolerance'],
      ['TT-OIL-02', 'Overdue'],
      ['PT-RAIL-03', 'Due soon'],
      ['STD-DWT-02', 'Current'],
    ]);
    expect((await page.locator('[data-tag="PT-RAIL-03"] td').last().textContent())?.trim()).toBe('10 days');
    await shot('04-board');

    await page.getByTestId('status-filter').getByText('Due soon').click();
    expect(await board()).toEqual([['PT-RAIL-03', 'Due soon']]);
    await page.getByTestId('status-filter').getByText('All').click();
    await page.getByLabel('Search by tag').fill('flow');
    expect(await board()).toEqual([['FLOW-CELL-07', 'Out of tolerance']]);
    await shot('05-board-filtered');
    await page.getByLabel('Search by tag').fill('nothing-like-this');
    expect(await page.getByTestId('board-empty').textContent()).toContain('No equipment matches');
    await page.getByLabel('Search by tag').fill('');

    await page.setViewportSize({ width: 820, height: 1100 });
    await shot('06-board-tablet');

    // Tags stay on one line at every width, never broken at a hyphen, and a phone does not
    // scroll sideways for them: one longer than its cell ends in "…", the whole tag on hover.
    const LONG = 'RIG-01-RP-RAIL-PRESSURE-SENSOR-07';
    await api('POST', '/equipment', equipment(LONG, 'pressure transducer', 180));
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.getByLabel('Search by tag').fill('RIG-01-RP');
    await expect.poll(board).toEqual([[LONG, 'Overdue']]);
    const tagLines = () =>
      page.locator('[data-testid=board-row] th[data-label=Tag]').evaluateAll((cells) =>
        cells.map((cell) => {
          const link = cell.querySelector('a')!;
          const range = cell.ownerDocument.createRange();
          range.selectNodeContents(link);
          const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
          return [link.textContent?.trim(), link.getAttribute('title'), lines.size];
        }),
      );
    for (const width of [PHONE.width, 560, 820, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      expect(await tagLines(), `at ${width} px`).toEqual([[LONG, LONG, 1]]);
      expect(await sidewaysOverflow(page), `at ${width} px`).toEqual({ px: 0, widest: null });
      if (width === PHONE.width) await shot('06-board-long-tag-390', false);
    }
    await page.getByLabel('Search by tag').fill('');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('opens an instrument: history with as-found/as-left, and the suspect records with a CSV', async () => {
    await page.getByRole('link', { name: 'FLOW-CELL-07' }).click();
    await page.getByTestId('equipment-page').waitFor();
    const history = page.getByTestId('calibration');
    await expect.poll(() => history.count()).toBe(2);
    expect(await history.first().textContent()).toContain('As found: fail');
    expect(await history.first().textContent()).toContain('TR-55821');
    await expect.poll(() => page.getByTestId('suspect-row').count()).toBe(3);
    const csvHref = await page.getByTestId('suspect-csv').getAttribute('href');
    const csv = await page.request.get(new URL(csvHref!, url).toString());
    expect(csv.status()).toBe(200);
    expect(await csv.text()).toContain('INJ00000102');
    await shot('07-equipment');
    await page.setViewportSize({ width: 820, height: 1100 });
    await shot('08-equipment-tablet');
    await page.setViewportSize({ width: 1280, height: 800 });

    await page.getByTestId('sign-out').click();
    await page.getByTestId('sign-in').waitFor();
    await page.reload();
    await page.getByTestId('sign-in').waitFor();
    expect(browserErrors).toEqual([]);
  });
});
