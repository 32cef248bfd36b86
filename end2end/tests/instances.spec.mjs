// Two demo instances on one Redis and one database, as behind a load balancer: a change made
// through instance A reaches a page served by instance B, live, and the other way round.
import { test, expect } from '@playwright/test';
import { urlB, watchErrors, openTodos, row, addTodo, unique } from '../support/app.mjs';

test('a change made on one instance shows on a page of the other, without a reload', async ({ browser }) => {
  const a = await (await browser.newContext()).newPage();
  const b = await (await browser.newContext()).newPage();
  const errorsA = watchErrors(a);
  const errorsB = watchErrors(b);
  await openTodos(a);
  await openTodos(b, urlB('/'));
  await a.evaluate(() => { window.__noReload = true; });
  await b.evaluate(() => { window.__noReload = true; });

  const title = unique('Across instances');
  await addTodo(a, title);
  await expect(row(b, title)).toBeVisible({ timeout: 2_000 });

  await row(b, title).getByRole('checkbox').check();
  await expect(row(a, title)).toHaveClass(/done/, { timeout: 2_000 });

  await row(b, title).getByRole('button', { name: 'Delete' }).click();
  await expect(row(a, title)).toHaveCount(0, { timeout: 2_000 });

  expect(await a.evaluate(() => window.__noReload)).toBe(true);
  expect(await b.evaluate(() => window.__noReload)).toBe(true);
  expect(errorsA).toEqual([]);
  expect(errorsB).toEqual([]);
});
