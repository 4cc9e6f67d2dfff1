// What the console's browser tests share: Debian's chromium launched
// headless through playwright-core, a page of the console's width whose
// screenshots land in SCREENSHOT_DIR, and the steps' reporting.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

export const step = (what) => console.log(`step: ${what}`);

export function expect(cond, what) {
  if (!cond) throw new Error(`expected ${what}`);
}

// Runs `test({ context, page, shot })` in a fresh browser, closed afterwards.
export async function inBrowser(shots, test) {
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const page = await context.newPage();
    const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
    await test({ context, page, shot });
  } finally {
    await browser.close();
  }
}
