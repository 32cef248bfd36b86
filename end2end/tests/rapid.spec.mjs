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
  const before = Number((await b.locator('.burst').getAttribute('data-burst').catch(() => null)) ?? 0);
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
  await b.waitForTimeout(500); // let a trailing fetch, if any, be counted
  const end = await counters(b);
  const refetches = end.fetches - start.fetches;
  console.log(`rapid fire: 200 invalidations, ${refetches} refetches in the second browser`);
  expect(refetches).toBeGreaterThanOrEqual(1);
  expect(refetches).toBeLessThanOrEqual(5);
  for (const list of errors) expect(list).toEqual([]);
});
