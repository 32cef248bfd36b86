// One fetch per matching query per tab: the tab that made a change does not refetch twice (its
// mutation's refetch, then the hub's event for the same write).
import { test, expect } from '@playwright/test';
import { watchErrors, openTodos, row, addTodo, unique } from '../support/app.mjs';

/** Counts the todo-list fetches a page starts from now on, and those still in flight. */
function countListFetches(page) {
  const started = new Set();
  const done = new Set();
  const isList = (r) => r.url().includes('/api/list_todos');
  page.on('request', (r) => { if (isList(r)) started.add(r); });
  page.on('requestfinished', (r) => { if (started.has(r)) done.add(r); });
  page.on('requestfailed', (r) => { if (started.has(r)) done.add(r); });
  return { started: () => started.size, inFlight: () => started.size - done.size };
}

const events = async (page) => Number(await page.locator('.live').getAttribute('data-events'));

test('the tab that made a change fetches the list once, and so does the other tab', async ({ browser }) => {
  const a = await (await browser.newContext()).newPage();
  const b = await (await browser.newContext()).newPage();
  const errors = [watchErrors(a), watchErrors(b)];
  await openTodos(a);
  await openTodos(b);
  const title = unique('Fetched once');
  await addTodo(a, title);
  await expect(row(b, title)).toBeVisible();
  await expect(row(a, title)).not.toHaveClass(/provisional/);

  for (const step of ['toggle', 'delete']) {
    // Quiet first: the previous step's fetches are over in both tabs.
    await expect(a.locator('.todos.saving')).toHaveCount(0);
    const [eventsA, eventsB] = [await events(a), await events(b)];
    const fetchesA = countListFetches(a);
    const fetchesB = countListFetches(b);

    if (step === 'toggle') {
      await row(a, title).getByRole('checkbox').check();
      await expect(row(b, title)).toHaveClass(/done/);
    } else {
      await row(a, title).getByRole('button', { name: 'Delete' }).click();
      await expect(row(b, title)).toHaveCount(0);
    }
    // Both tabs applied the event of this write, A's mutation is over, no fetch is in flight.
    await expect.poll(() => events(a)).toBe(eventsA + 1);
    await expect.poll(() => events(b)).toBe(eventsB + 1);
    await expect(a.locator('.todos.saving')).toHaveCount(0);
    await expect.poll(() => fetchesA.inFlight() + fetchesB.inFlight()).toBe(0);
    expect(fetchesA.started(), `${step}: fetches of the list in the tab that made the change`).toBe(1);
    expect(fetchesB.started(), `${step}: fetches of the list in the other tab`).toBe(1);
  }
  for (const list of errors) expect(list).toEqual([]);
});

test('without the Server-Timing header (stripped by a proxy) the tab refetches once more, and stays correct', async ({ browser }) => {
  const context = await browser.newContext();
  const a = await context.newPage();
  await openTodos(a);
  const title = unique('No timing');
  await addTodo(a, title);
  await expect(row(a, title)).not.toHaveClass(/provisional/);
  await expect(a.locator('.todos.saving')).toHaveCount(0);
  await context.route('**/api/toggle_todo*', async (route) => {
    const response = await route.fetch();
    const headers = { ...response.headers() };
    delete headers['server-timing'];
    await route.fulfill({ response, headers });
  });
  const before = await events(a);
  const fetches = countListFetches(a);
  await row(a, title).getByRole('checkbox').check();
  await expect.poll(() => events(a)).toBe(before + 1);
  await expect(a.locator('.todos.saving')).toHaveCount(0);
  await expect.poll(() => fetches.started()).toBe(2);
  await expect.poll(() => fetches.inFlight()).toBe(0);
  await expect(row(a, title)).toHaveClass(/done/);
  await context.close();
});

test("an event's record (the badge count, the log) lands after the refetch it started, never before its answer", async ({ browser }) => {
  const a = await (await browser.newContext()).newPage();
  const b = await (await browser.newContext()).newPage();
  await openTodos(a);
  await openTodos(b);
  // B's refetch takes 300 ms: time in which B's page is idle, and a record waiting only for an
  // idle moment would land.
  await b.route('**/api/list_todos*', async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    await route.continue();
  });
  // In B: when `data-events` changes, and when each list response ended (Resource Timing).
  await b.evaluate(() => {
    window.__counted = [];
    new MutationObserver(() => window.__counted.push(performance.now())).observe(
      document.querySelector('.live'),
      { attributes: true, attributeFilter: ['data-events'] },
    );
    performance.clearResourceTimings();
  });
  const before = await events(b);
  const title = unique('Recorded after');
  await addTodo(a, title);
  await expect(row(b, title)).toBeVisible();
  await expect.poll(() => events(b)).toBe(before + 1);
  const { counted, listEnds } = await b.evaluate(() => ({
    counted: window.__counted,
    listEnds: performance
      .getEntriesByType('resource')
      .filter((e) => e.name.includes('/api/list_todos'))
      .map((e) => e.responseEnd),
  }));
  expect(listEnds.length, 'B refetched the list for the event').toBeGreaterThanOrEqual(1);
  expect(counted.length).toBeGreaterThanOrEqual(1);
  expect(counted[0], 'the count moved after the refetch had its answer').toBeGreaterThanOrEqual(listEnds[0]);
  await a.context().close();
  await b.context().close();
});
