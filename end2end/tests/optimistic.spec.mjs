// Optimistic mutations against the real server: shown at once, rolled back when the server
// refuses, kept (and confirmed by the server's data) when it accepts.
import { test, expect } from '@playwright/test';
import { watchErrors, openTodos, row, addTodo, unique, recordRows } from '../support/app.mjs';

test('an optimistic add the server rejects is shown, then rolled back', async ({ browser }) => {
  const page = await (await browser.newContext()).newPage();
  const errors = watchErrors(page);
  await openTodos(page);
  const rows = await page.locator('li.todo').count();
  const seen = await recordRows(page);

  // The server refuses 201 characters; bypass the input's maxlength to send them.
  await page.getByLabel('New todo').evaluate((input) => input.removeAttribute('maxlength'));
  const title = 'z'.repeat(201);
  await addTodo(page, title);
  await expect(page.getByRole('alert')).toContainText('at most 200 characters');
  await expect(page.locator('li.todo')).toHaveCount(rows);
  await expect(row(page, title)).toHaveCount(0);
  const optimistic = (await seen()).filter((r) => r.title === title);
  expect(optimistic.length).toBeGreaterThan(0);
  expect(optimistic.every((r) => r.provisional)).toBe(true);
  expect(errors.filter((e) => !e.includes('500'))).toEqual([]);
});

test('an optimistic add the server accepts stays, confirmed by the server', async ({ browser }) => {
  const page = await (await browser.newContext()).newPage();
  const other = await (await browser.newContext()).newPage();
  const errors = watchErrors(page);
  await openTodos(page);
  await openTodos(other);
  const seen = await recordRows(page);
  const events = async () => Number(await page.locator('.live').getAttribute('data-events'));
  const eventsBefore = await events();

  const title = unique('Optimistic');
  await addTodo(page, title);
  // Confirmed: the row carries its database id, not the provisional one.
  await expect(row(page, title)).toHaveCount(1);
  await expect(row(page, title)).not.toHaveClass(/provisional/, { timeout: 2_000 });
  expect(Number(await row(page, title).getAttribute('data-id'))).toBeGreaterThan(0);
  await expect(row(other, title)).toHaveCount(1, { timeout: 2_000 });
  const shown = (await seen()).filter((r) => r.title === title);
  expect(shown[0].provisional).toBe(true);

  // It stays: still there once the write's own event has reached this tab and no refetch is in
  // flight, and after a reload.
  await expect.poll(events, { timeout: 5_000 }).toBeGreaterThan(eventsBefore);
  await expect(page.locator('ul.todo-list')).toHaveAttribute('aria-busy', 'false');
  await expect(row(page, title)).toHaveCount(1);
  await page.reload();
  await expect(row(page, title)).toHaveCount(1);
  expect(errors).toEqual([]);
});
