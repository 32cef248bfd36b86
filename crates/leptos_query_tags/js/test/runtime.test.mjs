// Tests of js/runtime.js (the browser side of the client runtime) in Node, with the browser's
// APIs it uses replaced by small fakes: Web Locks, EventSource, Worker, fetch, the window's
// events. Node's own BroadcastChannel, AbortController, URL and Blob are the real ones. The
// browser tests (end2end/) exercise runtime.js through the demo in Chromium.
//
//   node --test crates/leptos_query_tags/js/test/
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';

// --- fakes -------------------------------------------------------------------------------

const win = new EventTarget();
globalThis.addEventListener = win.addEventListener.bind(win);
globalThis.removeEventListener = win.removeEventListener.bind(win);
globalThis.document = { hidden: false };
globalThis.location = { origin: 'http://app.test', href: 'http://app.test/todos' };

/** Web Locks, as far as the runtime uses them: queued requests, `signal`, `steal`; `refuse`
 * rejects every request (an opaque origin). */
class Locks {
  constructor() {
    this.held = new Map(); // name -> request
    this.waiting = new Map(); // name -> [request]
    this.requests = 0;
    this.refuse = false;
  }
  request(name, options, callback) {
    this.requests++;
    // (After ten refusals it stops answering, so that a retry loop fails the test, not hangs it.)
    if (this.refuse) return this.requests > 10 ? new Promise(() => {}) : Promise.reject(new Error('SecurityError'));
    return new Promise((resolve, reject) => {
      const request = { callback, resolve, reject };
      if (options.steal) {
        const holder = this.held.get(name);
        if (holder) holder.reject(new Error('AbortError: stolen'));
        this.grant(name, request);
        return;
      }
      options.signal?.addEventListener('abort', () => {
        const queue = this.waiting.get(name) ?? [];
        const at = queue.indexOf(request);
        if (at >= 0) {
          queue.splice(at, 1);
          reject(new Error('AbortError: aborted'));
        }
      });
      if (this.held.has(name)) {
        this.waiting.set(name, [...(this.waiting.get(name) ?? []), request]);
      } else {
        this.grant(name, request);
      }
    });
  }
  grant(name, request) {
    this.held.set(name, request);
    Promise.resolve()
      .then(() => request.callback({ name }))
      .then((value) => {
        if (this.held.get(name) === request) {
          this.held.delete(name);
          const next = (this.waiting.get(name) ?? []).shift();
          if (next) this.grant(name, next);
        }
        request.resolve(value);
      });
  }
}

/** The EventSources opened, newest last. */
let sources = [];
class FakeEventSource extends EventTarget {
  constructor(url) {
    super();
    if (url.includes('throw')) throw new Error('SyntaxError: bad URL');
    this.url = url;
    this.closed = false;
    sources.push(this);
  }
  close() {
    this.closed = true;
  }
  emit(name, data = '', lastEventId = '') {
    const event = new Event(name);
    Object.assign(event, { data, lastEventId });
    this.dispatchEvent(event);
  }
}

/** The workers started, newest last; `failNext` makes the constructor throw once. */
let workers = [];
class FakeWorker {
  static failNext = false;
  constructor(url) {
    if (FakeWorker.failNext) {
      FakeWorker.failNext = false;
      throw new Error('SecurityError: worker-src');
    }
    this.url = url;
    this.sent = [];
    this.terminated = false;
    workers.push(this);
  }
  postMessage(data) {
    this.sent.push(data);
  }
  terminate() {
    this.terminated = true;
  }
}

const tick = () => new Promise((done) => setTimeout(done, 0));

// The module under test, loaded once (it keeps per-page state: the worker's blob URL).
const source = await readFile(new URL('../runtime.js', import.meta.url), 'utf8');
const runtime = await import('data:text/javascript,' + encodeURIComponent(source));

let reports;
let pages;
/** A page; its reports go to `reports` and to its own `p.reports`. */
function page() {
  const own = [];
  const p = new runtime.Page((fields) => {
    reports.push(fields);
    own.push(fields);
  });
  p.reports = own;
  pages.push(p);
  return p;
}

/** A page with a tab begun for the identity `x`; `p.name` is its lock and channel name. */
function tab() {
  const p = page();
  p.name = p.begin(2, '', 'x');
  return p;
}

beforeEach(() => {
  for (const p of pages ?? []) p.dispose();
  reports = [];
  pages = [];
  sources = [];
  workers = [];
  globalThis.navigator = { onLine: true, locks: new Locks() };
  globalThis.EventSource = FakeEventSource;
  globalThis.Worker = undefined;
  globalThis.fetch = undefined;
});

// --- tests -------------------------------------------------------------------------------

test('window events come back as reports while the page lives', () => {
  const p = page();
  win.dispatchEvent(new Event('focus'));
  win.dispatchEvent(new Event('offline'));
  win.dispatchEvent(new Event('online'));
  document.hidden = true;
  win.dispatchEvent(new Event('visibilitychange'));
  document.hidden = false;
  win.dispatchEvent(new Event('visibilitychange'));
  win.dispatchEvent(new Event('pagehide'));
  const shown = new Event('pageshow');
  shown.persisted = true;
  win.dispatchEvent(shown);
  assert.deepEqual(reports, [
    ['focus'],
    ['offline'],
    ['online'],
    ['visible', ''],
    ['visible', '1'],
    ['pagehide'],
    ['pageshow', '1'],
  ]);
  p.dispose();
  pages = [];
  win.dispatchEvent(new Event('focus'));
  assert.equal(reports.length, 7, 'no report after dispose');
});

test('the shared name carries the protocol, origin, base path and identity; none without Web Locks', () => {
  const p = page();
  assert.equal(p.begin(2, '/api/query-tags', 'ab12'), 'leptos_query_tags/2 http://app.test/api/query-tags ab12');
  navigator.locks = undefined;
  assert.equal(p.begin(2, '/api/query-tags', 'ab12'), '');
});

test('one tab holds the lock; a steal takes it and the first queues again; leaving hands it on', async () => {
  const [a, b] = [tab(), tab()];
  a.join(a.name);
  await tick();
  b.join(b.name);
  await tick();
  assert.deepEqual(a.reports, [['granted']], 'a leads');
  assert.deepEqual(b.reports, [], 'b waits');
  b.stealLock();
  await tick();
  await tick();
  assert.deepEqual(b.reports, [['granted']], 'b took it');
  assert.deepEqual(a.reports, [['granted'], ['lost']], 'a heard it lost');
  b.end();
  await tick();
  await tick();
  assert.deepEqual(a.reports, [['granted'], ['lost'], ['granted']], 'a (queued again) gets it back when b leaves');
  assert.deepEqual(b.reports, [['granted']], 'nothing for b after it ended');
  a.end();
  await tick();
  assert.equal(navigator.locks.held.size, 0, 'released');
  assert.equal(a.reports.length, 3, 'nothing after the tab ended');
});

test('a lock granted to a tab that has ended is given back at once, unreported', async () => {
  const [a, b, c] = [tab(), tab(), tab()];
  a.join(a.name);
  await tick();
  b.join(b.name); // queued behind a
  b.end(); // aborts b's queued request
  c.join(c.name); // queued behind a
  a.end(); // c is granted next
  // The grant races c's end: c's tab is gone when the callback runs (as if end() came after
  // the lock manager had decided, too late to abort).
  c.shown++;
  await tick();
  await tick();
  await tick();
  assert.deepEqual(c.reports, [], 'no report for a tab that is gone');
  assert.equal(navigator.locks.held.size, 0, 'given back at once');
  assert.deepEqual(b.reports, []);
});

test('a refused lock request is not retried in a loop (an opaque origin)', async () => {
  navigator.locks.refuse = true;
  const p = page();
  p.join(p.begin(2, '', 'x'));
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(navigator.locks.requests, 1);
  assert.deepEqual(p.reports, []);
});

test('without a channel the tab still queues for the lock (it leads and streams alone)', async () => {
  const Channel = globalThis.BroadcastChannel;
  globalThis.BroadcastChannel = class {
    constructor() {
      throw new Error('no channel here');
    }
  };
  try {
    const p = page();
    p.join(p.begin(2, '', 'x'));
    await tick();
    assert.deepEqual(p.reports, [['granted']]);
    globalThis.Worker = FakeWorker;
    p.openStream(1, '/events', '42', 'x');
    assert.equal(workers.length, 0, 'no worker: nothing to relay to');
    assert.equal(sources.length, 1);
    assert.doesNotThrow(() => p.post(['ping', '1']));
    p.end();
  } finally {
    globalThis.BroadcastChannel = Channel;
  }
});

test('a stream on the page reports its generation; closing and ending stop its reports', () => {
  const p = page();
  p.begin(2, '', 'x');
  p.openStream(7, '/events?cursor=1-2', '', '');
  const es = sources[0];
  assert.equal(es.url, '/events?cursor=1-2');
  es.emit('open');
  es.emit('hello', '{"epoch":1}', '');
  es.emit('invalidate', '{"tags":[]}', '1-3');
  es.emit('error');
  assert.deepEqual(reports, [
    ['open', '7'],
    ['sse', '7', 'hello', '{"epoch":1}', ''],
    ['sse', '7', 'invalidate', '{"tags":[]}', '1-3'],
    ['error', '7'],
  ]);
  p.openStream(8, '/events', '', '');
  assert.ok(es.closed, 'a new stream closes the old one');
  p.end();
  assert.ok(sources[1].closed);
  sources[1].emit('open');
  assert.equal(reports.length, 4, 'no report for an ended tab');
});

test('an EventSource that cannot be made is an error reported later, never an exception', async () => {
  const p = page();
  p.begin(2, '', 'x');
  const warn = console.warn;
  console.warn = () => {};
  try {
    assert.doesNotThrow(() => p.openStream(3, '/throw', '', ''));
  } finally {
    console.warn = warn;
  }
  assert.deepEqual(reports, [], 'not while Rust is calling');
  await tick();
  assert.deepEqual(reports, [['error', '3']]);
});

test("a leader's stream runs in a worker that is sent an absolute URL; where no worker starts, on the page", async () => {
  globalThis.Worker = FakeWorker;
  const p = page();
  const name = p.begin(2, '/api', 'x');
  p.join(name);
  p.openStream(1, '/api/events', '42', 'x');
  assert.equal(workers.length, 1);
  assert.deepEqual(workers[0].sent, [['http://app.test/api/events', name, '42', 'x']]);
  workers[0].onmessage({ data: ['open', '', ''] });
  workers[0].onmessage({ data: ['invalidate', '{"tags":[]}', '5-1'] });
  p.closeStream();
  assert.ok(workers[0].terminated);
  assert.equal(workers[0].onmessage, null, 'handlers go before the worker ends');
  assert.deepEqual(reports.slice(-2), [
    ['open', '1'],
    ['sse', '1', 'invalidate', '{"tags":[]}', '5-1'],
  ]);
  // A follower's (no relay) stream never uses a worker.
  p.openStream(2, '/api/events', '', '');
  assert.equal(workers.length, 1);
  assert.equal(sources.length, 1);
  // A worker whose script fails: an error for its stream.
  p.openStream(5, '/api/events', '42', 'x');
  assert.equal(workers.length, 2);
  workers[1].onerror();
  assert.deepEqual(reports.at(-1), ['error', '5']);
  // From then on (and for a worker that cannot start) streams open on the page.
  p.openStream(6, '/api/events', '42', 'x');
  assert.equal(workers.length, 2, 'no worker after one failed');
  assert.equal(sources.length, 2);
  p.openStream(3, '/api/events', '42', 'x');
  p.openStream(4, '/api/events', '42', 'x');
  assert.equal(workers.length, 2);
  assert.equal(sources.length, 4);
  p.end();
  await tick();
});

test("a probe reports the status and the reason of the hub's error answer; unreachable is an empty status", async () => {
  const answers = [
    new Response('{"error":"forbidden_scope","message":"no"}', { status: 403 }),
    null,
    new Response('data: …', { status: 200 }),
    new Response('slow down', { status: 429 }), // not the hub's body
    new Response('null', { status: 403 }),
    new Response('{"error":5}', { status: 400 }),
  ];
  const signals = [];
  globalThis.fetch = async (url, { signal }) => {
    signals.push(signal);
    const answer = answers.shift();
    if (!answer) throw new TypeError('network');
    return answer;
  };
  const p = page();
  p.begin(2, '', 'x');
  for (let g = 1; g <= 6; g++) {
    p.probe(g, '/events');
    await tick();
  }
  assert.deepEqual(reports, [
    ['probe', '1', '403', 'forbidden_scope'],
    ['probe', '2', '', ''],
    ['probe', '3', '200', ''],
    ['probe', '4', '429', ''],
    ['probe', '5', '403', ''],
    ['probe', '6', '400', ''],
  ]);
  assert.ok(signals.every((s) => s.aborted), 'a stream a probe opened is not kept');
  answers.push(new Response('late', { status: 500 }));
  p.probe(7, '/events');
  p.end();
  await tick();
  assert.equal(reports.length, 6, 'no answer for a tab that ended');
});

// Whether this Node's JSON.parse gives revivers the source text (Node 22 and later; Node 20
// behind V8's flag).
const hasSource = JSON.parse('0', (_, v, c) => c?.source === '0');

/** `decodeEvent` on each `[name, data]`, with or without JSON.parse source text access (the one
 * this Node lacks is made: by a JSON.parse that drops the context, or a Node with the flag). */
async function decodeAll(withSource, inputs) {
  if (withSource === hasSource) return inputs.map(([name, data]) => runtime.decodeEvent(name, data));
  if (!withSource) {
    const parse = JSON.parse;
    JSON.parse = (text, reviver) => parse(text, reviver && ((key, value) => reviver(key, value)));
    try {
      return inputs.map(([name, data]) => runtime.decodeEvent(name, data));
    } finally {
      JSON.parse = parse;
    }
  }
  const module = JSON.stringify('data:text/javascript,' + encodeURIComponent(source));
  const script = `import(${module}).then((m) => console.log(JSON.stringify(
    ${JSON.stringify(inputs)}.map(([name, data]) => m.decodeEvent(name, data)))));`;
  const out = execFileSync(process.execPath, ['--harmony-json-parse-with-source', '-e', script], {
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

test("an event's data becomes the fields the wasm reads, the same as the native decoder's", async () => {
  // Shared with the Rust test of native.rs's decoder (src/client/tests.rs).
  const vectors = JSON.parse(await readFile(new URL('./event-data.json', import.meta.url), 'utf8'));
  assert.ok(vectors.length > 20);
  for (const withSource of [true, false]) {
    const got = await decodeAll(withSource, vectors);
    vectors.forEach(([name, data, fields], i) =>
      assert.deepEqual(got[i], fields, `${name} ${data} (source text: ${withSource})`),
    );
  }
});

test('integers keep their digits where JSON.parse gives the source text; elsewhere only safe ones do', async () => {
  const data = '{"tags":[["user",9007199254740993,-9223372036854775808,1.5,1e3,1.0,-0,7]]}';
  const hello = '{"epoch":9007199254740993,"cursor":"9007199254740993-1"}';
  // Chromium 114, Firefox 135, Safari 18.4: exact digits, and only an integer's.
  assert.deepEqual(await decodeAll(true, [['invalidate', data], ['hello', hello]]), [
    ['suser', 'i9007199254740993', 'i-9223372036854775808', 'i', 'i', 'i', 'i', 'i7', ''],
    ['9007199254740993', '9007199254740993-1'],
  ]);
  // Older browsers: the digits of an integer beyond 2^53 are lost, and the wasm refuses the
  // field ('i'), so the event is unreadable (every query refetches). A number the hub never
  // writes (an exponent, `1.0`, `-0`) reads as the integer it equals.
  assert.deepEqual(await decodeAll(false, [['invalidate', data], ['hello', hello]]), [
    ['suser', 'i', 'i', 'i', 'i1000', 'i1', 'i0', 'i7', ''],
    ['', '9007199254740993-1'],
  ]);
});

test('timers report their kind, are replaced, cancelled, and end with the tab', async () => {
  const live = new Set();
  const [set, clear] = [globalThis.setTimeout, globalThis.clearTimeout];
  const p = page();
  globalThis.setTimeout = (f, ms) => {
    const id = set(() => {
      live.delete(id);
      f();
    }, ms);
    live.add(id);
    return id;
  };
  globalThis.clearTimeout = (id) => {
    live.delete(id);
    clear(id);
  };
  p.begin(2, '', 'x');
  p.setTimer('retry', 5);
  p.setTimer('retry', 1);
  p.setTimer('tick', 1);
  p.cancelTimer('tick');
  await new Promise((done) => setTimeout(done, 20));
  assert.deepEqual(reports, [['retry']]);
  p.setTimer('tick', 100);
  p.setTimer('retry', 100);
  p.end();
  assert.equal(live.size, 0, 'ending the tab clears its timers');
  globalThis.setTimeout = set;
  globalThis.clearTimeout = clear;
  await new Promise((done) => setTimeout(done, 20));
  assert.deepEqual(reports, [['retry']]);
});

test('tabs exchange arrays of strings over the channel; anything else is ignored', async () => {
  const [a, b] = [tab(), tab()];
  const name = a.name;
  a.join(name);
  b.join(name);
  await tick();
  reports.length = 0;
  a.post(['ping', '1']);
  const other = new BroadcastChannel(name);
  other.postMessage({ not: 'ours' });
  other.postMessage(['event', 2]);
  await new Promise((done) => setTimeout(done, 20));
  other.close();
  assert.deepEqual(reports, [['message', 'ping', '1']]);
  a.end();
  b.end();
  assert.doesNotThrow(() => a.post(['ping', '1']), 'posting after leaving is a no-op');
});

test('the Server-Timing observer keeps the event ids of responses by request start', () => {
  let callback;
  const pending = [];
  globalThis.PerformanceObserver = class {
    constructor(cb) {
      callback = cb;
    }
    observe() {}
    takeRecords() {
      return pending.splice(0);
    }
  };
  const timing = (startTime, ...ids) => ({
    startTime,
    serverTiming: [{ name: 'other', description: 'x' }, ...ids.map((d) => ({ name: 'lqt-event', description: d }))],
  });
  assert.equal(runtime.observeEvents('lqt-event'), true);
  const now = performance.now();
  callback({ getEntries: () => [timing(now - 10, '1-1'), timing(now - 5), timing(now - 1, '1-2', '1-3')] });
  pending.push(timing(now, '1-4'));
  assert.deepEqual(runtime.eventsSince(now - 5), ['1-2', '1-3', '1-4']);
  assert.deepEqual(runtime.eventsSince(now - 100), ['1-1', '1-2', '1-3', '1-4']);
});

test('the stream worker relays invalidate and reset for its identity only, and stops on error', () => {
  const posted = [];
  const relayed = [];
  const opened = [];
  class Channel {
    constructor(name) {
      this.name = name;
    }
    postMessage(m) {
      relayed.push(m);
    }
  }
  class Source extends FakeEventSource {
    constructor(url) {
      super(url);
      opened.push(this);
    }
  }
  const worker = new Function(
    'BroadcastChannel',
    'EventSource',
    'postMessage',
    `let onmessage; ${runtime.STREAM_WORKER}; return onmessage;`,
  )(Channel, Source, (m) => posted.push(m));
  worker({ data: ['http://app.test/events', 'chan', '42', 'me'] });
  const es = opened[0];
  assert.equal(es.url, 'http://app.test/events');
  es.emit('open');
  es.emit('invalidate', '{"tags":[["a"]]}', '1-1'); // before hello: not relayed
  es.emit('hello', '{"identity":"someone else"}', '');
  es.emit('invalidate', '{"tags":[["b"]]}', '1-2'); // another user's stream: not relayed
  es.emit('hello', '{"identity":"me"}', '');
  es.emit('invalidate', '{"tags":[["c"]]}', '1-3');
  es.emit('reset', '{"cursor":"2-0"}', '2-0');
  es.emit('hello', 'not json', '');
  es.emit('invalidate', '{"tags":[["d"]]}', '2-1'); // unreadable hello: not relayed
  es.emit('hello', '{"identity":"me"}', '');
  es.emit('error');
  es.emit('invalidate', '{"tags":[["e"]]}', '2-2'); // after an error: not relayed
  assert.deepEqual(relayed, [
    ['event', '42', 'invalidate', '1-3', '{"tags":[["c"]]}'],
    ['event', '42', 'reset', '2-0', '{"cursor":"2-0"}'],
  ]);
  assert.ok(es.closed, 'an error closes the stream: reconnecting is the page\'s decision');
  assert.equal(posted.length, 12, 'every event goes to the page');
  assert.deepEqual(posted[0], ['open', '', '']);
  assert.deepEqual(posted[5], ['invalidate', '{"tags":[["c"]]}', '1-3']);
});
