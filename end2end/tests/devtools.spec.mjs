// The devtools panel (compiled into this release build by the `devtools-always` feature that
// scripts/test.sh builds with; a release build without it has no panel).
import { test, expect } from '@playwright/test';
import { openTodos, addTodo, unique, row } from '../support/app.mjs';

test('the devtools panel lists the cached queries with their tags, and shows an event with the queries it matched', async ({ browser }) => {
  const page = await (await browser.newContext()).newPage();
  await openTodos(page);
  const toggle = page.getByRole('button', { name: 'Query tags' });
  await expect(toggle).toHaveAttribute('aria-expanded', 'false');
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-expanded', 'true');
  const panel = page.locator('#lqt-devtools');
  await expect(panel).toBeVisible();

  // Connection: open, this tab leads (it is alone in its browser).
  await expect(panel.locator('[data-field=state]')).toHaveText('open');
  await expect(panel.locator('[data-field=role]')).toContainText('leader');

  // Cache: the todo list, with its tag, loaded and fresh (the stream is open: the hub keeps
  // tagged queries fresh until an invalidation), one observer, its data as JSON.
  const list = panel.locator('.lqt-cache tr[data-query-key^="todos"]');
  await expect(list).toHaveCount(1);
  await expect(list.locator('.lqt-tags')).toContainText('todos.list');
  await expect(list.locator('.lqt-status')).toHaveText('fresh');
  await expect(list.locator('td').nth(3)).toHaveText('1');

  // A change made in another browser: the event, its tags, the list it matched and refetched.
  const other = await (await browser.newContext()).newPage();
  await openTodos(other);
  const title = unique('Devtools');
  await addTodo(other, title);
  await expect(row(page, title)).toBeVisible();
  const event = panel.locator('.lqt-events tbody tr').first();
  await expect(event).toContainText('todos.list');
  await expect(event.locator('.lqt-matched')).toContainText(/todos.*↻/);
  await expect(list.locator('details pre')).toContainText(title);

  // Actions: invalidating a typed pattern; a malformed one shows the library's error.
  const field = panel.getByLabel('Invalidate tag pattern');
  await field.fill('todos.list');
  await panel.getByRole('button', { name: 'Invalidate' }).click();
  await expect(panel).toContainText('todos.list: 1 cached queries invalidated');
  await field.fill('["todos"');
  await panel.getByRole('button', { name: 'Invalidate' }).click();
  await expect(panel.getByRole('alert')).toBeVisible();
});
