// Helpers shared by the browser tests.
import { expect } from '@playwright/test';

export function url(path = '/') {
  const base = process.env.E2E_BASE_URL;
  if (!base) throw new Error('E2E_BASE_URL is not set: the global setup did not run');
  return base + path;
}

/** Collects console errors and uncaught exceptions of a page. */
export function watchErrors(page) {
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  return errors;
}

/** The same path on demo instance B (another process on the same Redis and database). */
export function urlB(path = '/') {
  const base = process.env.E2E_BASE_URL_B;
  if (!base) throw new Error('E2E_BASE_URL_B is not set: the global setup did not run');
  return base + path;
}

/** Opens the Todos page (of instance A, or at `base`) and waits until it is hydrated and its
 * event stream is open. */
export async function openTodos(page, base = url('/')) {
  await page.goto(base);
  await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.locator('.live')).toHaveAttribute('data-state', 'open');
}

export function row(page, title) {
  return page.locator('li.todo', { hasText: title });
}

export async function addTodo(page, title) {
  await page.getByLabel('New todo').fill(title);
  await page.getByRole('button', { name: 'Add' }).click();
}

export function unique(prefix) {
  return `${prefix} ${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/** Records the titles of todo rows ever added to the page (to see short-lived optimistic rows). */
export async function recordRows(page) {
  await page.evaluate(() => {
    window.__rowsSeen = [];
    new MutationObserver((records) => {
      for (const record of records) {
        for (const node of record.addedNodes) {
          if (node.nodeType !== 1) continue;
          const rows = node.matches('li.todo') ? [node] : [...node.querySelectorAll('li.todo')];
          for (const row of rows) {
            window.__rowsSeen.push({
              title: row.querySelector('.title')?.textContent ?? '',
              provisional: row.classList.contains('provisional'),
            });
          }
        }
      }
    }).observe(document.body, { childList: true, subtree: true });
  });
  return async () => page.evaluate(() => window.__rowsSeen);
}

/** How many event streams instance A (or the instance at `base`) holds, from its metrics. */
export async function streamsOpen(base = url('')) {
  const text = await (await fetch(`${base}/api/query-tags/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('query_tags_streams '));
  if (!line) throw new Error(`no query_tags_streams in the metrics:\n${text}`);
  return Number(line.split(' ')[1]);
}

/** The ids of the events a tab applied, oldest first (from the page's event log). */
export async function eventIds(page) {
  const ids = await page.$$eval('.event-log [data-event-id]', (items) => items.map((li) => li.dataset.eventId));
  return ids.reverse();
}

/** Publishes an invalidation through the hub's publish endpoint (as a job outside the app
 * would); returns the event's id. */
export async function publish(tags, scope = 'global', base = url('')) {
  const response = await fetch(`${base}/api/query-tags/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${process.env.E2E_PUBLISH_SECRET}` },
    body: JSON.stringify({ tags, scope }),
  });
  if (!response.ok) throw new Error(`publish: ${response.status} ${await response.text()}`);
  return (await response.json()).id;
}

/** Signs `page` in as `name` through the sign-in form of My notes (the page reloads), and waits
 * until the notes page is hydrated and live. */
export async function signIn(page, name) {
  await page.goto(url('/notes'));
  await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator(`.user[data-user="${name}"]`)).toBeVisible();
  await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.locator('.live')).toHaveAttribute('data-state', 'open');
}

/** Opens `path` of instance A and waits until it is hydrated and live. */
export async function openPage(page, path) {
  await page.goto(url(path));
  await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.locator('.live')).toHaveAttribute('data-state', 'open');
}

/** Opens a raw event stream inside `page` (with the page's cookies), collecting every frame's
 * event name and data in `window.__raw`. */
export async function recordRawStream(page) {
  await page.evaluate(() => {
    window.__raw = [];
    const source = new EventSource('/api/query-tags/events');
    for (const name of ['hello', 'invalidate', 'reset']) {
      source.addEventListener(name, (e) => window.__raw.push({ event: name, data: e.data }));
    }
    window.__rawSource = source;
  });
  await expect.poll(() => page.evaluate(() => window.__raw.length)).toBeGreaterThan(0);
  return async () => page.evaluate(() => window.__raw);
}

/** The first bytes of an event stream request made with `cookie` (Node's fetch: no browser),
 * then the request is aborted. */
export async function streamStart(cookie, query = '') {
  const controller = new AbortController();
  const response = await fetch(url(`/api/query-tags/events${query}`), {
    headers: cookie ? { cookie, accept: 'text/event-stream' } : { accept: 'text/event-stream' },
    signal: controller.signal,
  });
  let text = '';
  if (response.ok) {
    const reader = response.body.getReader();
    while (!text.includes('\n\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
  } else {
    text = await response.text();
  }
  controller.abort();
  return { status: response.status, text };
}
