// Every page renders on the server with its data, hydrates without errors, and the nav works.
import { test, expect } from '@playwright/test';
import { url, watchErrors, openPage, signIn, unique } from '../support/app.mjs';

test('every page is server-rendered with its data and hydrates without console errors', async ({ browser, request }) => {
  // Some data on every page first: a todo, a burst, a signed-in user's note.
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = watchErrors(page);
  const name = unique('reader').replace(' ', '-');
  await signIn(page, name);
  const noteText = unique('SSR note');
  await page.getByLabel('New note').fill(noteText);
  await page.getByRole('button', { name: 'Add note' }).click();
  await expect(page.locator('li.note', { hasText: noteText })).toBeVisible();
  await page.getByRole('link', { name: 'Todos' }).click();
  const todo = unique('SSR todo');
  await page.getByLabel('New todo').fill(todo);
  await page.getByRole('button', { name: 'Add' }).click();
  await expect(page.locator('li.todo', { hasText: todo })).toBeVisible();
  await page.getByRole('link', { name: 'Rapid fire' }).click();
  await page.getByLabel('Writes per burst').fill('3');
  await page.getByRole('button', { name: 'Fire' }).click();
  await expect(page.locator('.burst[data-size="3"]')).toHaveAttribute('data-complete', 'true');
  const burstId = await page.locator('.burst').getAttribute('data-burst');
  const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');

  const pages = [
    ['/', todo],
    ['/notes', noteText],
    ['/playground', 'data-tag="todos.by_id.1" data-state="match"'],
    ['/rapid-fire', `Burst #${burstId}: 3 of 3 writes stored`],
  ];
  for (const [path, expected] of pages) {
    // The server's HTML, without JavaScript, holds the data.
    const response = await request.get(url(path), { headers: { cookie } });
    expect(response.status(), path).toBe(200);
    const html = await response.text();
    expect(html, path).toContain(expected);
    expect(html, path).toContain('data-hydrated="false"');
    expect(html, path).toContain(`data-user="${name}"`);

    // A fresh load hydrates without a console error.
    await openPage(page, path);
    await expect(page.locator('main h1')).toBeVisible();
  }
  expect(errors).toEqual([]);

  // Client-side navigation through the nav bar; the current page is marked for screen readers.
  await openPage(page, '/');
  for (const [link, heading, path] of [
    ['My notes', 'My notes', '/notes'],
    ['Tag Playground', 'Tag Playground', '/playground'],
    ['Rapid fire', 'Rapid fire', '/rapid-fire'],
    ['Todos', 'Todos', '/'],
  ]) {
    await page.getByRole('link', { name: link }).click();
    await expect(page.locator('main h1')).toHaveText(heading);
    expect(new URL(page.url()).pathname).toBe(path);
    await expect(page.getByRole('link', { name: link })).toHaveAttribute('aria-current', 'page');
  }
  expect(errors).toEqual([]);
  await context.close();
});

test('the pages work by keyboard and fit a phone-sized screen', async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 375, height: 740 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  for (const path of ['/', '/notes', '/playground', '/rapid-fire']) {
    await openPage(page, path);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `${path} scrolls sideways`).toBeLessThanOrEqual(0);
  }
  // Sign in with the keyboard only: Tab to the field, type, Enter.
  await openPage(page, '/notes');
  const name = unique('keys').replace(' ', '-');
  const field = page.getByLabel('Your name');
  for (let i = 0; i < 30 && !(await field.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press('Tab');
  }
  await expect(field).toBeFocused();
  const outline = await field.evaluate((el) => getComputedStyle(el).outlineStyle);
  expect(outline, 'focus is visible').not.toBe('none');
  await page.keyboard.type(name);
  await page.keyboard.press('Enter');
  await expect(page.locator(`.user[data-user="${name}"]`)).toBeVisible();
  expect(errors).toEqual([]);
  await context.close();
});
