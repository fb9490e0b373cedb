import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@rigtrace/protocols/testing';
import { seedDemoPlant } from '../../deploy/demo/history.js';
import {
  DESKTOP,
  momentsNotShownOneWay,
  PHONE,
  pageSettled,
  sidewaysOverflow,
  startPortal,
  widerThanTheirBox,
  type PortalFixture,
} from './helpers/browser.js';

/**
 * Every page of the portal at 390 and 1280 px, for every role that signs in to it, on the demo
 * plant's year of history: nothing scrolls sideways and nothing is wider than its box. The pages
 * come from the portal's router itself (its fixed addresses, and one address for each address
 * pattern and each route), so a new page is checked without anyone adding it here.
 * Screenshots of a few pages at 390 px go to test-results/screenshots/.
 */

const ROUTER = readFileSync(path.join(repoRoot, 'portal/src/lib/router.svelte.ts'), 'utf8');

/** The route names of the router's `Route` type. */
function routeNames(): string[] {
  const union = /export type Route =([\s\S]*?);\n/.exec(ROUTER)?.[1] ?? '';
  return [...union.matchAll(/name: '([^']+)'/g)].map((m) => m[1]!);
}

/** The router's fixed addresses and the route each opens. */
function fixedAddresses(): [string, string][] {
  const table = /const FIXED[^=]*= \{([\s\S]*?)\n\};/.exec(ROUTER)?.[1] ?? '';
  return [...table.matchAll(/'([^']+)': \{ name: '([^']+)'/g)].map((m) => [m[1]!, m[2]!]);
}

/** The address patterns of parseRoute (`/^\/equipment\/(.+)$/`…) as regular expressions. */
function addressPatterns(): RegExp[] {
  const body = /export function parseRoute[\s\S]*?\n\}\n/.exec(ROUTER)?.[0] ?? '';
  return [...body.matchAll(/= (\/\^.*?\$\/)\.exec/g)].map((m) => {
    const src = m[1]!.slice(1, -1);
    return new RegExp(src);
  });
}

describe('every page of the portal at 390 and 1280 px', () => {
  let portal: PortalFixture;
  let page: Page;
  /** Addresses with a parameter: one of each, filled with the demo plant's own things. */
  const withParameters: [string, string][] = [];

  beforeAll(async () => {
    portal = await startPortal('layout');
    page = portal.page;
    await seedDemoPlant(portal.url, portal.seed.tenant, portal.seed.users);
    // The demo's open case: its flow cell, tagged out, with its history and suspect records.
    const cases = (await portal.api('admin', 'GET', '/oot-cases')).items as {
      id: string;
      equipment: string;
    }[];
    const calibrations = (await portal.api('admin', 'GET', '/calibrations?approval=approved&limit=1'))
      .items as { id: string; equipment: string }[];
    const tag = encodeURIComponent(cases[0]!.equipment);
    const cal = calibrations[0]!;
    withParameters.push(
      [`/equipment/${tag}`, 'equipment'],
      [`/register/edit/${tag}`, 'register-edit'],
      [`/calibrations/new/${tag}`, 'record'],
      [
        `/calibrations/new/${encodeURIComponent(cal.equipment)}/corrects/${encodeURIComponent(cal.id)}`,
        'record',
      ],
      [`/oot/${encodeURIComponent(cases[0]!.id)}`, 'case'],
      ['/live/plant-1', 'live'],
    );
  }, 180_000);

  afterAll(async () => {
    await portal?.close();
  });

  const addresses = () => [...fixedAddresses(), ...withParameters];

  it('reads every page of the router', () => {
    const fixed = fixedAddresses();
    expect(fixed.length).toBeGreaterThan(15);
    // Each address pattern of parseRoute has an address here…
    const patterns = addressPatterns();
    expect(patterns.length).toBeGreaterThanOrEqual(5);
    for (const re of patterns)
      expect(
        withParameters.some(([a]) => re.test(a)),
        `no address for ${re}: add one to withParameters`,
      ).toBe(true);
    // …and each route of the Route type is opened by one of them.
    const opened = new Set(addresses().map(([, name]) => name));
    for (const name of routeNames()) expect(opened, `route ${name}`).toContain(name);
  });

  async function layoutProblems(who: string, width: number, address: string): Promise<string[]> {
    const out: string[] = [];
    const scroll = await page.evaluate(() => {
      const g = globalThis as any;
      return {
        scrollWidth: g.document.scrollingElement.scrollWidth as number,
        inner: g.innerWidth as number,
      };
    });
    if (scroll.scrollWidth > scroll.inner) {
      const o = await sidewaysOverflow(page);
      out.push(
        `${who} ${address} at ${width} px: scrolls to ${scroll.scrollWidth} px (widest: ${o.widest ?? '?'})`,
      );
    }
    for (const w of await widerThanTheirBox(page)) out.push(`${who} ${address} at ${width} px: ${w}`);
    return out;
  }

  let loads = 0;
  /** Loads the page afresh (a new document, not a hash change): what is measured is that page alone. */
  async function visit(address: string) {
    loads += 1;
    await page.goto(`${portal.url}/?load=${loads}#${address}`);
    await page.locator('main section, main form').first().waitFor();
    await pageSettled(page);
  }

  it('opens the sign-in page without sideways scrolling', async () => {
    const problems: string[] = [];
    for (const size of [PHONE, DESKTOP]) {
      await page.setViewportSize(size);
      await visit('/sign-in');
      await page.getByTestId('sign-in-form').waitFor();
      problems.push(...(await layoutProblems('signed out', size.width, '/sign-in')));
    }
    expect(problems).toEqual([]);
  });

  it('dates the as-found chart in the site’s time zone, as every moment of the portal', async () => {
    await page.setViewportSize(DESKTOP);
    await portal.signIn('manager');
    await visit(withParameters[0]![0]);
    const over = page.locator('[data-testid=calibration-history], .chart').locator('.u-over').first();
    await over.waitFor();
    await over.scrollIntoViewIfNeeded();
    const box = (await over.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const when = page.locator('.u-legend .u-series').first().locator('.u-value');
    await expect.poll(() => when.textContent()).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);
    await portal.browser.shot('layout-as-found-chart-1280', false);
    // Its table for screen readers: the calibrations' days.
    const days = await page.locator('.visually-hidden table tbody th').allTextContents();
    expect(days.length).toBeGreaterThan(1);
    for (const d of days) expect(d.trim()).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  /** Pages shot at 390 px (the top of the page, as a phone shows it) for a person to look at. */
  const SHOOT = new Set(['board', 'equipment', 'record', 'approvals', 'case', 'users', 'reports', 'live']);

  it.each(['admin', 'manager', 'technician', 'auditor'])(
    'opens every page for the %s without sideways scrolling or anything wider than its box',
    async (role) => {
      await page.setViewportSize(DESKTOP);
      await portal.signIn(role);
      const problems: string[] = [];
      for (const size of [PHONE, DESKTOP]) {
        await page.setViewportSize(size);
        const shot = new Set<string>();
        for (const [address, name] of addresses()) {
          if (address === '/sign-in') continue;
          await visit(address);
          problems.push(...(await layoutProblems(role, size.width, address)));
          if (size === DESKTOP)
            for (const d of await momentsNotShownOneWay(page)) problems.push(`${role} ${address}: ${d}`);
          if (size === PHONE && role === 'admin' && SHOOT.has(name) && !shot.has(name)) {
            shot.add(name);
            await portal.browser.shot(`layout-${name}-390`, false);
          }
        }
      }
      await page.setViewportSize(DESKTOP);
      expect(problems).toEqual([]);
      expect(portal.browser.errors).toEqual([]);
    },
    300_000,
  );
});
