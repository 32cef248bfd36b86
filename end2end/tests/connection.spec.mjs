// The connection state is honest: Reconnecting while the server is down, Open again after it
// comes back (with the data changed meanwhile), Offline when the browser is, Failed with the
// hub's reason when the hub refuses the stream.
import { test, expect } from '@playwright/test';
import { url, urlB, openTodos, row, addTodo, unique } from '../support/app.mjs';

const control = (action) => fetch(`${process.env.E2E_CONTROL_URL}/${action}/A`, { method: 'POST' });
const live = (page) => page.locator('.live');

test('the server stops: Reconnecting within 2 s; it starts again: Open, with the changes made meanwhile', async ({ browser }) => {
  const page = await (await browser.newContext()).newPage();
  await openTodos(page);
  try {
    const stopped = control('stop');
    await expect(live(page)).toHaveAttribute('data-state', 'reconnecting', { timeout: 2_000 });
    await expect(live(page)).not.toHaveText(/Live/);
    await stopped;
    // Meanwhile another instance (same database and Redis) changes the data.
    const other = await (await browser.newContext()).newPage();
    await openTodos(other, urlB('/'));
    const title = unique('While A was down');
    await addTodo(other, title);
    await expect(row(other, title)).toBeVisible();
    await expect(live(page)).toHaveAttribute('data-state', 'reconnecting');

    const started = Date.now();
    await control('start');
    await expect(live(page)).toHaveAttribute('data-state', 'open', { timeout: 40_000 });
    console.log(`open again ${Date.now() - started} ms after the restart began`);
    await expect(row(page, title)).toBeVisible({ timeout: 5_000 });
  } finally {
    await control('start');
  }
});

test('the browser goes offline: Offline; back online: Open', async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await openTodos(page);
  await context.setOffline(true);
  await expect(live(page)).toHaveAttribute('data-state', 'offline', { timeout: 2_000 });
  await expect(live(page)).toHaveText(/Offline/);
  await context.setOffline(false);
  await expect(live(page)).toHaveAttribute('data-state', 'open', { timeout: 5_000 });
  await context.close();
});

test('the hub refuses the stream: Failed, with the hub\'s status and reason', async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  // Every stream request of this page asks for a scope it may not receive: the real hub
  // answers 403 forbidden_scope (to the EventSource, and to the client's probe).
  await page.route('**/api/query-tags/events*', (route) => {
    const target = new URL(route.request().url());
    target.searchParams.append('scope', 'user:mallory');
    return route.continue({ url: target.toString() });
  });
  await page.goto(url('/'));
  await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  await expect(live(page)).toHaveAttribute('data-state', 'failed', { timeout: 5_000 });
  await expect(live(page)).toHaveText(/403 forbidden_scope/);
  await context.close();
});
