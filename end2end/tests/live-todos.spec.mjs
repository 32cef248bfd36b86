// The first live invalidation, end to end: two browsers on the Todos page of the real server.
import { test, expect } from '@playwright/test';
import { url, watchErrors, openTodos, row, addTodo, unique } from '../support/app.mjs';

test('the first HTML from the server already contains the todos', async ({ browser, request }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = watchErrors(page);
  await openTodos(page);
  const title = unique('Server-rendered');
  await addTodo(page, title);
  await expect(row(page, title)).toBeVisible();

  // Plain HTTP, no JavaScript: the list is in the server's HTML.
  const response = await request.get(url('/'));
  expect(response.status()).toBe(200);
  const html = await response.text();
  expect(html).toContain(title);
  expect(html).toContain('data-hydrated="false"');
  expect(errors).toEqual([]);
  await context.close();
});

test('a change in one browser appears in the other within 2 s, without a reload', async ({ browser }) => {
  const a = await (await browser.newContext()).newPage();
  const b = await (await browser.newContext()).newPage();
  const errorsA = watchErrors(a);
  const errorsB = watchErrors(b);
  await openTodos(a);
  await openTodos(b);

  // Reloads would reset this marker; it must survive.
  await b.evaluate(() => { window.__noReload = true; });
  await a.evaluate(() => { window.__noReload = true; });

  const title = unique('Buy oat milk');
  await addTodo(a, title);
  await expect(row(b, title)).toBeVisible({ timeout: 2_000 });
  await expect(row(b, title)).not.toHaveClass(/done/);

  // Toggle in B: A shows it done.
  await row(b, title).getByRole('checkbox').check();
  await expect(row(a, title)).toHaveClass(/done/, { timeout: 2_000 });
  await expect(row(a, title).getByRole('checkbox')).toBeChecked();

  // Delete in A: B loses it.
  await row(a, title).getByRole('button', { name: 'Delete' }).click();
  await expect(row(b, title)).toHaveCount(0, { timeout: 2_000 });

  expect(await a.evaluate(() => window.__noReload)).toBe(true);
  expect(await b.evaluate(() => window.__noReload)).toBe(true);
  expect(errorsA).toEqual([]);
  expect(errorsB).toEqual([]);
});

test('a rejected server function shows its error and publishes no invalidation', async ({ browser }) => {
  const page = await (await browser.newContext()).newPage();
  const errors = watchErrors(page);
  await openTodos(page);
  const events = async () => Number(await page.locator('.live').getAttribute('data-events'));

  const title = unique('Exactly fits');
  await addTodo(page, title);
  await expect(row(page, title)).toBeVisible();
  // The row shows at once (optimistic); its invalidation arrives once the server has answered.
  await expect.poll(events, { timeout: 5_000 }).toBeGreaterThan(0);
  const before = await events();
  const rows = await page.locator('li.todo').count();

  // Bypass the input's maxlength: the server refuses 201 characters.
  await page.getByLabel('New todo').evaluate((input) => input.removeAttribute('maxlength'));
  await addTodo(page, 'y'.repeat(201));
  await expect(page.getByRole('alert')).toContainText('at most 200 characters');
  // A later accepted write is the signal: the hub delivers events in order, so once its event
  // is here, an event of the refused call would have arrived before it.
  const later = unique('After the refusal');
  await addTodo(page, later);
  await expect(row(page, later)).toBeVisible();
  await expect.poll(events, { timeout: 5_000 }).toBeGreaterThan(before);
  expect(await events()).toBe(before + 1);
  await expect(page.locator('li.todo')).toHaveCount(rows + 1);
  // The failed call logs its 500 in the console; anything else is a bug.
  expect(errors.filter((e) => !e.includes('500'))).toEqual([]);
});
