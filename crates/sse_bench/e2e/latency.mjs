// End-to-end latency of a change between two tabs: the Leptos demo (this repository) against a
// React peer (React 19 + TanStack Query 5 + express 5 + better-sse, in ../peer-react).
//
// Usage (from the repository root):
//
//   node crates/sse_bench/e2e/latency.mjs [--n 200] [--warmup 10] [--block 20] [--only leptos|react]
//                                          [--leader a|b] [--profile] [--trace FILE]
//   node crates/sse_bench/e2e/latency.mjs --tabs 8 [--mutations 20] [--only leptos|react]
//
// Needs: the demo built by `cargo leptos build --release` (`target/release/query_tags_demo` and
// `target/site`), Playwright installed in `end2end/` (`cd end2end && npm ci`), Debian's
// `/usr/bin/chromium`, and the peer's packages (`cd crates/sse_bench/peer-react && npm ci`). The
// peer's bundle is built (`npm run build`) if it is missing or older than `client.jsx`.
//
// Latency mode (the default). One Chromium, one browser context (one profile, like a person with
// two tabs), tabs A and B on the same page. Tab A adds a todo through the page's form; the
// latency of one change is
//
//   start: the start of A's mutation request, from the Resource Timing API in A
//          (`performance.getEntriesByType('resource')`: `performance.timeOrigin + startTime`)
//   end:   the moment B's DOM holds the new row, taken by a MutationObserver in B
//          (`performance.timeOrigin + performance.now()` when a `li.todo` with the new title,
//          and without the class `provisional`, is first in the document)
//
// Both are absolute times on the machine's clock, so they compare across tabs. Playwright's
// click is not timed: it only triggers the change. After a warm-up, --n changes are measured
// one at a time (the next starts once both tabs are idle) and the script prints p50, p99, mean,
// min and max. It also splits every change into four steps, whose medians it prints:
//
//   1. A's request:        A's mutation request, start to response end (Resource Timing in A)
//   2. event to refetch:   A's response end to the start of B's refetch of the list (Resource
//                          Timing in B). Negative when the event reached B before A's response
//                          ended (the server publishes before it answers).
//   3. B's refetch:        B's list request, start to response end
//   4. refetch end to DOM: B's response end to the new row in B's DOM: reading the body,
//                          deserializing, the reactive scheduling and the render
//
// (Each step's median is printed; the medians need not add up to the total's median.)
//
// --leader a|b: which tab opens first (default a). The demo's first tab becomes the leader: it
// holds the profile's one event stream and relays each event to the other tabs over a
// BroadcastChannel, so with `--leader a` B's events come through A, and with `--leader b` B
// reads them from its own stream. (The peer has a stream per tab: the option changes nothing
// there but the order.)
//
// Tab A, where the clicks happen, is brought to the front before the warm-up, as it is for a
// person clicking in it. That matters: after an input event Chromium's renderer scheduler holds
// back other tasks, network responses and stream events included, until the page renders its
// next frame (the DeferRendererTasksAfterInput feature). A tab that is not in front renders no
// frames, so a click there delayed A's own responses by 25-50 ms until the scheduler's timeout;
// with `--disable-features=DeferRendererTasksAfterInput` the delay was gone.
//
// Tabs mode (--tabs T). T tabs of one context on the same page; --mutations M changes made in
// tab 1, each awaited in every live tab. It reports
//   (a) how many requests for the todo list each tab made per change (the refetches), and
//   (b) how many event streams are open, counted in the browser (Playwright's `request` events
//       for the stream's URL minus its `requestfinished`/`requestfailed` events), by the peer
//       itself (`GET /api/stats`: better-sse's session count; the demo has no such endpoint),
//       and as established TCP connections to the server's port (`ss`), as a cross-check.
// Tab 1, where the clicks happen, is brought to the front as A is above. Over HTTP/1.1 Chromium keeps at most 6
// connections per host and profile, and a stream holds one: a page with a stream of its own in
// each tab leaves the 7th tab unable to load and tab 1's requests waiting. A tab that does not
// load within 5 s is reported, and a change that does not go through ends the mode (STALLED).
//
// The URLs of the mutation and of the list query are not hard-coded: the first warm-up change
// finds them (A's first request after the click, and B's first request after it). The demo's
// server functions are `POST /api/add_todo…` and `GET /api/list_todos…`; the peer's are
// `POST /api/todos` and `GET /api/todos`.
//
// Each system has its own server (a free loopback port, an empty todo list) and its own
// browser. In latency mode both are up for the whole run and the systems take turns, --block
// changes at a time (only one works at any moment): a change in the machine's load during the
// run weighs on both alike, so "faster in the same run" means something. (Before, each system
// ran its n changes in turn, and two runs of the same build differed by up to 6 ms at p50.)
// The servers are stopped (by their process id) at the end, also on error. The
// demo runs from a copy of its binary and site taken at start (their sizes, times and hashes
// are printed), so a rebuild during the run does not change what is measured.
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..', '..');
const peerDir = resolve(here, '..', 'peer-react');

// The Playwright of the browser tests (end2end/node_modules): no second install.
const { chromium } = createRequire(join(root, 'end2end', 'package.json'))('playwright');

const { values: opts } = parseArgs({
  options: {
    n: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '10' },
    only: { type: 'string' },
    tabs: { type: 'string', default: '0' },
    mutations: { type: 'string', default: '20' },
    leader: { type: 'string', default: 'a' },
    profile: { type: 'boolean', default: false },
    trace: { type: 'string' },
    block: { type: 'string', default: '20' },
  },
});
const N = positive('n', opts.n);
const WARMUP = Math.max(1, positive('warmup', opts.warmup, true)); // >= 1: the first finds URLs
const TABS = positive('tabs', opts.tabs, true);
const MUTATIONS = positive('mutations', opts.mutations);
const BLOCK = positive('block', opts.block);
if (opts.trace && !opts.only) fail('--trace needs --only leptos|react');
if (TABS === 1) fail('--tabs needs at least 2 tabs');
if (opts.only && !['leptos', 'react'].includes(opts.only)) fail('--only is leptos or react');
const LEADER = opts.leader.toLowerCase();
if (!['a', 'b'].includes(LEADER)) fail('--leader is a or b');

/** How long one change may take to show in a tab before the run gives up on it. */
const CHANGE_TIMEOUT_MS = 10_000;
/** How long a tab may take to load, hydrate and open its event stream. */
const OPEN_TIMEOUT_MS = 15_000;
/** Both tabs must have no request in flight for this long before the next change. */
const IDLE_MS = 30;

function positive(name, text, zeroOk = false) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < (zeroOk ? 0 : 1)) fail(`--${name} must be an integer >= ${zeroOk ? 0 : 1}`);
  return value;
}

function fail(message) {
  console.error(`latency.mjs: ${message}`);
  process.exit(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Servers

function freePort() {
  return new Promise((ok, err) => {
    const server = createServer();
    server.unref();
    server.on('error', err);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

async function waitUntilServing(url, child, deadlineMs = 30_000) {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited early with code ${child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`server did not answer at ${url} within ${deadlineMs} ms`);
}

/** Stops a child server by its process id: SIGTERM, then SIGKILL after 5 s. */
async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** The demo's release server on a fresh database, started as end2end/support/global-setup.mjs
 * does (without Redis: one instance). It runs from a copy of the binary and the site taken at
 * start, so that a rebuild during the run cannot swap them (or pair a new site with the old
 * binary) under the measurement. */
async function startLeptos() {
  const bin = join(root, 'target', 'release', 'query_tags_demo');
  const site = join(root, 'target', 'site');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`cargo leptos build --release\``);
  const dataDir = mkdtempSync(join(tmpdir(), 'latency-bench-'));
  cpSync(bin, join(dataDir, 'query_tags_demo'), { preserveTimestamps: true });
  cpSync(site, join(dataDir, 'site'), { recursive: true, preserveTimestamps: true });
  console.log(`  build: ${describeFile(bin)}`);
  console.log(`         ${describeFile(join(site, 'pkg', 'query_tags_demo.wasm'))}`);
  const port = await freePort();
  const child = spawn(join(dataDir, 'query_tags_demo'), [], {
    // The repository root, like the browser tests: the server reads Leptos.toml there.
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: join(dataDir, 'site'),
      LEPTOS_OUTPUT_NAME: 'query_tags_demo',
      LEPTOS_ENV: 'PROD',
      DEMO_DATABASE_PATH: join(dataDir, 'todos.sqlite3'),
      RUST_LOG: process.env.RUST_LOG || 'warn',
    },
  });
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopChild(child);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitUntilServing(base + '/', child);
  } catch (e) {
    await stop();
    throw e;
  }
  return { base, port, pid: child.pid, stop };
}

/** A file's path relative to the repository, size, modification time and hash prefix: which
 * build was measured. */
function describeFile(path) {
  const { size, mtime } = statSync(path);
  const sha = createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 12);
  return `${relative(root, path)} ${size} bytes, ${mtime.toISOString()}, sha256 ${sha}`;
}

/** Every process now, from `/proc/<pid>/stat` (Linux): pid, parent, command and CPU time
 * (user + system, ms). Processes that end while it reads are left out. */
function processes() {
  const ticks = 100; // USER_HZ on Linux
  const list = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // The command sits in parentheses and may hold spaces: fields count from after it.
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    list.push({
      pid: Number(entry),
      ppid: Number(fields[1]),
      comm: stat.slice(stat.indexOf('(') + 1, close),
      cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / ticks,
    });
  }
  return list;
}

/** `pid` and every process below it, with the CPU time (ms) each used so far. Processes that
 * ended are not there: read it around work whose processes live through it (a browser's
 * renderers, a server). */
function processTree(pid) {
  const all = processes();
  const children = new Map();
  const byPid = new Map();
  for (const p of all) {
    byPid.set(p.pid, p);
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(p.pid);
  }
  const tree = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    if (byPid.has(p)) tree.push(byPid.get(p));
    stack.push(...(children.get(p) || []));
  }
  return tree;
}

/** CPU time (ms) used so far by `pid` and every process below it (see [`processTree`]). */
function treeCpuMs(pid) {
  return processTree(pid).reduce((total, p) => total + p.cpuMs, 0);
}

/** What a Chromium process does, from its command line: `renderer` (the tabs, and their
 * workers), `gpu`, `network`, `browser` (the main process), or `other` (zygotes, utilities). */
function processKind(pid) {
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return 'other';
  }
  if (!cmdline.includes('--type=')) return 'browser';
  if (cmdline.includes('--type=renderer')) return 'renderer';
  if (cmdline.includes('--type=gpu-process')) return 'gpu';
  if (cmdline.includes('network.mojom.NetworkService')) return 'network';
  return 'other';
}

/** CPU time (ms) used so far by `pid` and every process below it, by [`processKind`]. */
function treeCpuByKind(pid) {
  const kinds = {};
  for (const p of processTree(pid)) {
    const kind = processKind(p.pid);
    kinds[kind] = (kinds[kind] || 0) + p.cpuMs;
  }
  return kinds;
}

/** This script's child processes now that run Chromium (to find the browser Playwright
 * starts). */
function chromiumChildren() {
  return new Set(
    processes()
      .filter((p) => p.ppid === process.pid && p.comm.startsWith('chrom'))
      .map((p) => p.pid),
  );
}

/** The React peer (building its bundle first if it is missing). */
async function startReact() {
  if (!existsSync(join(peerDir, 'node_modules'))) {
    throw new Error(`${peerDir}/node_modules is missing: run \`npm ci\` there`);
  }
  const bundle = join(peerDir, 'dist', 'app.js');
  if (!existsSync(bundle) || statSync(bundle).mtimeMs < statSync(join(peerDir, 'client.jsx')).mtimeMs) {
    console.log('building the React peer (npm run build)…');
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: peerDir, stdio: 'inherit' });
  }
  const port = await freePort();
  const child = spawn(process.execPath, ['server.mjs'], {
    cwd: peerDir,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, BENCH_ADDR: `127.0.0.1:${port}` },
  });
  const base = `http://127.0.0.1:${port}`;
  const stop = () => stopChild(child);
  try {
    await waitUntilServing(base + '/', child);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    base,
    port,
    pid: child.pid,
    stop,
    sessions: async () => (await (await fetch(base + '/api/stats')).json()).sessions,
  };
}

const SYSTEMS = {
  leptos: { label: 'leptos (demo)', start: startLeptos, streamPath: '/api/query-tags/events' },
  react: { label: 'react (peer)', start: startReact, streamPath: '/api/events' },
};

// ---------------------------------------------------------------------------------------------
// Tabs

/**
 * Follows one tab's requests from the Node side (Playwright's request events): which requests
 * it started since the last `reset()`, which are still in flight (event streams aside), and how
 * many event streams it holds open.
 */
class Tab {
  constructor(page, name, streamPath) {
    this.page = page;
    this.name = name;
    this.started = [];
    this.inFlight = new Set();
    this.openStreams = 0;
    this.lastActivity = Date.now();
    const isStream = (request) => new URL(request.url()).pathname === streamPath;
    page.on('request', (request) => {
      this.lastActivity = Date.now();
      if (isStream(request)) {
        this.openStreams += 1;
        return;
      }
      this.started.push({ method: request.method(), url: request.url() });
      this.inFlight.add(request);
    });
    const done = (request) => {
      this.lastActivity = Date.now();
      if (isStream(request)) this.openStreams -= 1;
      else this.inFlight.delete(request);
    };
    page.on('requestfinished', done);
    page.on('requestfailed', done);
  }

  reset() {
    this.started = [];
  }

  /** How many requests started since the last reset match `key` ("METHOD url"). */
  count(key) {
    return this.started.filter((r) => `${r.method} ${r.url}` === key).length;
  }

  /** Loads the page and waits until it is hydrated and its event stream is open. */
  async open(url, timeout = OPEN_TIMEOUT_MS) {
    // When each response body reached the page's code: the promise of `text()`, `json()` or
    // `arrayBuffer()` resolving (both systems read bodies through one of them). Splits step 4.
    await this.page.addInitScript(() => {
      window.__bodies = [];
      for (const method of ['text', 'json', 'arrayBuffer']) {
        const original = Response.prototype[method];
        Response.prototype[method] = function (...args) {
          const url = this.url;
          return original.apply(this, args).then((value) => {
            window.__bodies.push({ url, at: performance.timeOrigin + performance.now() });
            return value;
          });
        };
      }
    });
    await this.page.goto(url, { timeout });
    await this.page.locator('.app[data-hydrated=true]').waitFor({ timeout });
    await this.page.locator('.live[data-state=open]').waitFor({ timeout });
    // Resource Timing keeps 250 entries by default; the script clears it after each change.
    await this.page.evaluate(() => performance.setResourceTimingBufferSize(10_000));
  }

  /**
   * Installs the observer that timestamps a row's arrival: `window.__expectRow(title)` returns
   * a promise of `{ at, rows }`, `at` being the absolute time at which a non-provisional row
   * with that title was first in the DOM, `rows` the number of rows then.
   */
  async watchRows() {
    await this.page.evaluate(() => {
      let wanted = null;
      new MutationObserver(() => {
        // The time first: the search below must not count.
        const at = performance.timeOrigin + performance.now();
        if (!wanted) return;
        const rows = document.querySelectorAll('li.todo');
        // New rows are appended (the list is oldest first): search from the end.
        for (let i = rows.length - 1; i >= 0; i--) {
          const row = rows[i];
          if (!row.classList.contains('provisional') && row.querySelector('.title')?.textContent === wanted.title) {
            wanted.resolve({ at, rows: rows.length });
            wanted = null;
            return;
          }
        }
        // Attributes too: a provisional row may turn into the real one in place (in tab A).
      }).observe(document.body, { childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ['class'] });
      window.__expectRow = (title) => new Promise((resolve) => (wanted = { title, resolve }));
    });
  }

  /** Starts waiting for the row (call before the change), returns a function awaiting it. */
  async expectRow(title) {
    await this.page.evaluate((t) => {
      window.__rowSeen = window.__expectRow(t);
    }, title);
    return () => withTimeout(this.page.evaluate(() => window.__rowSeen), CHANGE_TIMEOUT_MS, `${this.name}: row`);
  }

  /** Adds a todo through the page's form (Playwright only triggers it: nothing here is timed). */
  async addTodo(title) {
    await this.page.getByLabel('New todo').fill(title);
    const add = this.page.getByRole('button', { name: 'Add' });
    if (!(await add.isEnabled())) throw new Error(`${this.name}: the Add button is disabled`);
    // `force` skips Playwright's "stable" check, which waits for animation frames: in a tab that
    // is not in front Chromium renders about one frame a second, and the check took ~1.7 s. The
    // click itself is the same real mouse click.
    await add.click({ force: true });
  }

  /** `performance.now()` in the tab, as an absolute time. */
  now() {
    return this.page.evaluate(() => performance.timeOrigin + performance.now());
  }

  /** The first Resource Timing entry for `url` that started at or after `since` (absolute),
   * as absolute times; null if there is none. */
  entry(url, since) {
    return this.page.evaluate(
      ({ url, since }) => {
        const origin = performance.timeOrigin;
        const e = performance
          .getEntriesByType('resource')
          .find((e) => e.name === url && origin + e.startTime >= since);
        return e ? { start: origin + e.startTime, end: origin + e.responseEnd } : null;
      },
      { url, since },
    );
  }

  /** Whether this tab holds the event stream (the demo's badge says so in `data-leader`;
   * null for a page without the attribute, like the peer's, where every tab holds its own). */
  async leader() {
    const value = await this.page.locator('.live').getAttribute('data-leader');
    return value === null ? null : value === 'true';
  }

  /** When the body of the first response for `url` read at or after `since` (absolute)
   * reached the page's code (absolute); null if none was read. */
  body(url, since) {
    return this.page.evaluate(
      ({ url, since }) => window.__bodies.find((b) => b.url === url && b.at >= since)?.at ?? null,
      { url, since },
    );
  }

  clearTimings() {
    return this.page.evaluate(() => {
      performance.clearResourceTimings();
      window.__bodies.length = 0;
    });
  }
}

/** Which tabs hold an event stream, by the page's own account and by the browser's. */
async function streamHolders(tabs) {
  const leaders = await Promise.all(tabs.map((t) => t.leader()));
  const byPage = leaders.every((l) => l === null)
    ? 'no leader (no data-leader attribute)'
    : `leader ${tabs.filter((t, i) => leaders[i]).map((t) => t.name).join(', ') || 'none'} (data-leader)`;
  const byBrowser = tabs.filter((t) => t.openStreams > 0).map((t) => t.name).join(', ') || 'none';
  return `${byPage}; stream requests open in ${byBrowser}`;
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Waits until no tab has a request in flight (event streams aside) for IDLE_MS. */
async function settle(tabs) {
  const deadline = Date.now() + CHANGE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const busy = tabs.some((t) => t.inFlight.size > 0);
    const quietFor = Date.now() - Math.max(...tabs.map((t) => t.lastActivity));
    if (!busy && quietFor >= IDLE_MS) return;
    await sleep(5);
  }
  throw new Error(`requests still in flight after ${CHANGE_TIMEOUT_MS} ms`);
}

let titles = 0;
const uniqueTitle = (system) => `bench ${system} ${++titles} ${Math.random().toString(36).slice(2, 8)}`;

/**
 * One change made in `writer` and awaited in every tab of `readers` (and the writer itself).
 * Returns the new title, the writer's clock just before the click (absolute) and each reader's
 * `{ at, rows }`; leaves the tabs idle and their request logs covering only this change.
 */
async function change(system, writer, readers) {
  const title = uniqueTitle(system);
  for (const tab of [writer, ...readers]) tab.reset();
  const waits = await Promise.all(readers.map((tab) => tab.expectRow(title)));
  const writerSees = await writer.expectRow(title);
  const since = await writer.now();
  await writer.addTodo(title);
  const seen = await Promise.all(waits.map((wait) => wait()));
  await writerSees();
  await settle([writer, ...readers]);
  return { title, since, seen };
}

/** Finds the mutation's and the list query's requests from one change: the writer's first
 * request after the click, and the first reader's first request. */
async function discover(system, writer, readers) {
  await change(system, writer, readers);
  const mutation = writer.started[0];
  const list = readers[0].started[0];
  if (!mutation || !list) throw new Error(`${system}: cannot tell the mutation and list requests apart`);
  return {
    mutationUrl: mutation.url,
    mutationKey: `${mutation.method} ${mutation.url}`,
    listUrl: list.url,
    listKey: `${list.method} ${list.url}`,
  };
}

/** Starts V8's CPU profiler in `page` (sampling every 100 us); `stop()` returns the profile. */
async function startProfile(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
  await cdp.send('Profiler.start');
  return { stop: async () => (await cdp.send('Profiler.stop')).profile };
}

/** Self time by function (ms per change), the 25 largest, idle left out. */
function printProfile(name, profile, changes) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id).callFrame;
    const key = `${frame.functionName || '(anonymous)'} ${frame.url ? frame.url.split('/').pop() : ''}`.trim();
    self.set(key, (self.get(key) || 0) + (profile.timeDeltas[i] || 0) / 1000);
  });
  const rows = [...self.entries()].filter(([k]) => k !== '(idle)').sort((x, y) => y[1] - x[1]);
  const busy = rows.reduce((sum, [, ms]) => sum + ms, 0);
  console.log(`\nCPU profile of ${name}: ${(busy / changes).toFixed(2)} ms busy per change; self time per change:`);
  for (const [key, ms] of rows.slice(0, 25)) console.log(`  ${(ms / changes).toFixed(3).padStart(8)} ms  ${key.slice(0, 110)}`);
}

async function newBrowser() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', ...(process.env.CHROMIUM_EXTRA_ARGS || '').split(' ').filter(Boolean)] });
}

// ---------------------------------------------------------------------------------------------
// Latency mode

/** Opens tabs A and B of `system` on `server` in a browser of their own, finds the mutation's
 * and the list's URLs and warms up. Returns the session `measure` continues. */
async function openLatency(system, server) {
  const before = chromiumChildren();
  const browser = await newBrowser();
  const started = [...chromiumChildren()].filter((pid) => !before.has(pid));
  if (started.length !== 1) {
    await browser.close();
    throw new Error(`cannot tell the browser's process (new Chromium children: ${started.join(' ') || 'none'})`);
  }
  const browserPid = started[0];
  try {
    const context = await browser.newContext();
    const { streamPath } = SYSTEMS[system];
    // The tabs open one after the other: the demo's first tab becomes the leader (--leader).
    const tabs = {};
    for (const name of LEADER === 'a' ? ['A', 'B'] : ['B', 'A']) {
      const tab = new Tab(await context.newPage(), name, streamPath);
      await tab.open(server.base + '/');
      await tab.watchRows();
      tabs[name] = tab;
    }
    const { A: a, B: b } = tabs;
    // A, where the clicks happen, in front (see the top of the file). Coming to the front may
    // fire focus events that refetch stale queries: the warm-up absorbs them.
    await a.page.bringToFront();
    const urls = await discover(system, a, [b]);
    console.log(`\n${SYSTEMS[system].label}:`);
    console.log(`  mutation request: ${urls.mutationKey}`);
    console.log(`  list request:     ${urls.listKey}`);
    const visibility = await Promise.all([a, b].map((t) => t.page.evaluate(() => document.visibilityState)));
    console.log(`  tabs' visibility: A ${visibility[0]}, B ${visibility[1]}`);
    console.log(`  opened first: ${LEADER.toUpperCase()}; in front: A`);
    console.log(`  event streams: ${await streamHolders([a, b])}`);
    for (let i = 1; i < WARMUP; i++) await change(system, a, [b]);
    return { system, browser, browserPid, serverPid: server.pid, context, a, b, urls, samples: [], cpu: { browser: 0, server: 0, kinds: {} } };
  } catch (e) {
    await browser.close();
    throw e;
  }
}

/** Measures `n` more changes of `session` (appended to `session.samples`). */
async function measure(session, n) {
  const { system, a, b, urls, samples } = session;
  const cpuBefore = { browser: treeCpuMs(session.browserPid), server: treeCpuMs(session.serverPid) };
  const kindsBefore = treeCpuByKind(session.browserPid);
  for (let i = 0; i < n; i++) {
    await a.clearTimings();
    await b.clearTimings();
    const { since, seen } = await change(system, a, [b]);
    const request = await a.entry(urls.mutationUrl, since);
    if (!request) throw new Error(`${system}: no Resource Timing entry for A's mutation`);
    const refetch = await b.entry(urls.listUrl, request.start);
    if (!refetch) throw new Error(`${system}: no Resource Timing entry for B's refetch`);
    const { at, rows } = seen[0];
    const body = await b.body(urls.listUrl, refetch.start);
    // A's own refetch of the list after its write: how much earlier A holds the data B waits
    // for (what taking it from A over the channel, instead of fetching it, could gain).
    // (Not where the write and the list share a URL, as the peer's `POST`/`GET /api/todos`
    // do: Resource Timing and the body hook do not know the method, so A's own write would
    // be taken for its refetch.)
    const sameUrl = urls.listUrl === urls.mutationUrl;
    const own = sameUrl ? null : await a.entry(urls.listUrl, request.start);
    const ownBody = own ? await a.body(urls.listUrl, own.start) : null;
    samples.push({
      total: at - request.start,
      request: request.end - request.start,
      eventToRefetch: refetch.start - request.end,
      refetch: refetch.end - refetch.start,
      render: at - refetch.end,
      bodyRead: body === null ? NaN : body - refetch.end,
      bodyToDom: body === null ? NaN : at - body,
      ownBodyLead: body === null || ownBody === null ? NaN : body - ownBody,
      moments: { start: refetch.start, responseEnd: refetch.end, body, dom: at },
      rows,
    });
  }
  session.cpu.browser += treeCpuMs(session.browserPid) - cpuBefore.browser;
  for (const [kind, ms] of Object.entries(treeCpuByKind(session.browserPid))) {
    session.cpu.kinds[kind] = (session.cpu.kinds[kind] || 0) + ms - (kindsBefore[kind] || 0);
  }
  session.cpu.server += treeCpuMs(session.serverPid) - cpuBefore.server;
}

/**
 * Latency mode: every system's server and browser are up at once, and the systems take turns
 * in blocks of --block changes (only one system works at a time), so a change in the machine's
 * load during the run weighs on all of them alike.
 */
async function measureLatency(servers) {
  const sessions = [];
  try {
    for (const [system, server] of servers) sessions.push(await openLatency(system, server));
    // --profile: a CPU profile of both tabs over the measured changes (V8's sampling profiler;
    // wasm functions show by name where the build keeps them).
    const profilers = new Map();
    if (opts.profile) {
      for (const s of sessions) profilers.set(s, await Promise.all([s.a, s.b].map((t) => startProfile(s.context, t.page))));
    }
    // --trace FILE (one system, --only): a Chrome trace of tab B over the measured changes
    // (FILE.json), and each change's moments in B's trace clock (FILE.changes.json: start and
    // end of B's refetch, body read, DOM).
    let traceSync = null;
    if (opts.trace) {
      const { browser, b } = sessions[0];
      await browser.startTracing(b.page, {
        path: `${opts.trace}.json`,
        categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8.execute', 'blink.user_timing', 'loading', 'toplevel', 'scheduler', 'blink', 'navigation'],
      });
      traceSync = await b.page.evaluate(() => ({ origin: performance.timeOrigin, mark: performance.mark('latency-sync').startTime }));
    }
    for (let done = 0; done < N; ) {
      const n = Math.min(BLOCK, N - done);
      for (const s of sessions) await measure(s, n);
      done += n;
      if (Math.floor(done / 50) > Math.floor((done - n) / 50)) console.log(`  ${done}/${N} changes per system`);
    }
    if (opts.trace) {
      await sessions[0].browser.stopTracing();
      const changes = sessions[0].samples.map((x) => x.moments);
      writeFileSync(`${opts.trace}.changes.json`, JSON.stringify({ sync: traceSync, changes }));
      console.log(`  trace of B: ${opts.trace}.json, changes: ${opts.trace}.changes.json`);
    }
    for (const [s, tabs] of profilers) {
      for (const [i, profiler] of tabs.entries()) printProfile(`${SYSTEMS[s.system].label}, tab ${i ? 'B' : 'A'}`, await profiler.stop(), N);
    }
    return sessions.map((s) => ({ system: s.system, samples: s.samples, cpu: s.cpu }));
  } finally {
    for (const s of sessions) await s.browser.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Tabs mode

/** Established TCP connections to the server's port (both directions show up: count the
 * server's side only). */
function tcpConnections(port) {
  try {
    const out = execFileSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
    return out.split('\n').filter((l) => l.trim()).length;
  } catch {
    return NaN;
  }
}

async function measureTabs(system, server) {
  const browser = await newBrowser();
  try {
    const context = await browser.newContext();
    const { streamPath } = SYSTEMS[system];
    const tabs = [];
    const live = [];
    for (let i = 1; i <= TABS; i++) {
      const tab = new Tab(await context.newPage(), `tab ${i}`, streamPath);
      tabs.push(tab);
      try {
        await tab.open(server.base + '/', 5_000);
        await tab.watchRows();
        live.push(tab);
        console.log(`  ${tab.name}: open`);
      } catch (e) {
        console.log(`  ${tab.name}: NOT open after 5 s (${e.message.split('\n')[0]})`);
      }
    }
    // Tab 1, where the clicks happen, in front (see the top of the file).
    if (live[0]) await live[0].page.bringToFront();
    await sleep(500);
    console.log(`  event streams: ${await streamHolders(live)}`);
    const streams = {
      browser: tabs.reduce((n, t) => n + t.openStreams, 0),
      perTab: tabs.map((t) => t.openStreams),
      server: server.sessions ? await server.sessions() : null,
      tcp: tcpConnections(server.port),
    };
    const [writer, ...readers] = live;
    if (!writer || readers.length === 0) return { tabs: tabs.length, live: live.length, streams, perTab: null };

    const result = { tabs: tabs.length, live: live.length, streams, perTab: null };
    // A change that does not go through (a request that never leaves the browser, say) ends
    // the measurement: the next ones would wait behind it.
    const stalled = (e) => {
      const pending = [...writer.inFlight].map((r) => `${r.method()} ${new URL(r.url()).pathname}`);
      result.stalled = `${e.message}; ${writer.name}'s requests in flight: ${pending.join(', ') || 'none'}`;
      return result;
    };
    let urls;
    try {
      urls = await discover(system, writer, readers);
    } catch (e) {
      return stalled(e);
    }
    const counts = live.map(() => 0);
    let done = 0;
    for (; done < MUTATIONS; done++) {
      try {
        await change(system, writer, readers);
      } catch (e) {
        stalled(e);
        break;
      }
      live.forEach((tab, i) => (counts[i] += tab.count(urls.listKey)));
    }
    result.listKey = urls.listKey;
    result.done = done;
    if (done > 0) result.perTab = live.map((tab, i) => ({ name: tab.name, perChange: counts[i] / done }));
    return result;
  } finally {
    await browser.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics and output

/** Nearest-rank percentile of sorted values. */
function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function summarize(values) {
  const sorted = [...values].sort((x, y) => x - y);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: sorted.reduce((s, v) => s + v, 0) / sorted.length,
    min: sorted[0],
    max: sorted[sorted.length - 1],
  };
}

const ms = (v) => (Number.isFinite(v) ? v.toFixed(2) : '-');

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

function printLatency(results) {
  console.log(`\nLatency: start of A's mutation request -> new row in B's DOM (ms; p99 nearest rank)`);
  table(
    ['system', 'n', 'p50', 'p99', 'mean', 'min', 'max'],
    results.map(({ system, samples }) => {
      const s = summarize(samples.map((x) => x.total));
      return [SYSTEMS[system].label, s.n, ms(s.p50), ms(s.p99), ms(s.mean), ms(s.min), ms(s.max)];
    }),
  );
  console.log(`\nBreakdown (median of each step, ms)`);
  table(
    ['system', "1 A's request", '2 event->B refetch', "3 B's refetch", '4 refetch end->DOM', 'rows in B (first-last)'],
    results.map(({ system, samples }) => {
      const med = (k) => ms(summarize(samples.map((x) => x[k])).p50);
      const rows = `${samples[0].rows}-${samples[samples.length - 1].rows}`;
      return [SYSTEMS[system].label, med('request'), med('eventToRefetch'), med('refetch'), med('render'), rows];
    }),
  );
  // What the machine spent: the two cores are shared by both tabs, the browser's other
  // processes and the server, so every millisecond of CPU here can delay B.
  console.log(`\nCPU per change (ms, from /proc; includes Playwright's own work in the pages)`);
  table(
    ['system', 'browser (all processes)', 'server'],
    results.map(({ system, samples, cpu }) => [
      SYSTEMS[system].label,
      cpu ? ms(cpu.browser / samples.length) : '-',
      cpu ? ms(cpu.server / samples.length) : '-',
    ]),
  );
  // Which of the browser's processes spend it (the tabs' renderers include their workers and
  // Playwright's scripts in the pages).
  console.log(`\nBrowser CPU per change by process (ms)`);
  const kinds = ['renderer', 'gpu', 'network', 'browser', 'other'];
  table(
    ['system', ...kinds],
    results.map(({ system, samples, cpu }) => [
      SYSTEMS[system].label,
      ...kinds.map((k) => (cpu?.kinds ? ms((cpu.kinds[k] || 0) / samples.length) : '-')),
    ]),
  );
  // Step 4 split where the page's code gets the body (`Response.text()` and the like resolving).
  console.log(`\nStep 4 split (median, ms): 4a response end -> body in the page's code; 4b body -> DOM`);
  table(
    ['system', '4a body read', '4b body->DOM'],
    results.map(({ system, samples }) => {
      const med = (k) => ms(summarize(samples.map((x) => x[k]).filter(Number.isFinite)).p50);
      return [SYSTEMS[system].label, med('bodyRead'), med('bodyToDom')];
    }),
  );
  // Would B gain from A's data? A refetches the list after its own write anyway.
  // Times in two pages compare like the total does (timeOrigin + now(), one machine's clock).
  console.log(`\nA's own refetch of the list: how much earlier its body reached A's code than B's reached B's (median, ms; > 0: A first; '-' where write and list share a URL)`);
  table(
    ['system', 'lead of A', 'changes with an A refetch'],
    results.map(({ system, samples }) => {
      const leads = samples.map((x) => x.ownBodyLead).filter(Number.isFinite);
      return [SYSTEMS[system].label, ms(summarize(leads).p50), `${leads.length}/${samples.length}`];
    }),
  );
  // Step 4 against the list's length: the first and the last fifth of the run.
  console.log(`\nStep 4 (refetch end -> DOM) by list length (median, ms; 4b in brackets)`);
  table(
    ['system', 'first fifth', 'rows', 'last fifth', 'rows'],
    results.map(({ system, samples }) => {
      const k = Math.max(1, Math.floor(samples.length / 5));
      const first = samples.slice(0, k);
      const last = samples.slice(-k);
      const med = (xs, key) => ms(summarize(xs.map((x) => x[key]).filter(Number.isFinite)).p50);
      const both = (xs) => `${med(xs, 'render')} (${med(xs, 'bodyToDom')})`;
      const span = (xs) => `${xs[0].rows}-${xs[xs.length - 1].rows}`;
      return [SYSTEMS[system].label, both(first), span(first), both(last), span(last)];
    }),
  );
}

function printTabs(results) {
  console.log(`\nTabs: ${TABS} tabs in one context, ${MUTATIONS} changes made in tab 1`);
  for (const { system, r } of results) {
    console.log(`\n${SYSTEMS[system].label}: ${r.live}/${r.tabs} tabs loaded and live`);
    console.log(
      `  event streams open: ${r.streams.browser} in the browser (per tab: ${r.streams.perTab.join(' ')}; ` +
        `Playwright request events for ${SYSTEMS[system].streamPath} not yet finished or failed)`,
    );
    console.log(
      `                      ${r.streams.server ?? 'n/a (no stats endpoint)'} held by the server (GET /api/stats), ` +
        `${r.streams.tcp} established TCP connections to its port (ss)`,
    );
    if (r.stalled) console.log(`  STALLED: ${r.stalled}`);
    if (!r.perTab) {
      console.log(`  no change measured${r.live < 2 ? ': fewer than two live tabs' : ''}`);
      continue;
    }
    const total = r.perTab.reduce((s, t) => s + t.perChange, 0);
    console.log(`  list requests (${r.listKey.replace(/^(\S+) https?:\/\/[^/]+/, '$1 ')}) per change, over ${r.done} changes:`);
    console.log(`    ${r.perTab.map((t) => `${t.name}: ${t.perChange.toFixed(2)}`).join(', ')}`);
    console.log(`    total ${total.toFixed(2)} per change over ${r.perTab.length} tabs`);
  }
}

// ---------------------------------------------------------------------------------------------

/** The servers running now, stopped on Ctrl-C too. */
const running = new Set();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    for (const server of running) await server.stop();
    process.exit(130);
  });
}

async function main() {
  const systems = opts.only ? [opts.only] : ['leptos', 'react'];
  console.log(
    `Chromium ${'/usr/bin/chromium'}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} ` +
      `(the machine's other work shows in the numbers)`,
  );
  const tabs = [];
  let latency = [];
  if (TABS > 0) {
    for (const system of systems) {
      console.log(`\n${SYSTEMS[system].label}: starting the server`);
      const server = await SYSTEMS[system].start();
      running.add(server);
      console.log(`  ${server.base} (pid ${server.pid})`);
      try {
        tabs.push({ system, r: await measureTabs(system, server) });
      } finally {
        await server.stop();
        running.delete(server);
      }
    }
  } else {
    // Every system's server at once: the systems take turns (see measureLatency).
    const servers = [];
    try {
      for (const system of systems) {
        console.log(`\n${SYSTEMS[system].label}: starting the server`);
        const server = await SYSTEMS[system].start();
        running.add(server);
        servers.push([system, server]);
        console.log(`  ${server.base} (pid ${server.pid})`);
      }
      console.log(`\nThe systems take turns, ${BLOCK} changes at a time, ${N} changes each.`);
      latency = await measureLatency(servers);
    } finally {
      for (const [, server] of servers) {
        await server.stop();
        running.delete(server);
      }
    }
  }
  if (latency.length) printLatency(latency);
  if (tabs.length) printTabs(tabs);
  console.log(`\nload average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
