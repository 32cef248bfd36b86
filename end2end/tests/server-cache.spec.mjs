// The server cache in the demo: My notes' statistics are counted once and cached on the
// server under the user's tag; a reload is a hit, a new note purges them (a miss, and the
// right count at once: the purge happens before the write's response).
import { test, expect } from '@playwright/test';
import { signIn, openPage, unique } from '../support/app.mjs';

async function stats(page) {
  const counts = page.locator('.stats [data-hits]');
  await expect(counts).toBeVisible();
  return {
    notes: Number(await page.locator('.stats [data-notes]').getAttribute('data-notes')),
    hits: Number(await counts.getAttribute('data-hits')),
    misses: Number(await counts.getAttribute('data-misses')),
  };
}

test('note statistics: cached on the server, purged by the change that makes them stale', async ({ page }) => {
  await signIn(page, unique('cache').replace(' ', '-'));
  const first = await stats(page);
  expect(first.notes).toBe(0);

  // A reload renders the statistics on the server again: from the cache.
  await openPage(page, '/notes');
  const reloaded = await stats(page);
  expect(reloaded.notes).toBe(0);
  expect(reloaded.hits).toBeGreaterThan(first.hits);
  expect(reloaded.misses).toBe(first.misses);

  // A new note: the server purges this user's statistics when add_note returns Ok; the
  // event refetches them, counted afresh (one more miss) and already right.
  await page.getByLabel('New note').fill('three little words');
  await page.getByRole('button', { name: 'Add note' }).click();
  await expect(page.locator('.stats [data-notes]')).toHaveAttribute('data-notes', '1');
  const after = await stats(page);
  expect(after.misses).toBe(reloaded.misses + 1);
  await expect(page.locator('.stats')).toContainText('1 notes, 3 words');
});
