// Writes a PNG of each page of the demo to docs/img/ (run by scripts/screenshots.sh).
import { test, expect } from '@playwright/test';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { url, openPage, signIn, publish } from '../support/app.mjs';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'img');

test.use({ viewport: { width: 1100, height: 760 }, deviceScaleFactor: 1, colorScheme: 'light' });

test('screenshots', async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  const shot = async (name, options = {}) => {
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(out, `${name}.png`), ...options });
  };

  // Todos: a few rows, one done.
  await openPage(page, '/');
  for (const title of ['Write the release notes', 'Review the SSE listener', 'Try the Tag Playground']) {
    await page.getByLabel('New todo').fill(title);
    await page.getByRole('button', { name: 'Add' }).click();
    await expect(page.locator('li.todo', { hasText: title })).toBeVisible();
  }
  await page.locator('li.todo', { hasText: 'Review the SSE listener' }).getByRole('checkbox').check();
  await expect(page.locator('li.todo.done', { hasText: 'Review the SSE listener' })).toBeVisible();
  await shot('todos');

  // My notes, signed in.
  await signIn(page, 'ada');
  for (const body of ['Only Ada sees this note.', 'Edit me in another tab: this one follows.']) {
    await page.getByLabel('New note').fill(body);
    await page.getByRole('button', { name: 'Add note' }).click();
    await expect(page.locator('li.note', { hasText: body })).toBeVisible();
  }
  await shot('notes');

  // Tag Playground with a prefix pattern.
  await openPage(page, '/playground');
  await page.getByLabel('Pattern (invalidate_tags)').fill('todos.by_id');
  await expect(page.locator('.tag-row[data-state="match"]')).toHaveCount(2);
  await shot('playground');

  // Rapid fire after a burst of 300.
  await openPage(page, '/rapid-fire');
  await page.getByLabel('Writes per burst').fill('300');
  await page.getByRole('button', { name: 'Fire' }).click();
  await expect(page.locator('.burst[data-size="300"]')).toHaveAttribute('data-complete', 'true');
  await page.waitForTimeout(600);
  await shot('rapid-fire');

  // The devtools panel, open on the Todos page after an event.
  await openPage(page, '/');
  await publish([['todos', 'list']]);
  await page.locator('.lqt-dt-toggle').click();
  await expect(page.locator('#lqt-devtools')).toBeVisible();
  await shot('devtools');

  // A phone.
  const phone = await browser.newContext({ viewport: { width: 390, height: 800 }, deviceScaleFactor: 2 });
  const small = await phone.newPage();
  await small.goto(url('/playground'));
  await expect(small.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  await small.getByLabel('Pattern (invalidate_tags)').fill('todos');
  await small.waitForTimeout(300);
  await small.screenshot({ path: join(out, 'phone.png') });
  await phone.close();
  await context.close();
});
