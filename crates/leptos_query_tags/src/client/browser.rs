//! The browser side of the runtime: [`Tab`]'s [`Port`], carried out by `js/runtime.js` (a
//! wasm-bindgen module), whose reports come back through one callback and become calls of
//! [`Tab`]'s methods.
//!
//! Why JS: every browser call made from Rust costs a binding in the wasm and every callback a
//! closure with its shims. The same glue written with `web-sys` cost 6.8 KB of brotli-compressed
//! wasm; the JS file costs about 2 KB (docs/benchmarks.md). The decisions (leadership,
//! reconnection and backoff, de-duplication, what to relay) stay in Rust, in `tab.rs`, tested
//! natively on a fake port; the JS only carries them out. Its comments are kept short because
//! the file ships as is: the explanations are here.
//!
//! ## What `js/runtime.js` does
//! - **`Page`**, one per page: the window listeners (`online`, `offline`, `pagehide`,
//!   `pageshow`, `focus`, `visibilitychange`) and the browser side of the page's current tab.
//!   Every report is `deliver([kind, ...fields])`, an array of strings read by [`deliver`].
//!   `begin`/`end` bracket a tab; a report meant for a tab that has ended (a late lock grant,
//!   a probe's answer, a timer) is dropped. `end` leaves nothing open that keeps the page out
//!   of the back/forward cache (a held or requested lock, a channel, a stream, a probe, a timer).
//! - **The shared name** (`begin`): the lock and channel of the tabs of one identity,
//!   `leptos_query_tags/<TAB_PROTOCOL> <origin><base path> <identity>`, or `''` where the
//!   browser lacks Web Locks or `BroadcastChannel` (each tab then streams alone). The version of
//!   the tabs' messages is part of it: during a deploy, pages of the old and the new version
//!   each elect their own leader instead of ignoring each other's messages.
//! - **The channel** (`join`): its messages that are arrays of strings come back as
//!   `['message', ...fields]` (anything else, another version of the library, say, is ignored).
//! - **The lock** (`requestLock`, `stealLock`): a normal request waits its turn and is made
//!   again whenever it ends while the tab lives (`['granted']`, then `['lost']` if a tab stole
//!   it); a steal takes it from a leader that stopped answering. Granted to a tab that has
//!   ended, it is given back at once.
//! - **The stream** (`openStream`): reports carry the stream's generation: `['open', g]`,
//!   `['error', g]`, `['sse', g, name, data, id]`. A leader's stream (`from` is its tab id)
//!   opens in a worker made from a `blob:` URL: the worker forwards every event to the page as
//!   `[name, data, id]` and, while the stream's `hello` carries the tabs' identity, posts each
//!   `invalidate` and `reset` to the channel itself as the leader's tab would
//!   (`['event', from, name, id, data]`; followers keep the first copy, see [`Relay`]). A
//!   worker resolves relative URLs against its `blob:` URL, so it is sent an absolute one. On
//!   `error` the worker closes its `EventSource`: reconnecting is the tab's decision. Where a
//!   worker cannot start (a Content-Security-Policy without `worker-src blob:`, say) streams
//!   open on the page's thread from then on. Closing a worker removes its handlers first: a
//!   message it posted before it ended must not reach a tab that has moved on.
//! - **The probe** (`probe`): `GET url` with `fetch`, which, unlike `EventSource`, sees the
//!   status and the body: `['probe', g, status, reason]`, the reason being the `error` of an
//!   error answer's JSON body ([`crate::protocol::ErrorBody`]) or `''`; status `''` when
//!   unreachable. A stream the probe opened is aborted.
//! - **Event data** (`decodeEvent`): the `data` of a `hello`, `invalidate` or `reset` as the
//!   fields [`super::wire`] reads, decoded with `JSON.parse`, whose reviver keeps an integer's
//!   source text where the browser gives it (JSON.parse source text access: Chromium 114,
//!   Firefox 135, Safari 18.4 and later): an integer tag segment above 2^53 is exact there, and
//!   in an older browser makes the event unreadable (every query refetches), never a wrong
//!   tag. Why not `serde_json` in the wasm: net 4.4 KB of brotli less, for 0.45 KB of JS
//!   (docs/benchmarks.md).
//! - **Timers** (`setTimer`, `cancelTimer`): `[kind]` when one fires.
//! - The `Server-Timing` observer (`observeEvents`, `eventsSince`: see `own_events.rs`), and
//!   `later` and `timeout` (see `platform/browser.rs`).
//!
//! Everything runs on the page's one thread; a report borrows the runtime only for the time of
//! one [`Tab`] call. The JS side never reports while a call from Rust runs (every report comes
//! from a browser callback or a microtask), and the one thing here that would call back
//! synchronously, switching identity, is deferred to a task.

use super::live::QueryTagsClient;
use super::received::Received;
use super::tab::{Port, Probe, Relay, Role, Tab, Timer};
use super::wire::{Sse, TabMessage, TAB_PROTOCOL};
use crate::protocol::{Cursor, RenderStart};
use crate::query::QueryClient;
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

#[wasm_bindgen(module = "/js/runtime.js")]
extern "C" {
    /// One page's runtime in JS (see `js/runtime.js`).
    #[derive(Clone)]
    type Page;
    #[wasm_bindgen(constructor)]
    fn new(deliver: &js_sys::Function) -> Page;
    #[wasm_bindgen(method)]
    fn dispose(this: &Page);
    #[wasm_bindgen(method)]
    fn visible(this: &Page) -> bool;
    #[wasm_bindgen(method)]
    fn online(this: &Page) -> bool;
    #[wasm_bindgen(method)]
    fn begin(this: &Page, protocol: u32, base_path: &str, identity: &str) -> String;
    #[wasm_bindgen(method)]
    fn end(this: &Page);
    #[wasm_bindgen(method)]
    fn join(this: &Page, name: &str);
    #[wasm_bindgen(method, js_name = stealLock)]
    fn steal_lock(this: &Page);
    #[wasm_bindgen(method, js_name = openStream)]
    fn open_stream(this: &Page, generation: u32, url: &str, from: &str, identity: &str);
    #[wasm_bindgen(method, js_name = closeStream)]
    fn close_stream(this: &Page);
    #[wasm_bindgen(method)]
    fn probe(this: &Page, generation: u32, url: &str);
    #[wasm_bindgen(method, js_name = setTimer)]
    fn set_timer(this: &Page, kind: &str, ms: u32);
    #[wasm_bindgen(method, js_name = cancelTimer)]
    fn cancel_timer(this: &Page, kind: &str);
    #[wasm_bindgen(method)]
    fn post(this: &Page, fields: js_sys::Array);

    /// Starts observing responses' `Server-Timing` for `metric` (once per page).
    #[wasm_bindgen(js_name = observeEvents)]
    pub(super) fn observe_events(metric: &str) -> bool;
    /// The event ids named by responses whose requests started at or after `since`.
    #[wasm_bindgen(js_name = eventsSince)]
    pub(super) fn events_since(since: f64) -> js_sys::Array;
    /// An event's data as the strings [`super::wire`] reads, `null` when it is not readable.
    #[wasm_bindgen(js_name = decodeEvent)]
    fn decode_event_js(name: &str, data: &str) -> Option<js_sys::Array>;
    /// `performance.now()`.
    #[wasm_bindgen(js_name = performanceNow)]
    pub(super) fn performance_now() -> f64;
}

/// Opens the stream (or joins the tab that holds it), and refetches stale queries in use when
/// the window regains focus or the browser comes back online, for as long as the calling owner
/// lives.
///
/// It starts in a task, as an effect's first run would: after the hydration that is under way,
/// whose views must see the server's state (`idle`), not `connecting`. The task is dropped if
/// the owner is disposed first. (A task rather than an `Effect`: the same timing, less wasm.)
pub(crate) fn connect(client: QueryTagsClient, cursor: Option<Cursor>, identity: Option<String>) {
    leptos::task::spawn_local_scoped_with_cancellation(async move {
        super::own_events::install(client.queries());
        let runtime = send_wrapper::SendWrapper::new(Runtime::install(client, cursor, identity));
        leptos::prelude::on_cleanup(move || {
            Runtime::hide(&runtime);
            runtime.borrow().page.dispose();
        });
    });
}

/// An event's data as fields (see [`super::wire`]), decoded by the browser's `JSON.parse`: no
/// JSON decoder in the wasm.
pub(crate) fn decode_event(name: &str, data: &str) -> Option<Vec<String>> {
    decode_event_js(name, data).map(strings)
}

/// A JS array's strings (anything else reads as an empty string).
fn strings(array: js_sys::Array) -> Vec<String> {
    array
        .iter()
        .map(|field| field.as_string().unwrap_or_default())
        .collect()
}

/// Where the page's stream starts when the page does not carry it (a client-side rendered app,
/// or a page whose serialized value is missing): from now. The server render's version reads
/// the request (`native.rs`); this one is not compiled with it, so the browser's wasm holds
/// none of that.
pub(crate) fn render_start() -> RenderStart {
    RenderStart::default()
}

type Shared = Rc<RefCell<Runtime>>;

/// The runtime of one page: its [`Tab`] (absent while the page is hidden), and what outlives a
/// tab.
struct Runtime {
    client: QueryTagsClient,
    identity: Option<String>,
    tab: Option<Tab<BrowserPort>>,
    /// What the last tab received, kept while the page is hidden.
    kept: Option<Received>,
    page: Page,
    _deliver: Closure<dyn Fn(js_sys::Array)>,
}

impl Runtime {
    fn install(
        client: QueryTagsClient,
        cursor: Option<Cursor>,
        identity: Option<String>,
    ) -> Shared {
        let queries = client.queries().clone();
        let runtime = Rc::new_cyclic(|weak: &Weak<RefCell<Runtime>>| {
            let weak = weak.clone();
            let deliver = Closure::<dyn Fn(js_sys::Array)>::new(move |fields: js_sys::Array| {
                if let Some(runtime) = weak.upgrade() {
                    deliver(&runtime, &queries, &strings(fields));
                }
            });
            let page = Page::new(deliver.as_ref().unchecked_ref());
            RefCell::new(Runtime {
                client,
                identity,
                tab: None,
                kept: Some(Received::new(cursor)),
                page,
                _deliver: deliver,
            })
        });
        // Refetch intervals run only while the page is visible.
        {
            let rt = runtime.borrow();
            rt.client.queries().cache().set_visible(rt.page.visible());
        }
        Runtime::show(&runtime);
        runtime
    }

    /// Builds the tab: shared with the other tabs of this identity where the browser can.
    fn show(runtime: &Shared) {
        let (client, identity, received, page) = {
            let mut rt = runtime.borrow_mut();
            if rt.tab.is_some() {
                return;
            }
            let Some(received) = rt.kept.take() else {
                return;
            };
            (
                rt.client.clone(),
                rt.identity.clone(),
                received,
                rt.page.clone(),
            )
        };
        let shared = page.begin(
            TAB_PROTOCOL,
            client.base_path(),
            identity.as_deref().unwrap_or("unknown"),
        );
        let id = (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64;
        let role = if shared.is_empty() {
            Role::Solo
        } else {
            // Joins the channel (a follower's first message goes there) and queues for the lock.
            page.join(&shared);
            Role::Follower
        };
        let port = BrowserPort {
            page: page.clone(),
            runtime: Rc::downgrade(runtime),
        };
        let mut tab = Tab::new(port, client, id, role, identity, received, page.online());
        tab.start();
        runtime.borrow_mut().tab = Some(tab);
    }

    /// Takes the tab down, keeping what it received.
    fn hide(runtime: &Shared) {
        let tab = runtime.borrow_mut().tab.take();
        if let Some(mut tab) = tab {
            tab.stop();
            let mut rt = runtime.borrow_mut();
            rt.page.end();
            rt.kept = Some(tab.into_received());
        }
    }
}

fn with_tab(runtime: &Shared, action: impl FnOnce(&mut Tab<BrowserPort>)) {
    if let Ok(mut rt) = runtime.try_borrow_mut() {
        if let Some(tab) = rt.tab.as_mut() {
            action(tab);
        }
    }
}

/// A report of `js/runtime.js`: `[kind, ...fields]`. The tab's reports borrow the runtime with
/// `try_borrow_mut` (one that found it borrowed, which the JS side never causes, is dropped);
/// the window's use `queries`, kept outside the runtime.
fn deliver(runtime: &Shared, queries: &QueryClient, fields: &[String]) {
    let field = |i: usize| fields.get(i).map_or("", String::as_str);
    // Stream reports carry the generation of the stream they are about.
    let generation = field(1).parse().unwrap_or(u32::MAX);
    match field(0) {
        "message" => {
            if let Some(message) = TabMessage::decode(&fields[1..]) {
                with_tab(runtime, |tab| tab.message(message));
            }
        }
        "sse" => with_tab(runtime, |tab| {
            tab.stream_event(
                generation,
                Sse {
                    name: field(2),
                    data: field(3),
                    last_event_id: field(4),
                },
            )
        }),
        "open" => with_tab(runtime, |tab| tab.stream_opened(generation)),
        "error" => with_tab(runtime, |tab| tab.stream_error(generation)),
        "probe" => {
            let probe = match field(2).parse() {
                Ok(status) => Probe::Answered {
                    status,
                    reason: field(3).to_owned(),
                },
                Err(_) => Probe::Unreachable,
            };
            with_tab(runtime, |tab| tab.probed(generation, probe));
        }
        "retry" => with_tab(runtime, |tab| tab.timer(Timer::Retry)),
        "tick" => with_tab(runtime, |tab| tab.timer(Timer::Tick)),
        "granted" => with_tab(runtime, Tab::lock_granted),
        "lost" => with_tab(runtime, Tab::lock_lost),
        "online" => {
            with_tab(runtime, Tab::online);
            queries.reconnected();
        }
        "offline" => with_tab(runtime, Tab::offline),
        "focus" => {
            queries.window_focused();
        }
        "visible" => queries.cache().set_visible(field(1) == "1"),
        // Leave nothing open that keeps the page out of the back/forward cache, and come back
        // from where the page was.
        "pagehide" => Runtime::hide(runtime),
        "pageshow" if field(1) == "1" || runtime.try_borrow().is_ok_and(|rt| rt.tab.is_none()) => {
            Runtime::show(runtime)
        }
        _ => {}
    }
}

fn timer_name(timer: Timer) -> &'static str {
    match timer {
        Timer::Retry => "retry",
        Timer::Tick => "tick",
    }
}

/// What [`Tab`] asks of the browser, passed on to `js/runtime.js`.
struct BrowserPort {
    page: Page,
    runtime: Weak<RefCell<Runtime>>,
}

impl Port for BrowserPort {
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    fn random(&mut self) -> f64 {
        js_sys::Math::random()
    }

    fn open_stream(&mut self, generation: u32, url: &str, relay: Option<Relay>) {
        let (from, identity) = match &relay {
            Some(relay) => (relay.from.to_string(), relay.identity.as_str()),
            None => (String::new(), ""),
        };
        self.page.open_stream(generation, url, &from, identity);
    }

    fn close_stream(&mut self) {
        self.page.close_stream();
    }

    fn probe(&mut self, generation: u32, url: &str) {
        self.page.probe(generation, url);
    }

    fn set_timer(&mut self, timer: Timer, after_ms: u64) {
        self.page
            .set_timer(timer_name(timer), after_ms.min(u64::from(u32::MAX)) as u32);
    }

    fn cancel_timer(&mut self, timer: Timer) {
        self.page.cancel_timer(timer_name(timer));
    }

    fn post(&mut self, message: &TabMessage) {
        let fields: js_sys::Array = message
            .encode()
            .iter()
            .map(|f| JsValue::from_str(f))
            .collect();
        self.page.post(fields);
    }

    fn steal_lock(&mut self) {
        self.page.steal_lock();
    }

    fn switch_identity(&mut self, identity: String) {
        let Some(runtime) = self.runtime.upgrade() else {
            return;
        };
        // After this call returns: the runtime is borrowed now.
        leptos::task::spawn_local(async move {
            Runtime::hide(&runtime);
            runtime.borrow_mut().identity = Some(identity.clone());
            runtime
                .borrow()
                .client
                .update_info(|i| i.identity = Some(identity));
            Runtime::show(&runtime);
        });
    }
}
