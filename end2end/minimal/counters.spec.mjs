// examples/minimal: a click in one browser shows in another, through the hub, with no reload.
import { test, expect } from '@playwright/test';
import { url, watchErrors } from '../support/app.mjs';

async function openCounters(page) {
  await page.goto(url('/'));
  // `live`: hydrated, and the hub said hello on the event stream.
  await expect(page.locator('[data-connection]')).toHaveAttribute('data-connection', 'live');
}

const value = (page, name) => page.locator(`li[data-counter="${name}"] output`);

test('a click in one browser reaches another live', async ({ browser }) => {
  const [a, b] = [await browser.newContext(), await browser.newContext()];
  const [pageA, pageB] = [await a.newPage(), await b.newPage()];
  const errors = [...watchErrors(pageA), ...watchErrors(pageB)];
  await openCounters(pageA);
  await openCounters(pageB);

  const before = Number(await value(pageB, 'pears').textContent());
  // B's counters query refetches only because of the hub's event: B never clicks or reloads.
  const refetched = pageB.waitForResponse((res) => res.url().includes('/api/list_counters'));
  await pageA.locator('li[data-counter="pears"] button').click();
  await expect(value(pageA, 'pears')).toHaveText(String(before + 1));
  await refetched;
  await expect(value(pageB, 'pears')).toHaveText(String(before + 1));
  // Only the clicked counter changed.
  await expect(value(pageB, 'apples')).toHaveText(await value(pageA, 'apples').textContent());

  expect(errors).toEqual([]);
  await a.close();
  await b.close();
});
