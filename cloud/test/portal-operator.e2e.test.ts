import { spawnSync } from 'node:child_process';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@rigtrace/protocols/testing';
import { base32Decode, totp } from '../src/access/totp.js';
import {
  DESKTOP,
  PHONE,
  pageSettled,
  sidewaysOverflow,
  startPortal,
  widerThanTheirBox,
  type PortalFixture,
} from './helpers/browser.js';

/**
 * A cloud operator in the portal (ACCOUNTS.md, "Cloud operators"), on a phone: made with the CLI
 * on the cloud's host, signs in with the operator box ticked, must set up two-step verification,
 * then sees the Tenants page and nothing of a tenant's pages; creates a tenant with its first
 * admin, who signs in with the one-time password shown and chooses their own. Screenshots go to
 * test-results/screenshots/ (operator-*.png).
 */

const OPERATOR = { email: 'ops@cloud.example', password: 'the cloud host keeps this one' };

describe('a cloud operator in the portal', () => {
  let portal: PortalFixture;
  let page: Page;
  let admin: { tenant: string; email: string; password: string };

  beforeAll(async () => {
    portal = await startPortal('operator');
    page = portal.page;
    const made = spawnSync(
      process.execPath,
      [
        '--conditions=rigtrace-source',
        '--import',
        'tsx',
        'cloud/src/cli.ts',
        'operator',
        'create',
        '--email',
        OPERATOR.email,
        '--data-dir',
        portal.dataDir,
      ],
      { cwd: repoRoot, encoding: 'utf8', timeout: 60_000, input: `${OPERATOR.password}\n` },
    );
    expect(made.status, made.stderr).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await portal?.close();
  });

  /** Nothing scrolls sideways and nothing is wider than its box, at the page's current width. */
  async function layoutProblems(what: string): Promise<string[]> {
    const width = await page.evaluate(() => {
      const g = globalThis as any;
      return { scroll: g.document.scrollingElement.scrollWidth as number, inner: g.innerWidth as number };
    });
    const out: string[] = [];
    if (width.scroll > width.inner)
      out.push(
        `${what}: scrolls to ${width.scroll} px (widest: ${(await sidewaysOverflow(page)).widest ?? '?'})`,
      );
    for (const w of await widerThanTheirBox(page)) out.push(`${what}: ${w}`);
    return out;
  }

  it('signs the operator in with a second factor it must set up, on a 390 px phone', async () => {
    await page.setViewportSize(PHONE);
    await page.goto(`${portal.url}/#/`);
    await page.getByTestId('sign-in-form').waitFor();
    await page.getByTestId('sign-in-operator').check();
    // No tenant to name: the operator belongs to none.
    expect(await page.locator('#tenant').count()).toBe(0);
    await page.getByLabel('Email').fill(OPERATOR.email);
    await page.getByLabel('Password').fill(OPERATOR.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
    await page.getByRole('button', { name: 'Set up authenticator app' }).click();
    const secret = base32Decode(
      ((await page.getByTestId('mfa-secret').textContent()) ?? '').replace(/\s+/g, ''),
    );
    await page.getByLabel('Enter the 6-digit code the app shows now').fill(totp(secret, Date.now() / 1000));
    await page.getByRole('button', { name: 'Turn on two-step verification' }).click();
    await page.getByTestId('backup-codes').waitFor();
    await page.getByRole('button', { name: 'I have saved them' }).click();
    await page.getByTestId('tenants-page').waitFor();
    expect(await page.getByTestId('who').textContent()).toContain('operator');
  });

  it('shows the tenants and nothing of a tenant’s pages', async () => {
    await pageSettled(page);
    const rows = page.getByTestId('tenant-row');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().locator('th').textContent()).toBe('demo');
    // The menu: the tenants and the operator's own account, nothing else.
    expect((await page.getByTestId('main-nav').locator('a').allTextContents()).map((t) => t.trim())).toEqual([
      'Tenants',
      'My account',
    ]);
    for (const address of ['/register', '/admin/users', '/audit', '/live', '/calibrations/approvals']) {
      await page.goto(`${portal.url}/#${address}`);
      await page.getByTestId('not-allowed').waitFor();
    }
    await page.goto(`${portal.url}/#/`);
    await page.getByTestId('tenants-page').waitFor();
  });

  it('creates a tenant and its first admin, showing the one-time password once, without sideways scrolling', async () => {
    await page.getByLabel('Tenant id').fill('northwind');
    await page.getByLabel('Name', { exact: true }).fill('Northwind Test Benches');
    await page.getByLabel("First admin's email").fill('lab-lead@northwind.example');
    await page.getByRole('button', { name: 'Create tenant and admin' }).click();
    const shown = page.getByTestId('new-admin-password-value');
    await shown.waitFor();
    admin = {
      tenant: 'northwind',
      email: 'lab-lead@northwind.example',
      password: ((await shown.textContent()) ?? '').trim(),
    };
    expect(admin.password).toHaveLength(20);
    const row = page.getByTestId('tenant-row').filter({ hasText: 'northwind' });
    await row.waitFor();
    expect(await row.locator('[data-label=Users]').textContent()).toBe('1');
    // The operators' own log says who made it, on the same page.
    const logged = page.getByTestId('operator-log-entry').filter({ hasText: 'tenant.create' });
    await expect
      .poll(() => logged.allTextContents())
      .toEqual([expect.stringMatching(/tenant\.create[\s\S]*by ops@cloud\.example[\s\S]*tenant northwind/)]);
    expect(
      await page.getByTestId('operator-log-entry').filter({ hasText: 'user.create' }).first().textContent(),
    ).toMatch(/by cli \(on the cloud's host\)[\s\S]*ops@cloud\.example/);
    await pageSettled(page);
    await portal.browser.shot('operator-tenants-390');
    const problems = await layoutProblems('tenants at 390 px');
    await page.setViewportSize(DESKTOP);
    await pageSettled(page);
    await portal.browser.shot('operator-tenants-1280', false);
    problems.push(...(await layoutProblems('tenants at 1280 px')));
    // The create form does not touch the table above it.
    const tableBottom = await page
      .locator('.tenants-table')
      .evaluate((e) => e.getBoundingClientRect().bottom);
    const formTop = await page
      .locator('form[aria-labelledby=new-tenant-title]')
      .evaluate((e) => e.getBoundingClientRect().top);
    expect(formTop - tableBottom).toBeGreaterThanOrEqual(16);
    await page.setViewportSize(PHONE);
    expect(problems).toEqual([]);
    // A taken id is refused in the form, with the cloud's reason.
    await page.getByTestId('new-admin-password').getByRole('button', { name: 'Close' }).click();
    await page.getByLabel('Tenant id').fill('demo');
    await page.getByLabel('Name', { exact: true }).fill('Demo again');
    await page.getByLabel("First admin's email").fill('x@demo.example');
    await page.getByRole('button', { name: 'Create tenant and admin' }).click();
    await expect.poll(() => page.locator('form .form-error').textContent()).toMatch(/exists/);
  });

  it('lets the new admin sign in with the one-time password, choose their own, and not see the tenants', async () => {
    await portal.signOut();
    await page.getByLabel('Tenant').fill(admin.tenant);
    await page.getByLabel('Email').fill(admin.email);
    await page.getByLabel('Password').fill(admin.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('change-password-form').waitFor();
    await page.getByLabel('New password', { exact: true }).fill('northwind bench lead passphrase');
    await page.getByRole('button', { name: 'Save and continue' }).click();
    await page.getByTestId('who').waitFor();
    expect(await page.getByTestId('who').textContent()).toContain('admin');
    const menu = (await page.getByTestId('main-nav').locator('a').allTextContents()).map((t) => t.trim());
    expect(menu).toContain('Users');
    expect(menu).not.toContain('Tenants');
    await page.goto(`${portal.url}/#/operator/tenants`);
    await page.getByTestId('not-allowed').waitFor();
    await portal.browser.shot('operator-new-admin-390');
    expect(portal.browser.errors).toEqual([]);
  });
});
