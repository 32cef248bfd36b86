// The browser's event stream goes through the hub's listener: Chromium sends its EventSource
// request on a keep-alive connection that already served the page, and the listener takes the
// stream over from hyper (no `date` header, `connection: close`: hyper writes neither that way).
import { test, expect } from '@playwright/test';
import { url, watchErrors, openTodos, row, addTodo, unique } from '../support/app.mjs';

const isStream = (r) => r.url().includes('/api/query-tags/events');

test('the event stream is written by the hub listener, and stays live across reloads', async ({ browser }) => {
  const a = await (await browser.newContext()).newPage();
  const b = await (await browser.newContext()).newPage();
  const errorsA = watchErrors(a);
  const errorsB = watchErrors(b);

  for (const page of [a, b]) {
    const stream = page.waitForResponse(isStream);
    await openTodos(page);
    const response = await stream;
    expect(response.status()).toBe(200);
    const headers = await response.allHeaders();
    expect(headers['content-type']).toBe('text/event-stream');
    expect(headers['connection']).toBe('close');
    expect(headers['date']).toBeUndefined();
  }

  // A reload opens a new stream the same way; it is live.
  const again = b.waitForResponse(isStream);
  await b.reload();
  expect((await (await again).allHeaders())['date']).toBeUndefined();
  const title = unique('After reload');
  await addTodo(a, title);
  await expect(row(b, title)).toBeVisible({ timeout: 2_000 });

  expect(errorsA).toEqual([]);
  expect(errorsB).toEqual([]);
});
