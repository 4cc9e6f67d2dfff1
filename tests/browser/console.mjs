// The console in a real browser (Debian's chromium, driven by playwright-core),
// against the three workers under `wrangler dev` that tests/e2e started:
//   node tests/browser/console.mjs BASE TOKEN SCREENSHOT_DIR DEAD_LETTER_KEY BOOKING_UID
// Exits non-zero, saying which step failed; saves a screenshot of each page.
import { expect, inBrowser, step } from './browser.mjs';

const [base, token, shots, deadKey, uid] = process.argv.slice(2);

await inBrowser(shots, async ({ context, page, shot }) => {
  step('without a session, the console shows the sign-in form and no data');
  await page.goto(`${base}/admin/`);
  expect(await page.locator('input[name=token]').count() === 1, 'a sign-in form');
  expect(!(await page.content()).includes(deadKey), 'no data before sign-in');
  await shot('1-sign-in');

  step('a wrong token is refused');
  await page.fill('input[name=token]', 'not-the-token-0123456789abcdef0123');
  const refused = await Promise.all([page.waitForNavigation(), page.click('button')]);
  expect(refused[0].status() === 401, 'a 401 for a wrong token');
  expect((await page.content()).includes('That token is not right.'), 'says so');

  step('the right token signs in and the overview counts what the test sent');
  await page.fill('input[name=token]', token);
  await Promise.all([page.waitForNavigation(), page.click('button')]);
  expect((await page.locator('h1').innerText()) === 'Overview', 'the overview');
  const cards = await page.locator('.card').allInnerTexts();
  expect(cards.some((c) => /^1\s+dead letters/.test(c)), `one dead letter on the overview: ${cards}`);
  const events = await page.locator('tbody tr', { hasText: 'single route' }).locator('td').nth(1).innerText();
  expect(events.trim() === '2', `2 events in the last 24 h, not ${events}`);
  await shot('2-overview');

  step('the booking is found by its uid, and its timeline shows the failed copy');
  await page.goto(`${base}/admin/ui/bookings?q=${encodeURIComponent(uid)}`);
  await Promise.all([page.waitForNavigation(), page.locator('tbody a').first().click()]);
  const timeline = await page.content();
  expect(timeline.includes('BOOKING_CREATED') && timeline.includes('failed'), 'the failed email on the timeline');
  await shot('3-booking');

  step('the dead letter is listed with SendGrid\'s reason, and redriven from the page');
  await page.goto(`${base}/admin/ui/dead-letters`);
  const row = page.locator('tbody tr', { hasText: deadKey });
  expect(await row.count() === 1, 'the dead letter listed');
  expect((await row.innerText()).includes('400'), 'with the reason');
  await shot('4-dead-letters');
  await Promise.all([page.waitForNavigation(), row.locator('button').click()]);
  expect((await page.locator('.notice').innerText()).includes('Redriven: 1 queued'), 'redriven');
  await shot('5-redriven');

  step('the outbox and the tenants pages');
  await page.goto(`${base}/admin/ui/outbox`);
  await shot('6-outbox');
  await page.goto(`${base}/admin/ui/tenants`);
  await shot('7-tenants');

  step('at phone width the overview still reads without sideways scrolling');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/admin/`);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(wide <= 390, `no horizontal scroll at 390 px (page is ${wide} px wide)`);
  await shot('8-phone');
  await page.setViewportSize({ width: 1100, height: 800 });

  step('signing out: the old cookie is refused afterwards');
  const [old] = (await context.cookies()).filter((c) => c.name === 'calhook_session');
  expect(old && old.httpOnly && old.sameSite === 'Strict', 'an HttpOnly, SameSite=Strict session cookie');
  await page.goto(`${base}/admin/`);
  await Promise.all([page.waitForNavigation(), page.click('header button')]);
  expect(await page.locator('input[name=token]').count() === 1, 'signed out');
  await context.addCookies([old]);
  await page.goto(`${base}/admin/ui/dead-letters`);
  expect(await page.locator('input[name=token]').count() === 1, 'the old cookie no longer signs in');

  step('a form posted from another origin is refused');
  const forged = await context.request.post(`${base}/admin/ui/dead-letters/redrive`, {
    headers: { origin: 'https://evil.example' }, form: { all: '1' },
  });
  expect(forged.status() === 403, `403 for another origin, got ${forged.status()}`);
  console.log('console: every step passed');
});
