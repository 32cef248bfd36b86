// The JS client for non-Leptos frontends, as the hub serves it (`<base>/client.js`), in
// Chromium with the browser's own EventSource: a page with no Leptos code receives an event
// published on the demo's hub and matches it with the prefix rule.
import { test, expect } from '@playwright/test';
import { url } from '../support/app.mjs';

test('a plain page imports the client from the hub and receives invalidations', async ({ page }) => {
  // Any page of the origin will do; the client uses nothing of it.
  await page.goto(url('/api/query-tags/client.js'));
  await page.setContent('<!doctype html><title>plain page</title>');
  await page.evaluate(async () => {
    const { QueryTagsClient, anyMatch } = await import('/api/query-tags/client.js');
    window.received = [];
    window.live = new QueryTagsClient({
      onInvalidate: (event) =>
        window.received.push({ ...event, forTodos: anyMatch(event.tags, [['todos', 'list']]) }),
    }).start();
  });
  await expect.poll(() => page.evaluate(() => window.live.state.state)).toBe('open');

  const response = await fetch(url('/api/query-tags/publish'), {
    method: 'POST',
    headers: {
      authorization: `Bearer ${process.env.E2E_PUBLISH_SECRET}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ tags: [['todos']] }),
  });
  expect(response.status).toBe(200);
  const { id } = await response.json();

  await expect.poll(() => page.evaluate(() => window.received.length)).toBe(1);
  const [event] = await page.evaluate(() => window.received);
  expect(event.id).toBe(id);
  expect(event.tags).toEqual([['todos']]);
  expect(event.forTodos).toBe(true);
  expect(await page.evaluate(() => window.live.cursor)).toBe(id);
});
