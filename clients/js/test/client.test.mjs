// The JS client against a real hub (crates/sse_bench's hub_server: the hub alone, scopes from
// an `x-user` header, the publish endpoint on): the same cases as the Rust client — live
// events, replay from a cursor, reset, scopes, reconnection — and the TanStack Query adapter.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventSource } from 'eventsource';
import { QueryClient } from '@tanstack/query-core';
import { QueryTagsClient, connectQueryClient, matches, anyMatch } from '../query-tags.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const bin = process.env.HUB_SERVER_BIN || join(root, 'target', 'debug', 'hub_server');
const SECRET = 'client-test-secret';

let hub; // { child, base }

async function startHub(addr = '127.0.0.1:0') {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: cargo build -p sse_bench --bin hub_server`);
  const child = spawn(bin, [], {
    env: { ...process.env, BENCH_ADDR: addr, BENCH_SECRET: SECRET, BENCH_SERVE: 'hyper' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = await new Promise((ok, fail) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) ok(m[1]);
    });
    child.on('exit', (code) => fail(new Error(`hub_server exited with ${code}`)));
  });
  return { child, base };
}

async function stopHub(h) {
  if (h.child.exitCode !== null) return;
  const exited = new Promise((r) => h.child.once('exit', r));
  h.child.kill('SIGKILL');
  await exited;
}

before(async () => {
  hub = await startHub();
});
after(async () => stopHub(hub));

const events = () => `${hub.base}/api/query-tags/events`;

async function publish(tags, scope) {
  const response = await fetch(`${hub.base}/api/query-tags/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
    body: JSON.stringify(scope ? { tags, scope } : { tags }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()).id;
}

/** An EventSource class and a fetch that send `x-user: <user>` (the hub's scope resolver). */
function as(user) {
  const withUser = (url, init = {}) => fetch(url, { ...init, headers: { ...init.headers, 'x-user': user } });
  return {
    fetch: withUser,
    EventSource: class extends EventSource {
      constructor(url, init) {
        super(url, { ...init, fetch: withUser });
      }
    },
  };
}

/** A started client recording what it gets; `until(pred)` waits for a condition. */
function client(options = {}) {
  const seen = { events: [], resets: [], states: [] };
  const live = new QueryTagsClient({
    url: events(),
    EventSource,
    random: () => 0.01, // reconnect at once in tests
    ...options,
    onInvalidate: (e) => seen.events.push(e),
    onReset: (e) => seen.resets.push(e),
    onState: (s) => seen.states.push(s),
  });
  live.start();
  const until = async (pred, what, ms = 5_000) => {
    const deadline = Date.now() + ms;
    while (!pred(seen, live)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(seen)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { live, seen, until };
}

test('the prefix rule', () => {
  assert.ok(matches([], ['todos', 'by_id', 3]));
  assert.ok(matches(['todos'], ['todos', 'by_id', 3]));
  assert.ok(matches(['todos', 'by_id', 3], ['todos', 'by_id', 3]));
  assert.ok(!matches(['todos', 'by_id', '3'], ['todos', 'by_id', 3]), '3 and "3" differ');
  assert.ok(!matches(['todos', 'by_id', 3, 'x'], ['todos', 'by_id', 3]), 'longer than the tag');
  assert.ok(!matches(['notes'], ['todos']));
  assert.ok(anyMatch([['a'], ['todos', 'list']], [['todos', 'list']]));
});

test('live events arrive with their tags and ids, in order', async () => {
  const { live, seen, until } = client();
  await until((s) => s.states.some((x) => x.state === 'open'), 'open');
  const ids = [await publish([['todos', 'list']]), await publish([['todos', 'by_id', 3]])];
  await until((s) => s.events.length === 2, 'two events');
  assert.deepEqual(seen.events.map((e) => e.id), ids);
  assert.deepEqual(seen.events[1].tags, [['todos', 'by_id', 3]]);
  assert.equal(seen.events[0].scope, 'global');
  assert.equal(live.cursor, ids[1]);
  live.close();
});

test('a cursor replays what was published since, exactly once', async () => {
  const first = await publish([['replay', 0]]);
  const missed = [await publish([['replay', 1]]), await publish([['replay', 2]])];
  const { live, seen, until } = client({ cursor: first });
  await until((s) => s.events.length === 2, 'the two missed events');
  assert.deepEqual(seen.events.map((e) => e.id), missed);
  const next = await publish([['replay', 3]]);
  await until((s) => s.events.length === 3, 'the live one');
  assert.equal(seen.events[2].id, next);
  assert.equal(seen.resets.length, 0);
  live.close();
});

test('a cursor the hub cannot replay from gives a reset, then live events', async () => {
  const { live, seen, until } = client({ cursor: '1-0' });
  await until((s) => s.resets.length === 1, 'reset');
  assert.equal(seen.resets[0].reason, 'unknown_epoch');
  await until((s) => s.states.some((x) => x.state === 'open'), 'open');
  await publish([['after', 'reset']]);
  await until((s) => s.events.length === 1, 'a live event');
  live.close();
});

test('scopes: a user gets their own and global events, not another user’s', async () => {
  const ada = client(as('ada'));
  const bob = client(as('bob'));
  await ada.until((s) => s.states.some((x) => x.state === 'open'), 'ada open');
  await bob.until((s) => s.states.some((x) => x.state === 'open'), 'bob open');
  await publish([['notes', 'ada']], 'user:ada');
  await publish([['everyone']]);
  await ada.until((s) => s.events.length === 2, 'ada: her event and the global one');
  await bob.until((s) => s.events.length === 1, 'bob: the global one');
  assert.deepEqual(ada.seen.events.map((e) => e.scope), ['user:ada', 'global']);
  assert.deepEqual(bob.seen.events.map((e) => e.tags), [[['everyone']]]);
  ada.live.close();
  bob.live.close();

  // Asking for a scope the hub does not grant: refused, with the hub's reason.
  const mallory = client({ ...as('bob'), scopes: ['user:ada'] });
  await mallory.until((s) => s.states.some((x) => x.state === 'failed'), 'refused');
  const failed = mallory.seen.states.find((x) => x.state === 'failed');
  assert.equal(failed.status, 403);
  assert.equal(failed.reason, 'forbidden_scope');
  mallory.live.close();
});

test('the hub restarts: the client reconnects by itself and gets a reset (a new epoch)', async () => {
  const { live, seen, until } = client();
  await until((s) => s.states.some((x) => x.state === 'open'), 'open');
  await publish([['before', 'restart']]);
  await until((s) => s.events.length === 1, 'an event');
  const addr = new URL(hub.base).host;
  await stopHub(hub);
  await until((s) => s.states.some((x) => x.state === 'reconnecting'), 'reconnecting');
  hub = await startHub(addr);
  await until((s) => s.resets.length === 1, 'a reset from the new hub', 15_000);
  assert.equal(seen.resets[0].reason, 'unknown_epoch');
  await publish([['after', 'restart']]);
  await until((s) => s.events.length === 2, 'a live event after the restart');
  live.close();
});

test('TanStack Query: an event invalidates exactly the queries whose meta.tags it matches', async () => {
  const queryClient = new QueryClient();
  const fetches = { todos: 0, todo3: 0, users: 0 };
  const query = (name, queryKey, tags) =>
    queryClient.prefetchQuery({
      queryKey,
      queryFn: async () => ++fetches[name],
      meta: { tags },
      staleTime: Infinity,
    });
  await query('todos', ['todos'], [['todos', 'list']]);
  await query('todo3', ['todo', 3], [['todos', 'by_id', 3]]);
  await query('users', ['users'], [['users', 'list']]);

  let received = 0;
  const live = connectQueryClient(queryClient, { url: events(), EventSource, onInvalidate: () => received++ });
  await new Promise((ok) => {
    const check = () => (live.state.state === 'open' ? ok() : setTimeout(check, 10));
    check();
  });
  await publish([['todos', 'by_id']]); // a prefix of todo 3's tag only
  while (received < 1) await new Promise((r) => setTimeout(r, 10));
  const invalid = (key) => queryClient.getQueryState(key).isInvalidated;
  assert.equal(invalid(['todo', 3]), true);
  assert.equal(invalid(['todos']), false);
  assert.equal(invalid(['users']), false);

  await publish([['todos']]); // both todo queries
  while (received < 2) await new Promise((r) => setTimeout(r, 10));
  assert.equal(invalid(['todos']), true);
  assert.equal(invalid(['users']), false);
  live.close();
});
