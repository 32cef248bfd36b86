// Rapid fire: a burst of N writes, each with its own invalidation, seen from another browser.
import { test, expect } from '@playwright/test';
import { watchErrors, openPage } from '../support/app.mjs';

async function counters(page) {
  return {
    invalidations: Number(await page.locator('[data-counter="invalidations"]').textContent()),
    fetches: Number(await page.locator('[data-counter="fetches"]').textContent()),
  };
}

test('a burst of 200 writes ends exactly right in a second browser, with coalesced refetches', async ({ browser }) => {
  const a = await (await browser.newContext()).newPage();
  const b = await (await browser.newContext()).newPage();
  const errors = [watchErrors(a), watchErrors(b)];
  await openPage(a, '/rapid-fire');
  await openPage(b, '/rapid-fire');
  // The newest burst so far, if any (a fresh database has none: the page says so).
  await expect(b.locator('.burst, .empty')).toBeVisible();
  const before = (await b.locator('.burst').count()) ? Number(await b.locator('.burst').getAttribute('data-burst')) : 0;
  const start = await counters(b);

  await a.getByLabel('Writes per burst').fill('200');
  await a.getByRole('button', { name: 'Fire' }).click();

  // B: the newest burst, complete: every one of the 200 writes, each once.
  const burst = b.locator('.burst');
  await expect.poll(async () => Number(await burst.getAttribute('data-burst')), { timeout: 10_000 }).toBeGreaterThan(before);
  await expect(burst).toHaveAttribute('data-complete', 'true', { timeout: 10_000 });
  await expect(burst).toHaveAttribute('data-size', '200');
  await expect(burst).toHaveAttribute('data-stored', '200');
  await expect(b.locator('.shot.lit')).toHaveCount(200);
  await expect(a.locator('.burst')).toHaveAttribute('data-complete', 'true');

  // Every invalidation reached B's query; B refetched only a few times.
  await expect.poll(async () => (await counters(b)).invalidations - start.invalidations).toBe(200);
  // Idle: no fetch in flight and every invalidation answered, so no trailing fetch can follow.
  await expect(b.locator('.counters')).toHaveAttribute('data-idle', 'true');
  const end = await counters(b);
  expect(end.invalidations - start.invalidations).toBe(200);
  const refetches = end.fetches - start.fetches;
  console.log(`rapid fire: 200 invalidations, ${refetches} refetches in the second browser`);
  expect(refetches).toBeGreaterThanOrEqual(1);
  expect(refetches).toBeLessThanOrEqual(5);
  for (const list of errors) expect(list).toEqual([]);
});
