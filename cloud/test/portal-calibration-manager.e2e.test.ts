import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DESKTOP,
  PHONE,
  pageSettled,
  sidewaysOverflow,
  type Browser,
  startPortal,
  type DemoSeed,
  type PortalFixture,
} from './helpers/browser.js';
import { TestEdge } from './helpers/edge.js';

/**
 * A lab moving its calibration management into RigTrace, in Chromium against the cloud as a real
 * process: the technician adds an instrument with every register field, edits it, retires it and
 * puts it back in service; imports the rest of the old register from CSV after a dry run that
 * names each row's problems; export-control fields appear only for a user cleared for them. Every
 * new page is opened at 390 and 1280 px: none scrolls sideways. Screenshots go to
 * test-results/screenshots/.
 */

describe('the calibration manager in a browser', () => {
  let portal: PortalFixture;
  let b: Browser;
  let page: Page;
  let url = '';
  let seed: DemoSeed;

  const user = (role: string) => portal.user(role);
  const api = (role: string, method: string, p: string, body?: unknown) => portal.api(role, method, p, body);

  const signIn = (role: string) => portal.signIn(role);
  const menu = (name: string) => portal.menu(name);
  const fact = async (label: string) =>
    (
      await page
        .locator('dl.facts > div', { has: page.locator('dt', { hasText: label }) })
        .first()
        .locator('dd')
        .textContent()
    )?.trim();

  beforeAll(async () => {
    portal = await startPortal('calman');
    ({ url, seed, page, browser: b } = portal);
    await api('technician', 'POST', '/equipment', {
      tag: 'STD-PRS-0007',
      siteId: 'plant-1',
      type: 'dead-weight tester',
      intervalDays: 365,
      referenceStandard: { certificate: 'DKD-K-1207-2026', dueDate: '2027-06-30' },
    });
  }, 120_000);

  afterAll(async () => {
    await portal?.close();
  });

  it('adds, edits, retires and re-activates an instrument with every register field', async () => {
    await signIn('technician');
    await menu('Register');
    await page.getByTestId('register-page').waitFor();
    await page.getByTestId('add-equipment').click();
    const form = page.getByTestId('equipment-form');
    await form.waitFor();
    // Export control is for users cleared for it: not this technician.
    expect(await page.getByTestId('export-fields').count()).toBe(0);
    // Nothing typed: the form names what is missing and sends nothing.
    await form.getByLabel('Type').fill('');
    await page.getByRole('button', { name: 'Register' }).click();
    expect(await page.getByTestId('form-errors').textContent()).toContain('fields need attention');

    await form.getByLabel('Asset tag').fill('PT-RIG01-RAIL');
    await form.getByLabel('Site').selectOption('plant-1');
    await form.getByLabel('Type').fill('rail-pressure transducer');
    await form.getByLabel('Make').fill('Kistler');
    await form.getByLabel('Model').fill('4067E');
    await form.getByLabel('Serial number').fill('K-4067-119');
    await form.getByLabel('Firmware / software version').fill('3.2.0');
    await form.getByLabel('Location').fill('RIG-01 rail');
    await form.getByLabel('Owner', { exact: true }).selectOption('supplier');
    await form.getByLabel('Owner’s name (customer, supplier)').fill('Kistler Instrumente AG');
    await form.getByLabel('Interval (days)').fill('180');
    await form.getByLabel('Interval (usage cycles, optional)').fill('50000');
    await form.getByLabel('Due-soon lead time (days; empty: the tenant default)').fill('21');
    await form.getByLabel('Procedure', { exact: true }).fill('CP-PT-001');
    await form.getByLabel('Procedure revision').fill('D');
    await form.getByLabel('Range from').fill('0');
    await form.getByLabel('Range to').fill('2500');
    await form.getByLabel('Range unit').fill('bar');
    await form.getByLabel('Acceptance criteria').fill('±5 bar at 1000 bar');
    // The cloud's own rule (due-soon shorter than the interval) comes back on the field.
    await form.getByLabel('Due-soon lead time (days; empty: the tenant default)').fill('200');
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByTestId('server-error').waitFor();
    expect(await form.locator('.field-error').first().textContent()).toContain('shorter than intervalDays');
    // That refusal is the one console error so far (the browser logs every 400).
    expect(b.errors).toEqual([expect.stringContaining('status of 400')]);
    b.errors.splice(0);
    await form.getByLabel('Due-soon lead time (days; empty: the tenant default)').fill('21');
    await b.shot('calman-01-add-equipment-1280');
    await page.getByRole('button', { name: 'Register' }).click();

    await page.getByTestId('equipment-page').waitFor();
    await page.getByTestId('fact-serial').waitFor();
    expect(await fact('Make / model')).toBe('Kistler 4067E');
    expect(await fact('Serial')).toBe('K-4067-119');
    expect(await fact('Firmware')).toBe('3.2.0');
    expect(await fact('Owner')).toBe('Supplier’s (Kistler Instrumente AG)');
    expect(await fact('Procedure')).toBe('CP-PT-001 rev D');
    expect(await fact('Interval')).toContain('180 days or 50,000 cycles');
    expect(await fact('Due-soon lead time')).toBe('21 days');
    const stored = await api('technician', 'GET', '/equipment/PT-RIG01-RAIL');
    expect(stored).toMatchObject({
      range: { min: 0, max: 2500, unit: 'bar' },
      acceptanceCriteria: '±5 bar at 1000 bar',
      owner: { kind: 'supplier', name: 'Kistler Instrumente AG' },
    });

    await page.getByTestId('edit-equipment').click();
    await form.waitFor();
    await expect.poll(() => form.getByLabel('Serial number').inputValue()).toBe('K-4067-119');
    await form.getByLabel('Location').fill('RIG-01 rail, position 2');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('fact-serial').waitFor();
    expect(await fact('Location')).toBe('RIG-01 rail, position 2');
    // Unchanged fields stayed as they were.
    expect((await api('technician', 'GET', '/equipment/PT-RIG01-RAIL')).intervalCycles).toBe(50000);

    await page.getByTestId('retire').click();
    await page.getByTestId('retire-confirm').click();
    await page.getByTestId('retired').waitFor();
    expect(await page.getByTestId('record-here').count()).toBe(0);
    expect((await api('technician', 'GET', '/equipment/PT-RIG01-RAIL')).retiredAt).not.toBeNull();
    await menu('Register');
    await page.getByTestId('register-row').first().waitFor();
    expect(await page.locator('[data-testid=register-row][data-tag="PT-RIG01-RAIL"]').count()).toBe(0);
    await page.getByTestId('show-retired').check();
    const row = page.locator('[data-testid=register-row][data-tag="PT-RIG01-RAIL"]');
    await row.waitFor();
    expect(await row.textContent()).toContain('retired');
    await row.getByRole('link', { name: 'PT-RIG01-RAIL' }).click();
    await page.getByTestId('reactivate').click();
    await page.getByTestId('record-here').waitFor();
    expect((await api('technician', 'GET', '/equipment/PT-RIG01-RAIL')).retiredAt).toBeNull();
    const audit = (await api('admin', 'GET', '/audit?limit=1000')).items
      .map((i: { entry: { action: string; target?: { id: string } } }) => i.entry)
      .filter((e: { target?: { id: string } }) => e.target?.id === 'PT-RIG01-RAIL')
      .map((e: { action: string }) => e.action);
    expect(audit).toEqual([
      'equipment.create',
      'equipment.update',
      'equipment.retire',
      'equipment.reactivate',
    ]);
  }, 120_000);

  it('imports the old register from CSV after a dry run that names every row’s problems', async () => {
    await signIn('technician');
    await menu('Register');
    await page.getByTestId('import-register').click();
    await page.getByTestId('import-page').waitFor();
    const header =
      'Tag,Site ID,Type,Make,Model,Serial,Location,Owner,Interval days,Interval cycles,Procedure id,Procedure revision';
    const rows = [
      'GA-0101,plant-1,air gauge,Marposs,E9066,M-55120,station 3,ours,90,20000,CP-AG-004,C',
      'GA-0102,plant-1,air gauge,Marposs,E9066,M-55121,station 3,customer,ninety,,CP-AG-004,C',
      'GA-0103,plant-7,air gauge,Marposs,E9066,M-55122,station 3,ours,90,,CP-AG-004,C',
      'STD-PRS-0007,plant-1,dead-weight tester,DH,5201,D-9,lab,ours,365,,,',
    ];
    await page.getByTestId('import-csv').fill([header, ...rows].join('\n'));
    await page.getByTestId('import-check').click();
    await page.getByTestId('import-result').waitFor();
    const problems = page.getByTestId('import-problem');
    await expect.poll(() => problems.count()).toBe(3);
    expect(await page.locator('[data-testid=import-problem][data-line="3"]').textContent()).toContain(
      'intervalDays: "ninety" is not a number',
    );
    expect(await page.locator('[data-testid=import-problem][data-line="4"]').textContent()).toContain(
      'siteId: no such site',
    );
    expect(await page.locator('[data-testid=import-problem][data-line="5"]').textContent()).toContain(
      'already registered',
    );
    expect(await page.getByTestId('import-go').isDisabled()).toBe(true);
    await b.shot('calman-02-import-dry-run-1280');
    // The dry run registered nothing.
    const before = (await api('technician', 'GET', '/equipment?limit=1000')).items.length;
    expect(before).toBe(2);

    await page
      .getByTestId('import-csv')
      .fill(
        [header, rows[0], rows[1]!.replace('ninety', '90'), rows[2]!.replace('plant-7', 'plant-1')].join(
          '\n',
        ),
      );
    // Changed text needs a new dry run before it can be imported.
    expect(await page.getByTestId('import-go').isDisabled()).toBe(true);
    await page.getByTestId('import-check').click();
    await expect
      .poll(() => page.getByTestId('import-result').textContent())
      .toContain('3 rows ready to import');
    await page.getByTestId('import-go').click();
    await page.getByTestId('import-done').waitFor();
    expect(await page.getByTestId('import-done').textContent()).toContain('GA-0101, GA-0102, GA-0103');
    const g2 = await api('technician', 'GET', '/equipment/GA-0102');
    expect(g2).toMatchObject({
      make: 'Marposs',
      serial: 'M-55121',
      owner: { kind: 'customer' },
      intervalDays: 90,
    });
    await menu('Register');
    await expect.poll(() => page.getByTestId('register-row').count()).toBe(5);
    expect(
      await page
        .locator('[data-testid=register-row][data-tag="GA-0101"] [data-testid=register-interval]')
        .textContent(),
    ).toBe('90 d or 20,000 cycles');
  }, 120_000);

  it('writes a procedure and records a calibration from it: points fixed, limits shown, pass/fail as typed', async () => {
    await signIn('technician');
    await menu('Procedures');
    await page.getByTestId('procedures-empty').waitFor();
    const form = page.getByTestId('procedure-form');
    await form.getByLabel('Procedure id').fill('CP-PT-001');
    await form.getByLabel('Revision').fill('D');
    await form.getByLabel('Title').fill('Rail-pressure transducer against the dead-weight tester');
    const cell = (i: number, label: string) => form.getByLabel(`${label} of point ${i + 1}`);
    await cell(0, 'Name').fill('500 bar');
    await cell(0, 'Unit').fill('bar');
    await cell(0, 'Nominal').fill('500');
    await cell(0, '± Tolerance').fill('2.5');
    await form.getByRole('button', { name: 'Add point' }).click();
    await cell(1, 'Name').fill('1000 bar');
    await cell(1, 'Unit').fill('bar');
    await cell(1, 'Nominal').fill('1000');
    await cell(1, 'Lower limit').fill('995');
    await cell(1, 'Upper limit').fill('1005');
    await form.getByLabel('Required reference standards (asset tags, comma-separated)').fill('STD-PRS-0007');
    await form.getByLabel('Temperature from (°C)').fill('18');
    await form.getByLabel('Temperature to (°C)').fill('22');
    await form.getByRole('button', { name: 'Store revision' }).click();
    const card = page.locator('[data-testid=procedure][data-procedure="CP-PT-001"]');
    await card.waitFor();
    expect(await card.textContent()).toMatch(/CP-PT-001 rev D.*1000 bar.*995 … 1005 bar.*-5 \/ \+5/s);
    await b.shot('calman-03-procedures-1280');

    // PT-RIG01-RAIL names CP-PT-001 rev D in the register (the first test).
    await page.goto(`${url}/#/calibrations/new/PT-RIG01-RAIL`);
    await page.getByTestId('procedure-note').waitFor();
    expect(await page.getByTestId('procedure-note').textContent()).toContain('CP-PT-001 rev D');
    const rows = page.getByTestId('point-row');
    await expect.poll(() => rows.count()).toBe(2);
    // The names, nominals and limits are the procedure's: typed text cannot split the series.
    expect(await page.locator('#f-points-1-name').inputValue()).toBe('1000 bar');
    expect(await page.locator('#f-points-1-name').isEditable()).toBe(false);
    expect(await page.locator('#f-points-1-lowerTolerance').isEditable()).toBe(false);
    expect(await rows.nth(1).getByTestId('point-limits').innerText()).toBe('995 … 1005 bar');
    expect(await rows.nth(0).getByTestId('point-limits').innerText()).toBe('497.5 … 502.5 bar');
    expect(await page.getByRole('button', { name: 'Add point' }).count()).toBe(0);
    // The required standard is ticked.
    expect(await page.getByRole('checkbox', { name: /STD-PRS-0007/ }).isChecked()).toBe(true);

    await page.locator('#f-points-0-asFound').fill('500.4');
    await page.locator('#f-points-1-asFound').fill('1007.42');
    expect(await rows.nth(0).getByTestId('live-asFound').textContent()).toBe('pass');
    expect(await rows.nth(1).getByTestId('live-asFound').textContent()).toBe('fail');
    // On the limit is a pass (the one verdict rule, decided in decimal).
    await page.locator('#f-points-1-asFound').fill('1005');
    expect(await rows.nth(1).getByTestId('live-asFound').textContent()).toBe('pass');
    await page.locator('#f-points-1-asFound').fill('992.58');
    expect(await rows.nth(1).getByTestId('live-asFound').textContent()).toBe('fail');
    await page.getByLabel('Temperature (°C)').fill('20.5');
    await page.getByLabel('Relative humidity (%)').fill('45');
    await page.getByLabel('Remarks').fill('Found −7.42 bar at 1000 bar; not adjusted, tagged out.');
    await page.getByLabel('Performed by (name and qualification)').fill('T-0124 A. Novak (level 2)');
    await page.getByLabel('My password').fill(user('technician').password);
    await b.shot('calman-04-record-from-procedure-1280');
    await page.getByRole('button', { name: 'Sign and record' }).click();
    await page.getByTestId('record-result').waitFor();
    const cals = (await api('technician', 'GET', '/equipment/PT-RIG01-RAIL/calibrations')).items;
    expect(cals).toHaveLength(1);
    expect(cals[0].body).toMatchObject({
      procedure: { id: 'CP-PT-001', revision: 'D' },
      environment: { temperatureC: 20.5, humidityPct: 45 },
      remarks: 'Found −7.42 bar at 1000 bar; not adjusted, tagged out.',
      standards: [{ id: 'STD-PRS-0007', certificate: 'DKD-K-1207-2026', dueDate: '2027-06-30' }],
      asFoundResult: 'fail',
    });
    expect(cals[0].body.points.map((p: { name: string }) => p.name)).toEqual(['500 bar', '1000 bar']);
    expect(cals[0].traceability.status).toBe('ok');
  }, 120_000);

  it('shows export-control fields to a user cleared for them, and lays out every new page at 390 and 1280 px', async () => {
    const users = (await api('admin', 'GET', '/users')).items as { id: string; email: string }[];
    const tech = users.find((u) => u.email === user('technician').email)!;
    await api('admin', 'PUT', `/users/${tech.id}/us-person`, { usPerson: true });
    await signIn('technician');
    await page.goto(`${url}/#/register/edit/GA-0101`);
    await page.getByTestId('export-fields').waitFor();
    await page.getByLabel('Regime').selectOption('EAR');
    await page.getByLabel('ECCN').fill('3A001');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('fact-serial').or(page.getByTestId('server-error')).first().waitFor();
    expect(
      await page.getByTestId('server-error').count(),
      (await page.locator('main').textContent()) ?? '',
    ).toBe(0);
    expect(await fact('Export control')).toBe('EAR 3A001');

    const pages: [string, string][] = [
      ['register', '#/register'],
      ['register-new', '#/register/new'],
      ['register-edit', '#/register/edit/PT-RIG01-RAIL'],
      ['register-import', '#/register/import'],
      ['equipment', '#/equipment/PT-RIG01-RAIL'],
      ['procedures', '#/procedures'],
      ['record-from-procedure', '#/calibrations/new/PT-RIG01-RAIL'],
    ];
    const problems: string[] = [];
    for (const size of [PHONE, DESKTOP]) {
      await page.setViewportSize(size);
      for (const [name, hash] of pages) {
        await page.goto(`${url}/${hash}`);
        await page.locator('main section').first().waitFor();
        await pageSettled(page);
        const o = await sidewaysOverflow(page);
        if (o.px > 0)
          problems.push(`${name} at ${size.width} px scrolls ${o.px} px sideways (widest: ${o.widest})`);
        await b.shot(`calman-page-${name}-${size.width}`);
      }
    }
    expect(problems).toEqual([]);
    await page.setViewportSize(DESKTOP);
    expect(b.errors).toEqual([]);
  }, 180_000);

  it('counts usage cycles toward the interval: the register, the board and the due-list show it', async () => {
    await api('technician', 'POST', '/equipment', {
      tag: 'FC-07',
      siteId: 'plant-1',
      type: 'flow cell',
      intervalDays: 365,
      intervalCycles: 1000,
    });
    const calibratedAt = new Date(Date.now() - 3 * 86_400_000).toISOString();
    await api('technician', 'POST', '/calibrations', {
      equipment: 'FC-07',
      enteredBy: 'T-0124 A. Novak',
      body: {
        technician: 'T-0124 A. Novak',
        standards: [],
        points: [
          {
            name: 'full load',
            nominal: 60,
            unit: 'mm3/stroke',
            asFound: 60.1,
            lowerTolerance: -0.33,
            upperTolerance: 0.33,
            asFoundResult: 'pass',
          },
        ],
        adjusted: false,
        asFoundResult: 'pass',
        calibratedAt,
      },
      signature: { password: user('technician').password, meaning: 'performed' },
    });
    const edge = await new TestEdge(url, {
      protocol: 'modbus',
      endpoint: 'modbus://rig01.plant1.local:502',
    }).enroll(seed.enrollmentToken, 'rig-pc');
    // 950 of 1000 cycles since the calibration, in 19 runs of 50: due soon by use, though the
    // calendar says a year.
    await edge.ingest(
      Array.from({ length: 19 }, (_, i) =>
        edge.record('usage', 'FC-07', new Date(Date.now() - (40 - i) * 3_600_000).toISOString(), {
          event: 'cycle',
          cycles: 50,
          operator: 'op-17',
          workOrder: 'WO-1182',
        }),
      ),
    );

    await signIn('technician');
    await menu('Register');
    const row = page.locator('[data-testid=register-row][data-tag="FC-07"]');
    await row.waitFor();
    expect(await row.getByTestId('register-interval').textContent()).toBe('365 d or 1,000 cycles');
    expect(await row.getByTestId('register-cycles').textContent()).toBe('950 used');
    expect(await row.textContent()).toContain('Due soon');
    await b.shot('calman-05-register-cycles-1280');
    await menu('Calibration');
    const boardRow = page.locator('[data-testid=board-row][data-tag="FC-07"]');
    await boardRow.waitFor();
    expect(await boardRow.textContent()).toContain('Due soon');
    expect(await boardRow.getByTestId('board-cycles').textContent()).toBe('950 of 1,000 cycles');
    const due = await api('technician', 'GET', '/due-list?days=30');
    expect(due.sites[0].items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ tag: 'FC-07', status: 'due-soon', cycles: { used: 950, interval: 1000 } }),
      ]),
    );
    await page.setViewportSize(PHONE);
    await page.reload();
    await boardRow.waitFor();
    expect((await sidewaysOverflow(page)).px).toBe(0);
    await b.shot('calman-06-board-cycles-390');
    await page.setViewportSize(DESKTOP);
  }, 120_000);

  it('shows units as symbols on the procedures page and while a calibration is typed', async () => {
    await api('technician', 'POST', '/procedures', {
      id: 'CP-FC-011',
      revision: 'B',
      title: 'Flow cell against the reference flow meter',
      points: [{ name: 'full load', unit: 'mm3/stroke', nominal: 60, tolerance: 0.33 }],
    });
    await signIn('technician');
    await menu('Procedures');
    const card = page.locator('[data-testid=procedure][data-procedure="CP-FC-011"]');
    await card.waitFor();
    expect(await card.innerText()).toContain('59.67 … 60.33 mm³/stroke');
    expect(await card.innerText()).not.toContain('mm3');

    // A point typed by hand: no limits until nominal and tolerances are in, then in the unit's symbol.
    await page.goto(`${url}/#/calibrations/new/STD-PRS-0007`);
    const row = page.getByTestId('point-row').first();
    await row.waitFor();
    await page.locator('#f-points-0-unit').fill('mm3/stroke');
    expect((await row.getByTestId('point-limits').innerText()).trim()).toBe('—');
    await page.locator('#f-points-0-nominal').fill('60');
    await page.locator('#f-points-0-lowerTolerance').fill('-0.33');
    await page.locator('#f-points-0-upperTolerance').fill('0.33');
    expect((await row.getByTestId('point-limits').innerText()).trim()).toBe('59.67 … 60.33 mm³/stroke');
  }, 60_000);

  it('makes an instrument a reference standard with its certificate, due date and uncertainty', async () => {
    await api('technician', 'POST', '/equipment', {
      tag: 'STD-FLOW-0002',
      siteId: 'plant-1',
      type: 'reference flow meter',
      intervalDays: 365,
    });
    await signIn('technician');
    await page.goto(`${url}/#/register/edit/STD-FLOW-0002`);
    const form = page.getByTestId('equipment-form');
    await form.waitFor();
    expect(await form.getByTestId('is-standard').isChecked()).toBe(false);
    await form.getByTestId('is-standard').check();
    await form.getByLabel('Certificate number').fill('DKD-K-0815-2026');
    await form.getByLabel('Certificate due').fill('2027-03-31');
    // The day chosen, also in the portal's one way, as on every date field.
    expect(await form.locator('#q-stdDueDate-hint').textContent()).toMatch(
      /^\s*2027-03-31 · a day in \S+\s*$/,
    );
    await form.getByLabel('Uncertainty', { exact: true }).fill('0.05');
    await form.getByLabel('Uncertainty unit').fill('%');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('fact-serial').waitFor();
    expect(await fact('Reference standard')).toBe('certificate DKD-K-0815-2026, due 2027-03-31, U = 0.05 %');
    expect((await api('technician', 'GET', '/equipment/STD-FLOW-0002')).referenceStandard).toEqual({
      certificate: 'DKD-K-0815-2026',
      dueDate: '2027-03-31',
      uncertainty: 0.05,
      uncertaintyUnit: '%',
    });
    // Opened again, the form shows what is stored.
    await page.goto(`${url}/#/register/edit/STD-FLOW-0002`);
    await form.waitFor();
    await expect.poll(() => form.getByLabel('Certificate number').inputValue()).toBe('DKD-K-0815-2026');
    expect(await form.getByTestId('is-standard').isChecked()).toBe(true);
    expect(b.errors).toEqual([]);
  }, 60_000);
});
