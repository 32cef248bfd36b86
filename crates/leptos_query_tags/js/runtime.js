// The browser side of leptos_query_tags' client runtime, bound by src/client/browser.rs.
//
// The decisions (leadership, reconnection and backoff, de-duplication, what to relay) are made
// in Rust by the tab's state machine (src/client/tab.rs), which is tested natively. This file
// only carries them out with the browser's APIs (Web Locks, BroadcastChannel, EventSource, a
// worker, fetch, timers, window events) and reports back through one callback, `deliver`, with
// an array of strings: `[kind, ...fields]`. It never calls `deliver` while a call from Rust is
// running: every report comes from a browser callback. Written in JS because each browser call
// made from Rust costs a binding in the wasm (and each callback a closure): this file is about
// a third of the bytes the same glue cost in Rust.

// The stream worker: opens the EventSource it is sent, forwards every event to the page as
// `[name, data, id]` and, while the stream's `hello` carries the expected identity, posts each
// `invalidate` and `reset` to the tabs' channel itself, as the leader's tab would
// (`["event", from, name, id, data]`). Followers keep the first copy of an event (by id).
const STREAM_WORKER = `onmessage = (m) => {
  const [url, channelName, from, identity] = m.data;
  const channel = new BroadcastChannel(channelName);
  const source = new EventSource(url);
  let relay = false;
  for (const name of ['open', 'error', 'hello', 'invalidate', 'reset']) {
    source.addEventListener(name, (e) => {
      if (name === 'hello') {
        try { relay = JSON.parse(e.data).identity === identity; } catch { relay = false; }
      } else if (name === 'error') {
        relay = false;
        source.close();
      } else if (relay && name !== 'open') {
        channel.postMessage(['event', from, name, e.lastEventId, e.data]);
      }
      postMessage([name, typeof e.data === 'string' ? e.data : '', e.lastEventId || '']);
    });
  }
};`;

// The worker script's `blob:` URL, made once per page ('' where it cannot be made); set once a
// worker failed to start (a Content-Security-Policy without `worker-src blob:`, say): streams
// open on the page's thread from then on.
let workerUrl = null;
let noWorker = false;

function streamWorker() {
  if (noWorker) return null;
  if (workerUrl === null) {
    try {
      workerUrl = URL.createObjectURL(new Blob([STREAM_WORKER], { type: 'text/javascript' }));
    } catch {
      workerUrl = '';
    }
  }
  if (!workerUrl) return null;
  try {
    return new Worker(workerUrl);
  } catch {
    noWorker = true;
    return null;
  }
}

const strings = (data) => Array.isArray(data) && data.every((s) => typeof s === 'string');

/** One page's runtime: its window listeners, and the browser side of its current tab. */
export class Page {
  constructor(deliver) {
    this.deliver = deliver;
    // Counts the tabs begun and ended on this page: a report meant for a tab that has ended
    // (a late lock grant, a probe's answer) is dropped.
    this.shown = 0;
    this.source = null;
    this.channel = null;
    this.lock = null;
    this.probing = null;
    this.timers = {};
    this.listeners = [
      ['online', () => ['online']],
      ['offline', () => ['offline']],
      ['pagehide', () => ['pagehide']],
      ['pageshow', (e) => ['pageshow', e.persisted ? '1' : '']],
      ['focus', () => ['focus']],
      ['visibilitychange', () => ['visible', this.visible() ? '1' : '']],
    ].map(([name, fields]) => {
      const listener = (e) => deliver(fields(e));
      addEventListener(name, listener);
      return [name, listener];
    });
  }

  /** Removes the window listeners and ends the tab. */
  dispose() {
    this.end();
    for (const [name, listener] of this.listeners) removeEventListener(name, listener);
  }

  visible() {
    return !document.hidden;
  }

  online() {
    return navigator.onLine !== false;
  }

  /** Starts a tab: the name of the lock and channel the tabs of `identity` share, or '' where
   * the browser lacks Web Locks or BroadcastChannel (each tab then streams alone). The
   * version of the tabs' messages is part of the name: during a deploy, pages of the old and
   * the new version each elect their own leader. */
  begin(protocol, basePath, identity) {
    this.shown++;
    return navigator.locks && typeof BroadcastChannel === 'function'
      ? `leptos_query_tags/${protocol} ${location.origin}${basePath} ${identity}`
      : '';
  }

  /** Ends the tab: leaves nothing open that keeps the page out of the back/forward cache (a
   * held or requested lock, a channel, a stream, a probe, a timer). */
  end() {
    this.shown++;
    this.closeStream();
    if (this.channel) {
      this.channel.onmessage = null;
      this.channel.close();
      this.channel = null;
    }
    if (this.lock) {
      this.lock.abort.abort();
      this.lock.release?.();
      this.lock = null;
    }
    this.probing?.abort();
    this.probing = null;
    for (const kind in this.timers) clearTimeout(this.timers[kind]);
  }

  /** A report for the current tab; `shown` is the tab it was meant for. */
  send(shown, fields) {
    if (shown === this.shown) this.deliver(fields);
  }

  /** Joins the channel of `name` (its messages come back as `['message', ...fields]`) and
   * queues for its lock. */
  join(name) {
    const shown = this.shown;
    try {
      this.channel = new BroadcastChannel(name);
    } catch {
      return;
    }
    this.channel.onmessage = (e) => {
      // Another version of the library in another tab may speak differently: ignore it.
      if (strings(e.data)) this.send(shown, ['message', ...e.data]);
    };
    this.requestLock(name, false);
  }

  /** `navigator.locks.request`: a normal request waits its turn (and is made again whenever it
   * ends while the tab lives: `['granted']`, then `['lost']` if another tab stole it); a steal
   * takes the lock from a leader that stopped answering. */
  requestLock(name, steal) {
    const shown = this.shown;
    const options = {};
    if (steal) {
      options.steal = true;
    } else {
      const abort = new AbortController();
      options.signal = abort.signal;
      this.lock = { name, abort, release: null };
    }
    let granted = false;
    navigator.locks
      .request(name, options, () => {
        // The tab left meanwhile: give the lock back at once.
        if (shown !== this.shown) return undefined;
        granted = true;
        const held = new Promise((release) => {
          if (this.lock) this.lock.release = release;
        });
        this.deliver(['granted']);
        return held;
      })
      .catch(() => {})
      .then(() => {
        // Released by this tab leaving, or aborted by it: nothing to do.
        if (shown !== this.shown) return;
        if (granted) this.deliver(['lost']);
        if (!steal) this.requestLock(name, false);
      });
  }

  stealLock() {
    if (this.lock) this.requestLock(this.lock.name, true);
  }

  /** Opens the stream on `url`; its reports carry `generation`: `['open', g]`, `['error', g]`,
   * `['sse', g, name, data, id]`. With `from` (the leader's tab id; '' for none) it opens in
   * the worker, which relays to the tabs of `identity`; where no worker runs, on this thread. */
  openStream(generation, url, from, identity) {
    this.closeStream();
    const shown = this.shown;
    const g = String(generation);
    const report = (name, data, id) =>
      this.send(shown, name === 'open' || name === 'error' ? [name, g] : ['sse', g, name, data, id]);
    const worker = from && this.channel ? streamWorker() : null;
    if (worker) {
      worker.onmessage = (e) => report(...e.data);
      // The script did not load or run: a failure, and this thread next time.
      worker.onerror = () => {
        noWorker = true;
        report('error');
      };
      // A worker resolves relative URLs against its `blob:` URL: send an absolute one.
      worker.postMessage([new URL(url, location.href).href, this.channel.name, from, identity]);
      this.source = {
        close() {
          // Its handlers go first: a message it posted before it ended must not reach a tab
          // that has moved on.
          worker.onmessage = worker.onerror = null;
          worker.terminate();
        },
      };
      return;
    }
    let source;
    try {
      source = new EventSource(url);
    } catch (error) {
      console.warn('leptos_query_tags: cannot open the event stream:', error);
      // Reported like any failure, after this call returns.
      queueMicrotask(() => report('error'));
      return;
    }
    for (const name of ['open', 'error', 'hello', 'invalidate', 'reset']) {
      source.addEventListener(name, (e) =>
        report(name, typeof e.data === 'string' ? e.data : '', e.lastEventId || ''),
      );
    }
    this.source = source;
  }

  closeStream() {
    this.source?.close();
    this.source = null;
  }

  /** `GET url` with fetch, which (unlike EventSource) sees the status and the body:
   * `['probe', g, status, body of an error answer]`, status '' when unreachable. */
  probe(generation, url) {
    this.probing?.abort();
    const abort = (this.probing = new AbortController());
    const shown = this.shown;
    fetch(url, { signal: abort.signal })
      .then(
        async (r) => [String(r.status), r.ok ? '' : await r.text().catch(() => '')],
        () => ['', ''],
      )
      .then(([status, body]) => {
        // A stream the probe opened is not wanted.
        abort.abort();
        if (this.probing === abort) this.probing = null;
        this.send(shown, ['probe', String(generation), status, body]);
      });
  }

  /** Sets (or replaces) the timer `kind`, reported as `[kind]`. */
  setTimer(kind, ms) {
    clearTimeout(this.timers[kind]);
    const shown = this.shown;
    this.timers[kind] = setTimeout(() => this.send(shown, [kind]), ms);
  }

  cancelTimer(kind) {
    clearTimeout(this.timers[kind]);
  }

  /** Posts an array of strings to the other tabs. */
  post(fields) {
    this.channel?.postMessage(fields);
  }
}

// Which events this tab's own writes became: the hub names them in the response's
// `Server-Timing`, which the browser shows as `PerformanceResourceTiming.serverTiming`
// (secure contexts only, `localhost` included). A PerformanceObserver sees every response,
// however full the resource timing buffer is. Kept for a minute: a mutation reads them at once.
let observer = null;
let metric = '';
const seen = []; // [request start, [event ids]], oldest first

function record(entries) {
  for (const entry of entries) {
    const ids = (entry.serverTiming || []).filter((t) => t.name === metric).map((t) => t.description);
    if (ids.length) seen.push([entry.startTime, ids]);
  }
  const horizon = performance.now() - 60_000;
  while (seen.length && seen[0][0] < horizon) seen.shift();
}

/** Starts observing responses (once per page); false where the browser cannot. */
export function observeEvents(name) {
  if (observer) return true;
  try {
    metric = name;
    observer = new PerformanceObserver((list) => record(list.getEntries()));
    observer.observe({ entryTypes: ['resource'] });
    return true;
  } catch {
    observer = null;
    return false;
  }
}

/** The event ids of responses whose requests started at or after `since`. */
export function eventsSince(since) {
  if (!observer) return [];
  // Entries the observer has not delivered yet.
  record(observer.takeRecords());
  return seen.filter(([at]) => at >= since).flatMap(([, ids]) => ids);
}

export function performanceNow() {
  return performance.now();
}

/** Runs `work` in a later task: at `background` priority where the browser has
 * `scheduler.postTask` (it yields to the tasks the current one started, such as the responses
 * to the refetches an event began), else after a zero timeout. */
export function later(work) {
  if (globalThis.scheduler?.postTask) scheduler.postTask(work, { priority: 'background' });
  else setTimeout(work);
}
