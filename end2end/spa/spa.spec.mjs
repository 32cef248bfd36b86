// examples/spa: a client-side-rendered Leptos app on a plain REST backend. A todo added in one
// browser appears in another through the hub (the REST handler's invalidate_tags), no reload.
import { test, expect } from '@playwright/test';
import { url, watchErrors } from '../support/app.mjs';

async function openApp(page) {
  await page.goto(url('/'));
  // Rendered in the browser (the server sent an empty body), and the stream is open.
  await expect(page.locator('[data-connection]')).toHaveAttribute('data-connection', 'live');
}

test('a todo added in one browser reaches another live', async ({ browser }) => {
  const [a, b] = [await browser.newContext(), await browser.newContext()];
  const [pageA, pageB] = [await a.newPage(), await b.newPage()];
  const errors = [...watchErrors(pageA), ...watchErrors(pageB)];
  await openApp(pageA);
  await openApp(pageB);

  // The list as browser objects (a `Local<js_sys::Array>`, not `Send`) is query data too.
  const jsCount = pageB.locator('[data-js-count]');
  await expect(jsCount).toHaveAttribute('data-js-count', /^\d+$/);
  const before = Number(await jsCount.getAttribute('data-js-count'));
  await expect(pageB.getByRole('listitem')).toHaveCount(before);

  const title = `Water the plants ${Date.now().toString(36)}`;
  // B refetches the list only because of the hub's event: it never clicks or reloads. (Two
  // `GET /api/todos` follow each event in B, the list's and JsCount's; either one will do.)
  const refetched = pageB.waitForResponse(
    (res) => res.url().endsWith('/api/todos') && res.request().method() === 'GET',
  );
  await pageA.getByLabel('New todo').fill(title);
  await pageA.getByRole('button', { name: 'Add' }).click();
  await expect(pageA.getByRole('listitem').filter({ hasText: title })).toHaveCount(1);
  await refetched;
  await expect(pageB.getByRole('listitem').filter({ hasText: title })).toHaveCount(1);
  // The same event refetched the non-`Send` query in B.
  await expect(jsCount).toHaveAttribute('data-js-count', String(before + 1));

  // A refused title (the backend answers 422) shows its error and publishes nothing.
  await pageA.getByLabel('New todo').fill('x'.repeat(201));
  await pageA.getByRole('button', { name: 'Add' }).click();
  await expect(pageA.getByRole('alert')).toContainText('1 to 200 characters');

  expect(errors.filter((e) => !e.includes('422'))).toEqual([]);
  await a.close();
  await b.close();
});
