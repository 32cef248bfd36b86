// leptos_query_tags client for frontends that are not Leptos: an ES module with no
// dependencies. It follows docs/protocol.md: one event stream, resumed with the last event id
// after any break (full-jitter backoff), the prefix rule for matching, `reset` when the hub
// cannot replay. A leptos_query_tags hub serves this file at `<base>/client.js`.
//
//   import { QueryTagsClient } from '/api/query-tags/client.js';
//   const live = new QueryTagsClient({
//     onInvalidate: ({ tags }) => refetchWhere((queryTags) => anyMatch(tags, queryTags)),
//     onReset: () => refetchEverything(),
//   });
//   live.start();
//
// With TanStack Query: `connectQueryClient(queryClient)`; queries declare
// `meta: { tags: [["todos", "list"]] }`.

/** Whether `pattern` (an array of segments) matches `tag`: it is a segment-wise prefix of it.
 * `3` and `"3"` are different segments. */
export function matches(pattern, tag) {
  return (
    Array.isArray(pattern) &&
    Array.isArray(tag) &&
    pattern.length <= tag.length &&
    pattern.every((segment, i) => segment === tag[i])
  );
}

/** Whether any of `patterns` matches any of `tags`. */
export function anyMatch(patterns, tags) {
  return patterns.some((pattern) => tags.some((tag) => matches(pattern, tag)));
}

/** Parses `<epoch>-<seq>`; `null` if it is not one. */
export function parseId(id) {
  const m = /^(\d{1,20})-(\d{1,20})$/.exec(id ?? '');
  return m ? { epoch: BigInt(m[1]), seq: BigInt(m[2]) } : null;
}

const FIRST_CEILING_MS = 1_000;
const MAX_CEILING_MS = 30_000;
const REFUSED_RETRY_MS = 60_000;

/**
 * One event stream to a leptos_query_tags hub.
 *
 * Options: `url` (default `/api/query-tags/events`), `cursor` (resume after this event id:
 * the cursor a server-rendered page was rendered at), `scopes` (narrow the stream to these),
 * `onInvalidate({ id, tags, scope })`, `onReset({ id, reason })`, `onState(state)`,
 * `EventSource` and `fetch` (defaults: the global ones; pass the npm `eventsource` package's
 * class in Node), `random` (for tests).
 *
 * `state` is `idle`, `connecting`, `open`, `reconnecting` (with `attempt` and `nextRetry`),
 * `failed` (the hub refused: `status` and `reason`; retried every 60 s) or `closed`.
 */
export class QueryTagsClient {
  constructor(options = {}) {
    this.url = options.url ?? '/api/query-tags/events';
    this.cursor = options.cursor ?? null;
    this.scopes = options.scopes ?? [];
    this.onInvalidate = options.onInvalidate ?? (() => {});
    this.onReset = options.onReset ?? (() => {});
    this.onState = options.onState ?? (() => {});
    this.EventSource = options.EventSource ?? globalThis.EventSource;
    this.fetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
    this.random = options.random ?? Math.random;
    this.state = { state: 'idle' };
    this.attempt = 0;
    this.source = null;
    this.timer = null;
    this.stopped = false;
    if (typeof this.EventSource !== 'function') {
      throw new TypeError('QueryTagsClient needs an EventSource (in Node: the npm "eventsource" package)');
    }
  }

  /** Opens the stream. */
  start() {
    this.stopped = false;
    this.open();
    return this;
  }

  /** Closes the stream for good. */
  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.source?.close();
    this.source = null;
    this.setState({ state: 'closed' });
  }

  /** The stream URL for the current cursor and scopes. */
  streamUrl() {
    const base = new URL(this.url, globalThis.location?.href ?? 'http://localhost/');
    if (this.cursor) base.searchParams.set('cursor', this.cursor);
    for (const scope of this.scopes) base.searchParams.append('scope', scope);
    // Relative when given relative, so a page's origin and cookies apply.
    return /^https?:/.test(this.url) ? base.href : base.pathname + base.search;
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }

  open() {
    if (this.stopped) return;
    this.setState({ state: this.attempt === 0 ? 'connecting' : 'reconnecting', attempt: this.attempt });
    const url = this.streamUrl();
    const source = new this.EventSource(url, { withCredentials: true });
    this.source = source;
    let hello = false;
    source.addEventListener('hello', (event) => {
      hello = true;
      this.attempt = 0;
      const data = safeJson(event.data);
      // A stream without a cursor starts at the hub's head: remember it, so a reconnect
      // replays what was published in between.
      if (!this.cursor && data?.cursor) this.cursor = data.cursor;
      this.setState({ state: 'open', epoch: data?.epoch, identity: data?.identity });
    });
    source.addEventListener('invalidate', (event) => {
      const data = safeJson(event.data);
      if (!data || !Array.isArray(data.tags) || !this.advance(event.lastEventId)) return;
      this.onInvalidate({ id: event.lastEventId, tags: data.tags, scope: data.scope ?? 'global' });
    });
    source.addEventListener('reset', (event) => {
      const data = safeJson(event.data);
      this.cursor = event.lastEventId || data?.cursor || this.cursor;
      this.onReset({ id: this.cursor, reason: data?.reason ?? 'unknown' });
    });
    source.addEventListener('error', () => {
      if (this.source !== source) return;
      source.close();
      this.source = null;
      if (hello) this.retry();
      else this.diagnose(url);
    });
  }

  /** Keeps `id` as the cursor if it is the next one; `false` for an old or malformed id. */
  advance(id) {
    const next = parseId(id);
    if (!next) return false;
    const last = parseId(this.cursor);
    if (last && last.epoch === next.epoch && next.seq <= last.seq) return false; // seen
    this.cursor = id;
    return true;
  }

  /** The stream failed before `hello`: a plain request reads why (EventSource cannot). */
  async diagnose(url) {
    let status = 0;
    let reason = '';
    try {
      const response = await this.fetch(url, { credentials: 'include', headers: { accept: 'text/event-stream' } });
      status = response.status;
      if (!response.ok) reason = safeJson(await response.text())?.error ?? '';
      await response.body?.cancel?.();
    } catch {
      // unreachable: reconnect as usual
    }
    if (this.stopped) return;
    if (status >= 400 && status < 500 && status !== 429) {
      this.setState({ state: 'failed', status, reason });
      this.timer = setTimeout(() => this.open(), REFUSED_RETRY_MS);
    } else {
      this.retry();
    }
  }

  /** Reopens after a full-jitter backoff: a random delay below 1 s, 2 s, 4 s … 30 s. */
  retry() {
    if (this.stopped) return;
    this.attempt += 1;
    const ceiling = Math.min(MAX_CEILING_MS, FIRST_CEILING_MS * 2 ** (this.attempt - 1));
    const delay = Math.floor(this.random() * ceiling);
    this.setState({ state: 'reconnecting', attempt: this.attempt, nextRetry: Date.now() + delay });
    this.timer = setTimeout(() => this.open(), delay);
  }
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** The tags a TanStack Query query declares in `meta.tags` (an array of tags). */
export function queryTags(query) {
  const tags = query?.meta?.tags ?? query?.options?.meta?.tags;
  return Array.isArray(tags) ? tags.filter(Array.isArray) : [];
}

/**
 * Connects a TanStack Query `QueryClient` to the hub: an event invalidates exactly the queries
 * whose `meta.tags` it matches (active ones refetch, as TanStack does); a `reset` invalidates
 * every query. Returns the started `QueryTagsClient` (`close()` it to stop).
 */
export function connectQueryClient(queryClient, options = {}) {
  const live = new QueryTagsClient({
    ...options,
    onInvalidate: (event) => {
      queryClient.invalidateQueries({ predicate: (query) => anyMatch(event.tags, queryTags(query)) });
      options.onInvalidate?.(event);
    },
    onReset: (event) => {
      queryClient.invalidateQueries();
      options.onReset?.(event);
    },
  });
  return live.start();
}
