// One event stream per browser profile and user, shared by its tabs: a leader tab (Web Locks)
// holds the EventSource and relays events to the others over a BroadcastChannel (from a worker,
// so a busy leader does not hold them back).
import { test, expect } from '@playwright/test';
import { url, watchErrors, openTodos, row, addTodo, unique, streamsOpen, eventIds, publish, signIn } from '../support/app.mjs';

const isStream = (r) => r.url().includes('/api/query-tags/events');

/** Opens `n` tabs of the Todos page in `context`, one after the other. */
async function openTabs(context, n, path = '/') {
  const pages = [];
  for (let i = 0; i < n; i++) {
    const page = await context.newPage();
    await openTodos(page, url(path));
    pages.push(page);
  }
  return pages;
}

async function leaders(pages) {
  const flags = await Promise.all(pages.map((p) => p.locator('.live').getAttribute('data-leader')));
  return pages.filter((_, i) => flags[i] === 'true');
}

test('four tabs of one browser share one event stream, and a change in one reaches all four', async ({ browser }) => {
  const before = await streamsOpen();
  const context = await browser.newContext();
  let streamRequests = 0;
  context.on('request', (r) => { if (isStream(r)) streamRequests += 1; });
  const pages = await openTabs(context, 4);
  const errors = pages.map(watchErrors);

  // The hub holds exactly one more stream, and the browser asked for exactly one.
  await expect.poll(streamsOpen, { timeout: 5_000 }).toBe(before + 1);
  await pages[0].waitForTimeout(1_500); // heartbeats and pings happen meanwhile: still one
  expect(await streamsOpen()).toBe(before + 1);
  expect(streamRequests).toBe(1);
  expect(await leaders(pages)).toHaveLength(1);

  const title = unique('Shared stream');
  await addTodo(pages[0], title);
  for (const page of pages) await expect(row(page, title)).toBeVisible({ timeout: 2_000 });

  await context.close();
  await expect.poll(streamsOpen, { timeout: 5_000 }).toBe(before);
  expect(errors.flat()).toEqual([]);
});

test('closing the leader tab while events are published: another tab leads within 2 s, every tab sees every event exactly once', async ({ browser }) => {
  const context = await browser.newContext();
  const pages = await openTabs(context, 4);
  const publisherContext = await browser.newContext();
  const publisher = await publisherContext.newPage();
  await openTodos(publisher);

  const [leader] = await leaders(pages);
  const followers = pages.filter((p) => p !== leader);

  // Twenty changes from another browser; the leader tab closes after the fifth.
  const titles = [];
  for (let i = 0; i < 20; i++) {
    const title = unique(`Hand-over ${i}`);
    titles.push(title);
    await addTodo(publisher, title);
    await expect(row(publisher, title)).toBeVisible();
    if (i === 4) {
      await leader.close({ runBeforeUnload: false });
      const closedAt = Date.now();
      await expect.poll(async () => (await leaders(followers)).length, { timeout: 2_000, intervals: [50] }).toBe(1);
      console.log(`a new leader after ${Date.now() - closedAt} ms`);
    }
  }
  // The publisher's own tab saw every event of its changes once: that is the reference.
  await expect.poll(async () => (await eventIds(publisher)).length, { timeout: 5_000 }).toBe(20);
  const published = await eventIds(publisher);
  for (const page of followers) {
    await expect.poll(async () => (await eventIds(page)).length, { timeout: 5_000 }).toBeGreaterThanOrEqual(20);
    const seen = await eventIds(page);
    expect(new Set(seen).size, `duplicates in ${seen}`).toBe(seen.length);
    for (const id of published) expect(seen).toContain(id);
    await expect(row(page, titles[19])).toBeVisible();
  }
  await context.close();
  await publisherContext.close();
});

test('two users on one machine never receive each other\'s relayed events', async ({ browser }) => {
  // Signed in for real (sealed session cookies); each user's scope is `user:<id>`.
  const contextFor = async (name) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, name);
    const { id } = await page.evaluate(async () => (await fetch('/api/current_user', { method: 'POST' })).json());
    await page.close();
    return { context, scope: `user:${id}` };
  };
  const { context: ada, scope: adaScope } = await contextFor(unique('ada').replace(' ', '-'));
  const { context: bob, scope: bobScope } = await contextFor(unique('bob').replace(' ', '-'));
  const adaTabs = await openTabs(ada, 2);
  const bobTabs = await openTabs(bob, 2);
  expect(await leaders(adaTabs)).toHaveLength(1);
  expect(await leaders(bobTabs)).toHaveLength(1);

  // An event in Ada's scope reaches both of Ada's tabs (one through the relay) and neither of Bob's.
  const id = await publish([['notes']], adaScope);
  for (const page of adaTabs) await expect.poll(() => eventIds(page)).toContain(id);
  const other = await publish([['notes']], bobScope);
  for (const page of bobTabs) await expect.poll(() => eventIds(page)).toContain(other);
  for (const page of bobTabs) expect(await eventIds(page)).not.toContain(id);
  for (const page of adaTabs) expect(await eventIds(page)).not.toContain(other);
  await ada.close();
  await bob.close();
});

test('a busy leader does not hold back the other tabs: its stream relays from a worker', async ({ browser }) => {
  const context = await browser.newContext();
  const pages = await openTabs(context, 2);
  const [leader] = await leaders(pages);
  expect(leader).toBeTruthy();
  const follower = pages.find((p) => p !== leader);
  const writerContext = await browser.newContext();
  const writer = await writerContext.newPage();
  await openTodos(writer);
  const errors = [...pages, writer].map(watchErrors);

  // The leader's page thread is blocked for 4 s (a long render, say) while another browser
  // makes a change: the follower shows it long before the leader's thread is free again.
  const blocked = leader.evaluate(() => {
    const end = Date.now() + 4_000;
    while (Date.now() < end) { /* busy */ }
    return Date.now();
  });
  const title = unique('Busy leader');
  const start = Date.now();
  await addTodo(writer, title);
  await expect(row(follower, title)).toBeVisible({ timeout: 2_500 });
  const followerSaw = Date.now();
  const freed = await blocked;
  expect(followerSaw).toBeLessThan(freed);
  console.log(`follower showed the change after ${followerSaw - start} ms; the leader was blocked until ${freed - start} ms`);
  await expect(row(leader, title)).toBeVisible();
  await context.close();
  await writerContext.close();
  expect(errors.flat()).toEqual([]);
});
