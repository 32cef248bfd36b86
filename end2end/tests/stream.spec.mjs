// The browser's event stream is a lean stream: Chromium sends its EventSource request on a
// keep-alive connection that already served the page, and the hub takes the stream over from
// hyper once hyper has finished that page (`connection: close`: hyper keeps a stream's connection
// alive, the hub writes the stream as the connection's last response).
import { test, expect } from '@playwright/test';
import { url, watchErrors, openTodos, row, addTodo, unique } from '../support/app.mjs';

const isStream = (r) => r.url().includes('/api/query-tags/events');

test('the event stream is written by the hub (lean streams), and stays live across reloads', async ({ browser }) => {
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
    expect(headers['date']).toBeDefined();
    // It resumes from the cursor the page was rendered at (carried in the page, read back when
    // it hydrates): nothing published while the page loaded is missed.
    expect(new URL(response.url()).searchParams.get('cursor')).toMatch(/^\d+-\d+$/);
  }

  // A reload opens a new stream the same way; it is live.
  const again = b.waitForResponse(isStream);
  await b.reload();
  expect((await (await again).allHeaders())['connection']).toBe('close');
  const title = unique('After reload');
  await addTodo(a, title);
  await expect(row(b, title)).toBeVisible({ timeout: 2_000 });

  expect(errorsA).toEqual([]);
  expect(errorsB).toEqual([]);
});

test("Chromium decodes an event's integers exactly: a tag segment above 2^53 keeps its digits", async ({ page }) => {
  // js/runtime.js decodes event data with JSON.parse, keeping each integer's source text
  // (JSON.parse source text access); without it such a segment would make the event unreadable.
  const errors = watchErrors(page);
  await openTodos(page);
  const fields = await page.evaluate(async () => {
    const runtime = performance
      .getEntriesByType('resource')
      .map((e) => e.name)
      .find((name) => name.includes('/snippets/leptos_query_tags') && name.endsWith('/runtime.js'));
    if (!runtime) return 'the runtime snippet was not loaded';
    const { decodeEvent } = await import(runtime);
    return decodeEvent('invalidate', '{"tags":[["user",9007199254740993,-9223372036854775808,true]]}');
  });
  expect(fields).toEqual(['suser', 'i9007199254740993', 'i-9223372036854775808', 't', '']);
  expect(errors).toEqual([]);
});
