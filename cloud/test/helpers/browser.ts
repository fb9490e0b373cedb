import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { repoRoot, runCli, startProcess, type Proc } from '@rigtrace/protocols/testing';
import { createAccounts } from '../../src/access/accounts.js';
import { loadCloudConfig } from '../../src/platform/config.js';
import { Witness } from '../../src/platform/witness.js';
import { openStore } from '../../src/server.js';
import { apiCall, signIn as signInApi, type Session } from './signed-in.js';
import { createUsers, type TestUser } from './users.js';

/** Debian's Chromium, the only browser the tests use (apt-get install chromium). */
export const CHROMIUM = '/usr/bin/chromium';
/**
 * Where browser tests write their screenshots: test-results/screenshots (not tracked), or the folder named by
 * RIGTRACE_SCREENSHOT_DIR relative to the repository (`npm run screenshots` sets it to portal/screenshots to
 * refresh the checked-in ones).
 */
export const SHOTS = path.resolve(
  repoRoot,
  process.env.RIGTRACE_SCREENSHOT_DIR ?? path.join('test-results', 'screenshots'),
);

/** The widths every page is checked at: a phone and a desktop. */
export const PHONE = { width: 390, height: 844 } as const;
export const DESKTOP = { width: 1280, height: 800 } as const;

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught exceptions of the page (401s while signed out excepted). */
  errors: string[];
  shot(name: string, fullPage?: boolean): Promise<unknown>;
  close(): Promise<void>;
}

/** Headless Chromium with a fresh profile in `dir`, at desktop size. */
export async function openBrowser(dir: string): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM} (apt-get install chromium)`);
  mkdirSync(SHOTS, { recursive: true });
  const context = await chromium.launchPersistentContext(path.join(dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    viewport: { ...DESKTOP },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[1349]/.test(m.text())) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return {
    context,
    page,
    errors,
    shot: (name, fullPage = true) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage }),
    close: () => context.close(),
  };
}

/**
 * Waits (up to 15 s) until the page's data has arrived and laid out: nothing busy, nothing loading.
 */
export async function pageSettled(page: Page): Promise<void> {
  await page
    .waitForFunction(
      () => {
        const d = (globalThis as any).document;
        return (
          !d.querySelector('[aria-busy="true"]') &&
          !/Loading…/.test(d.querySelector('main')?.textContent ?? '')
        );
      },
      undefined,
      { timeout: 15_000 },
    )
    .catch(() => undefined);
}

/**
 * How far the page scrolls sideways: the widest element's right edge beyond the viewport, in CSS
 * pixels (0: nothing scrolls sideways). Names the widest offender when there is one.
 */
export async function sidewaysOverflow(page: Page): Promise<{ px: number; widest: string | null }> {
  return page.evaluate(() => {
    const d = (globalThis as any).document;
    const w = (globalThis as any).innerWidth as number;
    const px = Math.max(0, d.documentElement.scrollWidth - d.documentElement.clientWidth);
    let widest: string | null = null;
    if (px > 0) {
      let max = w;
      for (const el of d.querySelectorAll('body *')) {
        const r = el.getBoundingClientRect();
        if (r.right > max + 0.5 && r.width > 0) {
          max = r.right;
          widest = `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${[...el.classList].join('.')} (${Math.round(r.right)} px)`;
        }
      }
    }
    return { px, widest };
  });
}

/**
 * Elements whose content is wider than they are (a table in a scrolling wrapper, a form field
 * sticking out of its card): each as `tag#id.classes (content px > box px)`. Elements that clip on
 * purpose (overflow hidden or clip: an ellipsis), what is inside a visually hidden box and inline
 * elements are left out. Empty when nothing on the page scrolls or sticks out sideways.
 */
export async function widerThanTheirBox(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const g = globalThis as any;
    const out: string[] = [];
    for (const el of [g.document.documentElement, ...g.document.querySelectorAll('body *')]) {
      const cw = el.clientWidth as number;
      if (cw === 0 || el.scrollWidth <= cw + 1) continue;
      const x = g.getComputedStyle(el).overflowX as string;
      if (x === 'hidden' || x === 'clip') continue;
      // Inside a visually hidden box (1 px, clipped: a table's head on a phone, a screen-reader label).
      let hidden = false;
      for (let a = el.parentElement; a && !hidden; a = a.parentElement)
        hidden = a.getBoundingClientRect().width <= 1 && g.getComputedStyle(a).overflowX !== 'visible';
      if (hidden) continue;
      out.push(
        `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${[...el.classList].map((c: string) => `.${c}`).join('')} (${el.scrollWidth} px > ${cw} px)`,
      );
    }
    return out;
  });
}

/**
 * Moments shown otherwise than the portal's one way (`2026-12-06 02:01 CET` in the site's zone,
 * the UTC time on hover): a `<time>` in main without the UTC time as its title or with other
 * text, or text in a browser's local format (`12/6/2026, 2:01:59 AM`, `2:01 PM`). Empty when
 * every moment on the page is shown the one way. `within`: a part of the page (default main).
 */
export async function momentsNotShownOneWay(page: Page, within = 'main'): Promise<string[]> {
  return page.evaluate((within) => {
    const g = globalThis as any;
    const out: string[] = [];
    for (const t of g.document.querySelectorAll(`${within} time`)) {
      const title = (t.getAttribute('title') ?? '') as string;
      const text = (t.textContent ?? '').trim() as string;
      const relative = /ago$|^in |^just now$|^today$|^yesterday$/.test(text);
      if (!/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/.test(title))
        out.push(`<time> "${text}" without the UTC time on hover (title "${title}")`);
      else if (!relative && !/^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})? [A-Z][A-Za-z+\-0-9:]*)?$/.test(text))
        out.push(`<time> "${text}" not as YYYY-MM-DD HH:MM ZONE`);
    }
    const text = (g.document.querySelector(within)?.innerText ?? '') as string;
    for (const m of text.matchAll(/\b\d{1,2}\/\d{1,2}\/\d{2,4}\b|\b\d{1,2}:\d{2}(:\d{2})? ?[AP]M\b/g))
      out.push(`a local date "${m[0]}"`);
    return out;
  }, within);
}

/** A user of the demo tenant (`rigtrace-cloud seed-demo` makes one per role). */
export interface PortalUser {
  email: string;
  role: string;
  password: string;
}

/** What `rigtrace-cloud seed-demo` prints: the demo tenant, its enrollment token and its users. */
export interface DemoSeed {
  tenant: string;
  enrollmentToken: string;
  apiToken?: string;
  users: PortalUser[];
}

/**
 * A browser suite's world: the cloud as a real process on a fresh SQLite data folder, the demo
 * tenant seeded (plus any `users` made with createUsers), Chromium at desktop size, and the
 * moves every suite makes — an API call as a role, signing in through the form, opening a menu
 * entry (on a phone through the menu button).
 */
export interface PortalFixture {
  /** The suite's temporary folder (the cloud's data in `dataDir`, Chromium's profile). */
  work: string;
  dataDir: string;
  url: string;
  seed: DemoSeed;
  browser: Browser;
  page: Page;
  /** The demo user of a role, or a user made with `users` by its name. */
  user(who: string): PortalUser;
  /** A JSON API call in that user's session (signed in once); fails the test unless 2xx. */
  api(who: string, method: string, p: string, body?: unknown): Promise<any>;
  /**
   * Signs in through the portal's form (signing out whoever is signed in first); `code` gives
   * the authentication code when the account has two-step verification on.
   */
  signIn(who: string, code?: () => Promise<string>): Promise<void>;
  signOut(): Promise<void>;
  /** Stops the cloud process (the browser stays, as when a server goes away). */
  stopCloud(): Promise<void>;
  /** Starts the cloud again on the same address and data folder. */
  startCloud(): Promise<void>;
  /** Opens a menu entry, on a phone through the menu button. */
  menu(name: string): Promise<void>;
  /** Closes the browser, stops the cloud and removes the folder. */
  close(): Promise<void>;
}

/**
 * Starts a suite's cloud, seeds the demo tenant and opens Chromium. `users` (optional) are made in
 * the demo tenant with createUsers (helpers/users.ts), each with the password `Correct-horse-battery-<n>` (n: its place in the list, from 1).
 */
export async function startPortal(
  name: string,
  options: { users?: readonly TestUser[] } = {},
): Promise<PortalFixture> {
  const work = mkdtempSync(path.join(os.tmpdir(), `rt-portal-${name}-`));
  const dataDir = path.join(work, 'cloud');
  let cloud: Proc | undefined;
  let browser: Browser | undefined;
  const close = async () => {
    await browser?.close();
    await cloud?.stop();
    rmSync(work, { recursive: true, force: true });
  };
  const serve = async (port: number) => {
    const started = await startProcess(
      'cloud/src/cli.ts',
      ['serve', '--port', String(port), '--data-dir', dataDir],
      (l) => l.includes('"event":"listening"'),
      30_000,
    );
    cloud = started;
    return (JSON.parse(started.readyLine) as { url: string }).url;
  };
  try {
    const url = await serve(0);
    const seeded = runCli('cloud/src/cli.ts', ['seed-demo', '--data-dir', dataDir]);
    if (seeded.status !== 0) throw new Error(`seed-demo failed: ${seeded.stderr}`);
    const seed = JSON.parse(seeded.stdout) as DemoSeed;
    const extra = new Map<string, PortalUser>();
    if (options.users?.length) {
      const cfg = loadCloudConfig({}, { dataDir });
      const store = await openStore(cfg);
      try {
        // Not containing the account's name (the password policy refuses that).
        const passwords = Object.fromEntries(
          options.users.map(([who], i) => [who, `Correct-horse-battery-${i + 1}`]),
        );
        await createUsers(
          createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) }),
          seed.tenant,
          options.users,
          passwords,
        );
        for (const [who, role] of options.users)
          extra.set(who, { email: `${who}@${seed.tenant}.example`, role, password: passwords[who]! });
      } finally {
        await store.db.close();
      }
    }
    browser = await openBrowser(work);
    const page = browser.page;
    const user = (who: string): PortalUser => {
      const u = extra.get(who) ?? seed.users.find((x) => x.role === who);
      if (!u) throw new Error(`no user ${who} in the demo tenant`);
      return u;
    };
    const sessions = new Map<string, Session>();
    const api = async (who: string, method: string, p: string, body?: unknown) => {
      let s = sessions.get(who);
      if (!s) {
        const u = user(who);
        s = await signInApi(url, seed.tenant, u.email, u.password);
        sessions.set(who, s);
      }
      const res = await apiCall(url, s, method, p, body);
      if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${res.text}`);
      return res.body;
    };
    const signOut = async () => {
      await page.getByTestId('sign-out').click();
      await page.getByTestId('sign-in').waitFor();
    };
    const signIn = async (who: string, code?: () => Promise<string>) => {
      const u = user(who);
      await page.goto(`${url}/#/`);
      // A test that failed half-way may have left someone signed in.
      await page.getByTestId('sign-in-form').or(page.getByTestId('who')).first().waitFor();
      if (await page.getByTestId('who').isVisible()) await signOut();
      await page.getByTestId('sign-in-form').waitFor();
      await page.getByLabel('Tenant').fill(seed.tenant);
      await page.getByLabel('Email').fill(u.email);
      await page.getByLabel('Password').fill(u.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      if (code) {
        const field = page.getByLabel('Authentication code');
        await field.waitFor();
        await field.fill(await code());
        await page.getByRole('button', { name: 'Verify' }).click();
      }
      await page.getByTestId('who').waitFor();
    };
    const menu = async (entry: string) => {
      const toggle = page.locator('.menu-toggle');
      if (await toggle.isVisible()) await toggle.click();
      await page.getByTestId('main-nav').getByRole('link', { name: entry, exact: true }).click();
    };
    const stopCloud = async () => {
      await cloud?.stop();
      cloud = undefined;
    };
    const startCloud = async () => {
      await serve(Number(new URL(url).port));
    };
    return {
      work,
      dataDir,
      url,
      seed,
      browser,
      page,
      user,
      api,
      signIn,
      signOut,
      stopCloud,
      startCloud,
      menu,
      close,
    };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}
