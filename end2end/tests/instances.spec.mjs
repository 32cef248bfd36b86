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

test('a page whose instance stops reconnects to the other one through the load balancer and stays correct', async ({ browser }) => {
  const proxy = process.env.E2E_PROXY_URL;
  const control = process.env.E2E_CONTROL_URL;
  if (!proxy || !control) throw new Error('the global setup did not start the proxy');
  const page = await (await browser.newContext()).newPage();
  const other = await (await browser.newContext()).newPage();
  const errors = watchErrors(page);
  await openTodos(page, `${proxy}/`); // through the proxy: instance A
  await openTodos(other, urlB('/'));
  await page.evaluate(() => { window.__noReload = true; });

  const before = unique('Before failover');
  await addTodo(other, before);
  await expect(row(page, before)).toBeVisible({ timeout: 2_000 });

  try {
    // A shuts down gracefully: its streams end, and the proxy sends new connections to B.
    expect((await fetch(`${control}/stop/A`, { method: 'POST' })).status).toBe(204);
    const after = unique('After failover');
    await addTodo(other, after);
    // The page reconnected (to B, through the proxy) and resumed: it shows the change live.
    await expect(row(page, after)).toBeVisible({ timeout: 15_000 });
    await expect(page.locator('.live')).toHaveAttribute('data-state', 'open');
    await row(other, after).getByRole('checkbox').check();
    await expect(row(page, after)).toHaveClass(/done/, { timeout: 2_000 });
    expect(await page.evaluate(() => window.__noReload)).toBe(true);
  } finally {
    expect((await fetch(`${control}/start/A`, { method: 'POST' })).status).toBe(204);
  }
  // Requests cut by the shutdown may be logged; the app itself must not throw.
  expect(errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
});
