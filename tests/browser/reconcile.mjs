// The console's view of reconciling, in a real browser (Debian's chromium,
// driven by playwright-core), against the workers tests/e2e/reconcile.rs started:
//   node tests/browser/reconcile.mjs BASE TOKEN SCREENSHOT_DIR RECOVERED_UID
// Exits non-zero, saying which step failed; saves a screenshot of each page.
import { expect, inBrowser, step } from './browser.mjs';

const [base, token, shots, uid] = process.argv.slice(2);

await inBrowser(shots, async ({ page, shot }) => {
  step('signing in, the overview lists each reconciled source and its last run');
  await page.goto(`${base}/admin/`);
  await page.fill('input[name=token]', token);
  await Promise.all([page.waitForNavigation(), page.click('button')]);
  const section = page.locator('h2', { hasText: 'Reconciled with Cal.com' });
  expect(await section.count() === 1, 'a "Reconciled with Cal.com" section');
  const single = page.locator('tbody tr', { hasText: 'single route' }).last();
  const cells = await single.locator('td').allInnerTexts();
  expect(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/.test(cells[1].trim()), `the single route's last run: ${cells}`);
  expect(cells[4].trim() === '—', `no trouble on the single route: ${cells}`);
  await shot('reconcile-1-overview');

  step('the recovered booking\'s timeline says it was recovered by reconciliation');
  await page.goto(`${base}/admin/ui/bookings?q=${encodeURIComponent(uid)}`);
  await Promise.all([page.waitForNavigation(), page.locator('tbody a').first().click()]);
  const timeline = await page.content();
  expect(timeline.includes('recovered by reconciliation'), 'the timeline marks the recovered events');
  expect(timeline.includes('BOOKING_CANCELLED'), 'the recovered cancellation on the timeline');
  // Made in Cal.com 3 minutes before the run found it: both times are shown.
  const created = page.locator('tbody tr', { hasText: 'BOOKING_CREATED' }).first();
  const [happened, received] = (await created.locator('td').allInnerTexts()).map(t => t.trim());
  expect(happened < received, `the recovered creation happened in Cal.com (${happened}) before calhook received it (${received})`);
  await shot('reconcile-2-booking');
  console.log('reconcile console: every step passed');
});
