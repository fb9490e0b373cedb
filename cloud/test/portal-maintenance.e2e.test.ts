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

/**
 * A technician logs a repair that needs a calibration before use, in Chromium against the cloud
 * as a real process: the equipment shows out of service, a usage record an edge sends from it
 * raises a tag-out alert, and a passing calibration puts it back in service. At 390 and 1280 px
 * nothing scrolls sideways. Screenshots go to test-results/screenshots/.
 */

describe('maintenance in a browser', () => {
  let portal: PortalFixture;
  let b: Browser;
  let page: Page;
  let url = '';
  const user = (role: string) => portal.user(role);
  const api = (role: string, method: string, p: string, body?: unknown) => portal.api(role, method, p, body);

  beforeAll(async () => {
    portal = await startPortal('maint');
    ({ url, page, browser: b } = portal);
    await api('technician', 'POST', '/equipment', {
      tag: 'PT-MNT-01',
      siteId: 'plant-1',
      type: 'pressure transducer',
      intervalDays: 180,
    });
  }, 120_000);

  afterAll(async () => {
    await portal?.close();
  });

  it('a repair needing calibration tags the instrument out; its use raises an alert; a passing calibration returns it', async () => {
    const u = user('technician');
    await portal.signIn('technician');
    await page.goto(`${url}/#/equipment/PT-MNT-01`);
    const panel = page.getByTestId('maintenance');
    await panel.getByTestId('in-service').waitFor();

    await panel.getByTestId('event-kind').selectOption('repair');
    await panel
      .getByTestId('event-description')
      .fill('Diaphragm cracked after an overpressure; sensor cell replaced.');
    await panel.getByTestId('event-parts').fill('sensor cell PT-CELL-2500');
    await panel.getByTestId('event-cal-required').check();
    await panel.getByTestId('event-submit').click();
    await panel.getByTestId('out-of-service').waitFor();
    expect(await panel.getByTestId('out-of-service').textContent()).toContain(
      'A calibration is required after the repair',
    );
    expect(await panel.getByTestId('maintenance-event').first().textContent()).toContain(
      'sensor cell PT-CELL-2500',
    );

    // An edge of plant-1 sends a usage record from the instrument: a tag-out alert.
    const token = await api('admin', 'POST', '/sites/plant-1/enrollment-tokens', {});
    const edge = await new TestEdge(url, {
      protocol: 'modbus',
      endpoint: 'modbus://rig9.plant1.local:502',
    }).enroll(token.token, 'line-9');
    await edge.ingest([edge.usage('PT-MNT-01', new Date().toISOString(), 'start', { operator: 'op-9' })]);
    const alerts = (await api('technician', 'GET', '/alerts')).items as {
      kind: string;
      tag: string;
      message: string;
    }[];
    const tagOut = alerts.find((a) => a.kind === 'tag-out' && a.tag === 'PT-MNT-01');
    expect(tagOut?.message).toContain('PT-MNT-01 was used');

    for (const size of [DESKTOP, PHONE]) {
      await page.setViewportSize(size);
      await page.reload();
      await page.getByTestId('out-of-service').waitFor();
      await page.getByTestId('maintenance').scrollIntoViewIfNeeded();
      expect(await sidewaysOverflow(page)).toEqual({ px: 0, widest: null });
      await b.shot(`maintenance-out-of-service-${size.width}`);
    }

    // The board: out of service beside the calibration status, the next preventive task under the due date.
    await api('technician', 'POST', '/equipment/PT-MNT-01/maintenance/plans', {
      task: 'Zero check',
      intervalDays: 30,
      firstDue: '2099-01-01',
    });
    for (const size of [DESKTOP, PHONE]) {
      await page.setViewportSize(size);
      await page.goto(`${url}/#/`);
      await page.getByTestId('tag-search').fill('PT-MNT-01');
      const row = page.locator('[data-testid="board-row"][data-tag="PT-MNT-01"]');
      await row.getByTestId('out-of-service-badge').waitFor();
      expect(await row.getByTestId('board-pm').textContent()).toBe('PM 2099-01-01');
      expect(await sidewaysOverflow(page)).toEqual({ px: 0, widest: null });
      await b.shot(`maintenance-board-${size.width}`);
    }
    await page.goto(`${url}/#/equipment/PT-MNT-01`);
    await page.getByTestId('out-of-service').waitFor();

    // A passing calibration after the repair puts it back in service.
    await api('technician', 'POST', '/calibrations', {
      equipment: 'PT-MNT-01',
      enteredBy: 'A. Smith (level 3)',
      body: {
        technician: 'A. Smith (level 3)',
        standards: [],
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
        ],
        adjusted: false,
        asFoundResult: 'pass',
        calibratedAt: new Date().toISOString(),
      },
      signature: { password: u.password, meaning: 'performed' },
    });
    await page.setViewportSize(DESKTOP);
    await page.reload();
    await page.getByTestId('maintenance').getByTestId('in-service').waitFor();
    await b.shot('maintenance-back-in-service-1280');
    expect(b.errors).toEqual([]);
  }, 120_000);
  it('edits a preventive-maintenance plan (task, interval, first due) and retires it; the board follows', async () => {
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    await page.setViewportSize(DESKTOP);
    await page.goto(`${url}/#/equipment/PT-MNT-01`);
    const panel = page.getByTestId('maintenance');
    const plan = panel.getByTestId('pm-plan').filter({ hasText: 'Zero check' });
    await plan.waitFor();
    await plan.getByTestId('pm-edit').click();
    const form = panel.getByTestId('pm-edit-form');
    expect(await form.getByTestId('pm-edit-first-due').inputValue()).toBe('2099-01-01');
    await form.getByTestId('pm-edit-task').fill('Zero and span check');
    await form.getByTestId('pm-edit-interval').fill('14');
    await form.getByTestId('pm-edit-first-due').fill(yesterday);
    // Each date field shows the day chosen the portal's one way, with the calendar it is a day of.
    expect(await form.locator('#pm-edit-first-due-hint').textContent()).toMatch(
      new RegExp(`^\\s*${yesterday} · a day in \\S+\\s*$`),
    );
    expect(await panel.locator('#pm-first-due-hint').textContent()).toMatch(
      /^\s*YYYY-MM-DD · a day in \S+\s*$/,
    );
    for (const size of [PHONE, DESKTOP]) {
      await page.setViewportSize(size);
      await form.scrollIntoViewIfNeeded();
      expect(await sidewaysOverflow(page)).toEqual({ px: 0, widest: null });
      await b.shot(`maintenance-plan-edit-${size.width}`, false);
    }
    await form.getByTestId('pm-save').click();
    const edited = panel.getByTestId('pm-plan').filter({ hasText: 'Zero and span check' });
    await edited.getByTestId('pm-status').waitFor();
    expect(await edited.textContent()).toContain(`every 14 days: next due ${yesterday}`);
    expect(await edited.getByTestId('pm-status').textContent()).toBe('(overdue)');
    const saved = await api('technician', 'GET', '/equipment/PT-MNT-01/maintenance');
    expect(saved.plans[0]).toMatchObject({
      task: 'Zero and span check',
      intervalDays: 14,
      firstDue: yesterday,
    });

    // The board shows the overdue task in red beside the calibration status.
    await page.goto(`${url}/#/`);
    await page.getByTestId('tag-search').fill('PT-MNT-01');
    const row = page.locator('[data-testid="board-row"][data-tag="PT-MNT-01"]');
    const pm = row.getByTestId('board-pm');
    await pm.waitFor();
    expect(await pm.textContent()).toBe(`PM ${yesterday} overdue`);
    expect(await pm.getAttribute('class')).toContain('result-fail');
    for (const size of [PHONE, DESKTOP]) {
      await page.setViewportSize(size);
      expect(await sidewaysOverflow(page)).toEqual({ px: 0, widest: null });
      // The PM line sits right under the calibration's next due date, in the same column (on a
      // phone too, where the row is a card with the column's name on the left).
      const at = await row.locator('td[data-label="Next due"]').evaluate((cell: any) => {
        // The cell's own text (before the fix) or the date's element: where the date is drawn.
        const text = [...cell.childNodes].find((n: any) => n.nodeType === 3 && n.textContent.trim());
        const range = cell.ownerDocument.createRange();
        range.selectNodeContents(text ?? cell.querySelector('[data-testid="board-due"]'));
        const due = range.getBoundingClientRect();
        const pm = cell.querySelector('[data-testid="board-pm"]').getBoundingClientRect();
        return { left: Math.round(pm.left - due.left), gap: Math.round(pm.top - due.bottom) };
      });
      expect(at.left, `${size.width} px`).toBe(0);
      expect(at.gap, `${size.width} px`).toBeGreaterThanOrEqual(0);
      expect(at.gap, `${size.width} px`).toBeLessThan(6);
      await row.scrollIntoViewIfNeeded();
      await b.shot(`maintenance-board-pm-overdue-${size.width}`, false);
    }

    // Retired: no longer due, kept in the list, gone from the board.
    await page.goto(`${url}/#/equipment/PT-MNT-01`);
    await edited.getByTestId('pm-retire').click();
    await panel.getByTestId('pm-plan').filter({ hasText: 'retired' }).waitFor();
    expect(await panel.getByTestId('pm-edit').count()).toBe(0);
    await page.goto(`${url}/#/`);
    await page.getByTestId('tag-search').fill('PT-MNT-01');
    await row.waitFor();
    expect(await row.getByTestId('board-pm').count()).toBe(0);
    expect(b.errors).toEqual([]);
  }, 120_000);
});
