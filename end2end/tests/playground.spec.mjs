// Tag Playground: the library's TagIndex and validation, running in the browser.
import { test, expect } from '@playwright/test';
import { watchErrors, openPage } from '../support/app.mjs';

test('typing patterns highlights the tags they match, and an invalid one shows the library\'s error', async ({ page }) => {
  const errors = watchErrors(page);
  await openPage(page, '/playground');
  const pattern = page.getByLabel('Pattern (invalidate_tags)');
  const matching = async () =>
    page.$$eval('.tag-row[data-state="match"]', (rows) => rows.map((r) => r.dataset.tag).sort());

  const cases = [
    ['todos', ['todos.by_id.1', 'todos.by_id.2', 'todos.list']],
    ['todos.by_id', ['todos.by_id.1', 'todos.by_id.2']],
    ['todos.by_id.1', ['todos.by_id.1']],
    // The string "1" is not the integer 1.
    ['["todos","by_id","1"]', []],
    ['notes', ['notes.by_id.7', 'notes.list']],
    ['todos.list.extra', []],
    ['', ['notes.by_id.7', 'notes.list', 'rapid.shots', 'todos.by_id.1', 'todos.by_id.2', 'todos.list']],
  ];
  for (const [text, expected] of cases) {
    await pattern.fill(text);
    await expect.poll(matching, { message: `pattern ${JSON.stringify(text)}` }).toEqual(expected);
    await expect(page.locator('.pattern-status [data-valid="true"]')).toBeVisible();
  }

  // Why, beside each tag.
  await pattern.fill('todos.by_id');
  await expect(page.locator('.tag-row[data-tag="todos.by_id.1"] .why')).toContainText('is a prefix of the tag');
  await expect(page.locator('.tag-row[data-tag="todos.list"] .why')).toContainText('Segment 2 differs');
  await pattern.fill('["todos","by_id","1"]');
  await expect(page.locator('.tag-row[data-tag="todos.by_id.1"] .why')).toContainText('another type');

  // Invalid patterns: the library's validation errors, and nothing matches.
  const invalid = [
    ['["todos",1.5]', 'floats'],
    ['todos..list', 'empty segment'],
    ['[1,2', 'malformed tag JSON'],
    [Array.from({ length: 17 }, (_, i) => `s${i}`).join('.'), '17 segments exceed the limit of 16'],
  ];
  for (const [text, message] of invalid) {
    await pattern.fill(text);
    await expect(page.getByRole('alert')).toContainText(message);
    expect(await matching()).toEqual([]);
  }

  // The index is editable: a new tag joins it at once.
  await page.getByLabel('Tags in the index').fill('todos.archive\nusers.by_id.3\n[]');
  await pattern.fill('todos');
  await expect.poll(matching).toEqual(['todos.archive']);
  await expect(page.locator('.tag-row[data-tag="[]"]')).toHaveAttribute('data-state', 'invalid');
  await expect(page.locator('.tag-row[data-tag="[]"] .why')).toContainText('a tag needs at least one segment');
  expect(errors).toEqual([]);
});
