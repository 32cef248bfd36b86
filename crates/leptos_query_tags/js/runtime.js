// leptos_query_tags: the browser side of the client runtime. What each part does and why is
// documented where it is bound, in src/client/browser.rs (and src/client/own_events.rs,
// src/platform/browser.rs); comments here are kept short, as this file ships as is.
// Nothing called from Rust may throw: an exception would unwind through the wasm's frames.

// The stream worker (see `Page.openStream`); exported for its tests.
export const STREAM_WORKER = `onmessage = (m) => {
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

export class Page {
  constructor(deliver) {
    this.deliver = deliver;
    this.shown = 0;
    this.source = this.channel = this.lock = this.probing = null;
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

  begin(protocol, basePath, identity) {
    this.shown++;
    return navigator.locks && typeof BroadcastChannel === 'function'
      ? `leptos_query_tags/${protocol} ${location.origin}${basePath} ${identity}`
      : '';
  }

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

  // A report for the tab that was current when `shown` was read.
  send(shown, fields) {
    if (shown === this.shown) this.deliver(fields);
  }

  join(name) {
    const shown = this.shown;
    try {
      this.channel = new BroadcastChannel(name);
      this.channel.onmessage = (e) => {
        if (strings(e.data)) this.send(shown, ['message', ...e.data]);
      };
    } catch {
      this.channel = null;
    }
    this.requestLock(name, false);
  }

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
    let request;
    try {
      request = navigator.locks.request(name, options, () => {
        if (shown !== this.shown) return undefined;
        granted = true;
        const held = new Promise((release) => {
          if (this.lock) this.lock.release = release;
        });
        this.deliver(['granted']);
        return held;
      });
    } catch {
      return;
    }
    request
      .catch(() => {})
      .then(() => {
        if (shown !== this.shown) return;
        // Lost to a steal: queue again. Refused without a grant (an opaque origin, say): do not
        // retry in a loop.
        if (granted) this.deliver(['lost']);
        if (granted && !steal) this.requestLock(name, false);
      });
  }

  stealLock() {
    if (this.lock) this.requestLock(this.lock.name, true);
  }

  openStream(generation, url, from, identity) {
    this.closeStream();
    const shown = this.shown;
    const g = String(generation);
    const report = (name, data, id) =>
      this.send(shown, name === 'open' || name === 'error' ? [name, g] : ['sse', g, name, data, id]);
    let absolute = null;
    try {
      absolute = new URL(url, location.href).href;
    } catch {}
    const worker = from && this.channel && absolute ? streamWorker() : null;
    if (worker) {
      const close = () => {
        worker.onmessage = worker.onerror = null;
        worker.terminate();
      };
      worker.onmessage = (e) => report(...e.data);
      worker.onerror = () => {
        noWorker = true;
        report('error');
      };
      try {
        worker.postMessage([absolute, this.channel.name, from, identity]);
        this.source = { close };
        return;
      } catch {
        close();
      }
    }
    let source;
    try {
      source = new EventSource(url);
    } catch (error) {
      console.warn('leptos_query_tags: cannot open the event stream:', error);
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

  probe(generation, url) {
    this.probing?.abort();
    const abort = (this.probing = new AbortController());
    const shown = this.shown;
    fetch(url, { signal: abort.signal })
      .then(
        async (r) => [String(r.status), r.ok ? '' : await r.json().then((b) => b?.error, () => '')],
        () => ['', ''],
      )
      .then(([status, reason]) => {
        abort.abort();
        if (this.probing === abort) this.probing = null;
        this.send(shown, ['probe', String(generation), status, typeof reason === 'string' ? reason : '']);
      });
  }

  setTimer(kind, ms) {
    clearTimeout(this.timers[kind]);
    const shown = this.shown;
    this.timers[kind] = setTimeout(() => this.send(shown, [kind]), ms);
  }

  cancelTimer(kind) {
    clearTimeout(this.timers[kind]);
  }

  post(fields) {
    try {
      this.channel?.postMessage(fields);
    } catch {}
  }
}

// An event's data as strings for the wasm (see src/client/wire.rs), or null if unreadable:
// hello [epoch, cursor, identity?]; reset [cursor]; invalidate each segment ('s' + string,
// 'i' + integer, 't', 'f') with '' after each pattern. An integer keeps its source text where
// JSON.parse gives it; a number that is no integer, or whose digits are lost, has none ('').
class Int {
  constructor(text) {
    this.text = text;
  }
}
const number = (_, v, c) => {
  if (typeof v !== 'number') return v;
  // Without source text (before 2025) the digits are known for a safe integer only.
  if (!c) return new Int(Number.isSafeInteger(v) ? String(v) : '');
  return new Int(/^(0|-?[1-9]\d*)$/.test(c.source) ? c.source : '');
};
const int = (v) => (v instanceof Int ? v.text : null);
const segment = (s) =>
  typeof s === 'string' ? 's' + s : typeof s === 'boolean' ? (s ? 't' : 'f') : s instanceof Int ? 'i' + s.text : null;

export function decodeEvent(name, data) {
  try {
    const v = JSON.parse(data, number);
    let out = [v.cursor];
    if (name === 'hello') out = [int(v.epoch), v.cursor, ...(v.identity == null ? [] : [v.identity])];
    if (name === 'invalidate') {
      out = [];
      for (const tag of v.tags) {
        if (!Array.isArray(tag)) return null;
        out.push(...tag.map(segment), '');
      }
    }
    return out.every((f) => typeof f === 'string') ? out : null;
  } catch {
    return null;
  }
}

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

export function eventsSince(since) {
  if (!observer) return [];
  record(observer.takeRecords());
  return seen.filter(([at]) => at >= since).flatMap(([, ids]) => ids);
}

export function performanceNow() {
  return performance.now();
}

export function later(work) {
  if (globalThis.scheduler?.postTask) scheduler.postTask(work, { priority: 'background' });
  else setTimeout(work);
}

export function timeout(work, ms) {
  setTimeout(work, ms);
}
