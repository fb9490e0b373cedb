import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { repoRoot } from '@rigtrace/protocols/testing';

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
