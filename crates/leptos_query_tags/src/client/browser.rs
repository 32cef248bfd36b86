//! The browser glue of the runtime: `EventSource`, `BroadcastChannel`, Web Locks, timers and
//! window events, turned into calls of [`Tab`]'s methods.
//!
//! Everything runs on the page's one thread; a callback borrows the runtime only for the time
//! of one [`Tab`] call, and nothing the [`Port`] does calls back synchronously (the one that
//! would, switching identity, is deferred to a task).

use super::live::QueryTagsClient;
use super::received::Received;
use super::tab::{Port, Probe, Relay, Role, Tab, Timer};
use super::wire::{Sse, TabMessage};
use crate::protocol::Cursor;
use crate::query::QueryClient;
use gloo_timers::callback::Timeout;
use js_sys::{Function, Object, Promise, Reflect};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{AbortController, BroadcastChannel, EventSource, MessageEvent, Worker};

/// Opens the stream (or joins the tab that holds it) for as long as the calling owner lives.
pub(crate) fn connect(client: QueryTagsClient, cursor: Option<Cursor>, identity: Option<String>) {
    super::own_events::install(client.queries());
    let runtime = send_wrapper::SendWrapper::new(Runtime::install(client, cursor, identity));
    leptos::prelude::on_cleanup(move || Runtime::uninstall(&runtime));
}

/// Refetches stale queries in use when the window regains focus or the browser comes back
/// online, for as long as the calling owner lives.
pub(crate) fn watch_window(queries: QueryClient) {
    let on_focus = queries.clone();
    let focus = leptos::prelude::window_event_listener(leptos::ev::focus, move |_| {
        on_focus.window_focused();
    });
    let on_online = queries.clone();
    let online = leptos::prelude::window_event_listener(leptos::ev::online, move |_| {
        on_online.reconnected();
    });
    // Refetch intervals run only while the page is visible.
    let document = leptos::prelude::document();
    queries.cache().set_visible(!document.hidden());
    let visibility =
        leptos::prelude::window_event_listener_untyped("visibilitychange", move |_| {
            queries
                .cache()
                .set_visible(!leptos::prelude::document().hidden());
        });
    leptos::prelude::on_cleanup(move || {
        focus.remove();
        online.remove();
        visibility.remove();
    });
}

type Shared = Rc<RefCell<Runtime>>;

type WindowListener = Closure<dyn FnMut(web_sys::Event)>;

/// The runtime of one page: its [`Tab`] (absent while the page is hidden), and the window
/// listeners that outlive a tab.
struct Runtime {
    client: QueryTagsClient,
    identity: Option<String>,
    tab: Option<Tab<BrowserPort>>,
    /// Counts the tabs built (the page is shown again after the back/forward cache, or moves
    /// to another identity): late answers to an older tab's requests are ignored.
    shown: u32,
    /// What the last tab received, kept while the page is hidden.
    kept: Option<Received>,
    listeners: Vec<(&'static str, WindowListener)>,
}

impl Runtime {
    fn install(
        client: QueryTagsClient,
        cursor: Option<Cursor>,
        identity: Option<String>,
    ) -> Shared {
        let runtime = Rc::new(RefCell::new(Runtime {
            client,
            identity,
            tab: None,
            shown: 0,
            kept: Some(Received::new(cursor)),
            listeners: Vec::new(),
        }));
        let listen = |name: &'static str, action: fn(&Shared, &web_sys::Event)| {
            let weak = Rc::downgrade(&runtime);
            let closure =
                Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
                    if let Some(runtime) = weak.upgrade() {
                        action(&runtime, &event);
                    }
                });
            if let Some(window) = web_sys::window() {
                let _ =
                    window.add_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
            }
            runtime.borrow_mut().listeners.push((name, closure));
        };
        listen("online", |rt, _| with_tab(rt, Tab::online));
        listen("offline", |rt, _| with_tab(rt, Tab::offline));
        // Leave nothing open that keeps the page out of the back/forward cache (a held or
        // requested lock, a channel, a stream), and come back from where the page was.
        listen("pagehide", |rt, _| Runtime::hide(rt));
        listen("pageshow", |rt, event| {
            let persisted = Reflect::get(event, &"persisted".into())
                .ok()
                .and_then(|p| p.as_bool())
                .unwrap_or(false);
            if persisted || rt.borrow().tab.is_none() {
                Runtime::show(rt);
            }
        });
        Runtime::show(&runtime);
        runtime
    }

    fn uninstall(runtime: &Shared) {
        Runtime::hide(runtime);
        let listeners = std::mem::take(&mut runtime.borrow_mut().listeners);
        if let Some(window) = web_sys::window() {
            for (name, closure) in &listeners {
                let _ = window
                    .remove_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
            }
        }
    }

    /// Builds the tab: shared with the other tabs of this identity where the browser can.
    fn show(runtime: &Shared) {
        let (client, identity, received) = {
            let mut rt = runtime.borrow_mut();
            if rt.tab.is_some() {
                return;
            }
            let Some(received) = rt.kept.take() else {
                return;
            };
            rt.shown = rt.shown.wrapping_add(1);
            (rt.client.clone(), rt.identity.clone(), received)
        };
        let online = web_sys::window().is_none_or(|w| w.navigator().on_line());
        let shared = shared_name(client.base_path(), identity.as_deref());
        let id = (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64;
        let role = if shared.is_some() {
            Role::Follower
        } else {
            Role::Solo
        };
        let mut port = BrowserPort {
            runtime: Rc::downgrade(runtime),
            source: None,
            retired: None,
            retry: None,
            tick: None,
            probe: None,
            channel: None,
            lock: None,
        };
        if let Some(name) = &shared {
            port.join(name);
        }
        let mut tab = Tab::new(port, client, id, role, identity, received, online);
        tab.start();
        runtime.borrow_mut().tab = Some(tab);
        if let Some(name) = shared {
            request_lock(runtime, &name, false);
        }
    }

    /// Takes the tab down, keeping what it received.
    fn hide(runtime: &Shared) {
        let tab = runtime.borrow_mut().tab.take();
        if let Some(mut tab) = tab {
            tab.stop();
            tab.port().leave();
            runtime.borrow_mut().kept = Some(tab.into_received());
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

/// The name of the lock and channel the tabs of one identity share, or `None` when the browser
/// lacks Web Locks or `BroadcastChannel` (each tab then streams alone).
fn shared_name(base_path: &str, identity: Option<&str>) -> Option<String> {
    let window = web_sys::window()?;
    let locks = Reflect::get(&window.navigator(), &"locks".into()).ok()?;
    let has_channel = Reflect::has(&window, &"BroadcastChannel".into()).unwrap_or(false);
    if locks.is_undefined() || locks.is_null() || !has_channel {
        return None;
    }
    let origin = window.location().origin().ok()?;
    // The version of the tabs' messages is part of the name: during a deploy, pages of the old
    // and the new version each elect their own leader instead of ignoring each other's
    // messages and taking the lock from each other.
    Some(format!(
        "leptos_query_tags/{} {origin}{base_path} {}",
        super::wire::TAB_PROTOCOL,
        identity.unwrap_or("unknown")
    ))
}

/// The Web Lock of this tab's identity.
struct LockState {
    name: String,
    /// Aborts the waiting (ungranted) normal request.
    abort: AbortController,
    /// Resolving it releases the held lock.
    release: Option<Function>,
}

/// `url` against the page's address: a worker made from a `blob:` URL resolves relative URLs
/// against that instead.
fn absolute(url: &str) -> String {
    let base = leptos::prelude::window()
        .location()
        .href()
        .unwrap_or_default();
    web_sys::Url::new_with_base(url, &base)
        .map(|u| u.href())
        .unwrap_or_else(|_| url.to_owned())
}

/// Whether the tab that made a request (in showing `shown` of the page) is still there.
fn current(runtime: &Shared, shown: u32) -> bool {
    runtime
        .try_borrow()
        .is_ok_and(|rt| rt.shown == shown && rt.tab.is_some())
}

/// `navigator.locks.request(name, options, callback)`: a normal request waits its turn (and is
/// re-made whenever it ends while the tab lives); a steal takes the lock from a silent leader.
fn request_lock(runtime: &Shared, name: &str, steal: bool) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let Ok(locks) = Reflect::get(&window.navigator(), &"locks".into()) else {
        return;
    };
    let Ok(request) =
        Reflect::get(&locks, &"request".into()).and_then(|f| f.dyn_into::<Function>())
    else {
        return;
    };
    let shown = runtime.borrow().shown;
    let options = Object::new();
    if steal {
        let _ = Reflect::set(&options, &"steal".into(), &JsValue::TRUE);
    } else {
        let Ok(abort) = AbortController::new() else {
            return;
        };
        let _ = Reflect::set(&options, &"signal".into(), &abort.signal());
        with_port(runtime, |port| {
            port.lock = Some(LockState {
                name: name.to_owned(),
                abort,
                release: None,
            });
        });
    }
    let granted = Rc::new(std::cell::Cell::new(false));
    let on_grant = {
        let weak = Rc::downgrade(runtime);
        let granted = granted.clone();
        Closure::once_into_js(move |_lock: JsValue| -> JsValue {
            let runtime = weak.upgrade().filter(|rt| current(rt, shown));
            let Some(runtime) = runtime else {
                // The tab left meanwhile: give the lock back at once.
                return Promise::resolve(&JsValue::UNDEFINED).into();
            };
            let mut release = None;
            let held = Promise::new(&mut |resolve, _| release = Some(resolve));
            granted.set(true);
            with_port(&runtime, |port| {
                if let Some(lock) = port.lock.as_mut() {
                    lock.release = release.take();
                }
            });
            with_tab(&runtime, Tab::lock_granted);
            held.into()
        })
    };
    let Ok(promise) = request.call3(&locks, &name.into(), &options, &on_grant) else {
        return;
    };
    let Ok(promise) = promise.dyn_into::<Promise>() else {
        return;
    };
    let weak = Rc::downgrade(runtime);
    let name = name.to_owned();
    leptos::task::spawn_local(async move {
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        // Released by this tab leaving, or aborted by it: nothing to do.
        let Some(runtime) = weak.upgrade().filter(|rt| current(rt, shown)) else {
            return;
        };
        // Stolen by a tab that found this one silent: follow it, and queue again.
        if granted.get() {
            with_tab(&runtime, Tab::lock_lost);
        }
        if !steal {
            request_lock(&runtime, &name, false);
        }
    });
}

/// `GET url` with `fetch` (which, unlike `EventSource`, sees the status and the body): the
/// status, and the body of an error answer.
async fn fetch_status(url: &str, signal: &web_sys::AbortSignal) -> Probe {
    use wasm_bindgen_futures::JsFuture;
    let Some(window) = web_sys::window() else {
        return Probe::Unreachable;
    };
    let init = web_sys::RequestInit::new();
    init.set_method("GET");
    init.set_signal(Some(signal));
    let Ok(response) = JsFuture::from(window.fetch_with_str_and_init(url, &init)).await else {
        return Probe::Unreachable;
    };
    let Ok(response) = response.dyn_into::<web_sys::Response>() else {
        return Probe::Unreachable;
    };
    let status = response.status();
    let body = if (200..300).contains(&status) {
        String::new()
    } else {
        match response.text() {
            Ok(text) => JsFuture::from(text)
                .await
                .ok()
                .and_then(|t| t.as_string())
                .unwrap_or_default(),
            Err(_) => String::new(),
        }
    };
    Probe::Answered { status, body }
}

/// A listener for the messages of a channel or a worker that are arrays of strings (what
/// [`strings`] makes), handled while the runtime lives; anything else is ignored.
fn strings_listener(
    runtime: &Weak<RefCell<Runtime>>,
    on: impl Fn(&Shared, Vec<String>) + 'static,
) -> Listener {
    let weak = runtime.clone();
    Listener::new(move |event: MessageEvent| {
        let data = event.data();
        if !js_sys::Array::is_array(&data) {
            return;
        }
        let fields: Option<Vec<String>> = js_sys::Array::from(&data)
            .iter()
            .map(|field| field.as_string())
            .collect();
        if let (Some(runtime), Some(fields)) = (weak.upgrade(), fields) {
            on(&runtime, fields);
        }
    })
}

/// `fields` as a JS array of strings, for `postMessage`.
fn strings(fields: &[String]) -> js_sys::Array {
    fields.iter().map(|f| JsValue::from_str(f)).collect()
}

fn with_port(runtime: &Shared, action: impl FnOnce(&mut BrowserPort)) {
    with_tab(runtime, |tab| action(tab.port()));
}

type Listener = Closure<dyn FnMut(MessageEvent)>;

/// The open stream and the closures listening to it: an `EventSource` on the page's thread, or
/// one in a worker that also relays (a leader's, see [`Relay`]).
enum Source {
    Direct {
        source: EventSource,
        _listeners: Vec<Listener>,
    },
    Worker {
        worker: Worker,
        _listener: Listener,
        _on_error: Closure<dyn FnMut(web_sys::Event)>,
    },
}

impl Source {
    fn close(&self) {
        match self {
            Source::Direct { source, .. } => source.close(),
            // Ends the worker and its `EventSource` with it. Its handlers go first: a message it
            // posted before it ended must not reach a tab that has moved on.
            Source::Worker { worker, .. } => {
                worker.set_onmessage(None);
                worker.set_onerror(None);
                worker.terminate();
            }
        }
    }
}

/// The stream worker: it opens the `EventSource` it is sent, forwards every event to the page
/// as `[name, data, id]`, and, while the stream's `hello` carries the expected identity, posts
/// each `invalidate` and `reset` to the tabs' channel itself, as the leader's tab would
/// (`TabMessage::Event`: `["event", from, name, id, data]`). Followers keep the first copy of
/// an event; the page's own relay of it comes second (see [`Relay`] for why it stays).
const STREAM_WORKER: &str = r#"onmessage = (m) => {
  const [url, channelName, from, identity] = m.data;
  const channel = channelName ? new BroadcastChannel(channelName) : null;
  const source = new EventSource(url);
  let relay = false;
  for (const name of ['open', 'error', 'hello', 'invalidate', 'reset']) {
    source.addEventListener(name, (e) => {
      if (name === 'hello') {
        try { relay = channel !== null && JSON.parse(e.data).identity === identity; } catch { relay = false; }
      } else if (name === 'error') {
        // Reconnecting is the page's decision (backoff, cursor): no retry of our own.
        relay = false;
        source.close();
      } else if (relay && name !== 'open') {
        channel.postMessage(['event', from, name, e.lastEventId, e.data]);
      }
      postMessage([name, typeof e.data === 'string' ? e.data : '', e.lastEventId || '']);
    });
  }
};"#;

thread_local! {
    /// A stream worker failed to start on this page (a Content-Security-Policy without
    /// `worker-src blob:`, say): streams open on the page's thread from then on.
    static NO_WORKER: Cell<bool> = const { Cell::new(false) };

    /// The worker's script as a `blob:` URL, made once per page. `None` where it cannot be made.
    static WORKER_URL: Option<String> = {
        let parts = js_sys::Array::of1(&JsValue::from_str(STREAM_WORKER));
        let options = web_sys::BlobPropertyBag::new();
        options.set_type("text/javascript");
        web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)
            .and_then(|blob| web_sys::Url::create_object_url_with_blob(&blob))
            .ok()
    };
}

/// What [`Tab`] asks of the browser.
struct BrowserPort {
    runtime: Weak<RefCell<Runtime>>,
    source: Option<Source>,
    /// The last closed source's closures, kept until the next close in case the browser has
    /// already queued one of its events.
    retired: Option<Source>,
    retry: Option<Timeout>,
    tick: Option<Timeout>,
    probe: Option<AbortController>,
    channel: Option<(BroadcastChannel, Listener)>,
    lock: Option<LockState>,
}

impl BrowserPort {
    fn join(&mut self, name: &str) {
        let Ok(channel) = BroadcastChannel::new(name) else {
            return;
        };
        let listener = strings_listener(&self.runtime, |runtime, fields| {
            // Another version of the library in another tab may speak differently: ignore it.
            if let Some(message) = TabMessage::decode(&fields) {
                with_tab(runtime, |tab| tab.message(message));
            }
        });
        channel.set_onmessage(Some(listener.as_ref().unchecked_ref()));
        self.channel = Some((channel, listener));
    }

    /// Opens a leader's stream in a worker that relays it; `None` where there is no channel
    /// to relay to or no worker can run (the caller opens the stream on this thread).
    fn open_in_worker(&mut self, generation: u32, url: &str, relay: Relay) -> Option<Source> {
        if NO_WORKER.with(Cell::get) {
            return None;
        }
        let channel = self.channel.as_ref()?.0.name();
        let script = WORKER_URL.with(Clone::clone)?;
        let Ok(worker) = Worker::new(&script) else {
            NO_WORKER.with(|no| no.set(true));
            return None;
        };
        let listener = strings_listener(&self.runtime, move |runtime, fields| {
            let [name, data, id] = fields.as_slice() else {
                return;
            };
            match name.as_str() {
                "open" => with_tab(runtime, |tab| tab.stream_opened(generation)),
                "error" => with_tab(runtime, |tab| tab.stream_error(generation)),
                _ => with_tab(runtime, |tab| {
                    tab.stream_event(
                        generation,
                        Sse {
                            name,
                            data,
                            last_event_id: id,
                        },
                    )
                }),
            }
        });
        // The script did not load or run: report a failure, and open on this thread next time.
        let weak = self.runtime.clone();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            NO_WORKER.with(|no| no.set(true));
            if let Some(runtime) = weak.upgrade() {
                with_tab(&runtime, |tab| tab.stream_error(generation));
            }
        });
        worker.set_onmessage(Some(listener.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        // `[url, channel, from, identity]`.
        let config = [
            absolute(url),
            channel,
            relay.from.to_string(),
            relay.identity,
        ];
        if worker.post_message(&strings(&config)).is_err() {
            worker.set_onmessage(None);
            worker.set_onerror(None);
            worker.terminate();
            return None;
        }
        Some(Source::Worker {
            worker,
            _listener: listener,
            _on_error: on_error,
        })
    }

    /// Leaves the channel and the lock (the tab is going away or moving).
    fn leave(&mut self) {
        if let Some((channel, _)) = self.channel.take() {
            channel.set_onmessage(None);
            channel.close();
        }
        if let Some(lock) = self.lock.as_mut() {
            lock.abort.abort();
            if let Some(release) = lock.release.take() {
                let _ = release.call0(&JsValue::UNDEFINED);
            }
        }
        if let Some(probe) = self.probe.take() {
            probe.abort();
        }
    }
}

impl Port for BrowserPort {
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    fn random(&mut self) -> f64 {
        js_sys::Math::random()
    }

    fn open_stream(&mut self, generation: u32, url: &str, relay: Option<Relay>) {
        self.close_stream();
        if let Some(relay) = relay {
            if let Some(source) = self.open_in_worker(generation, url, relay) {
                self.source = Some(source);
                return;
            }
        }
        let source = match EventSource::new(url) {
            Ok(source) => source,
            Err(error) => {
                crate::platform::warn(format_args!(
                    "leptos_query_tags: cannot open the event stream: {error:?}"
                ));
                // Reported like any failure, after this call returns.
                let weak = self.runtime.clone();
                leptos::task::spawn_local(async move {
                    if let Some(runtime) = weak.upgrade() {
                        with_tab(&runtime, |tab| tab.stream_error(generation));
                    }
                });
                return;
            }
        };
        let mut listeners = Vec::new();
        let weak = self.runtime.clone();
        let on = |name: &'static str, listeners: &mut Vec<Listener>| {
            let weak = weak.clone();
            let listener = Listener::new(move |event: MessageEvent| {
                let Some(runtime) = weak.upgrade() else {
                    return;
                };
                match name {
                    "open" => with_tab(&runtime, |tab| tab.stream_opened(generation)),
                    "error" => with_tab(&runtime, |tab| tab.stream_error(generation)),
                    _ => {
                        let data = event.data().as_string().unwrap_or_default();
                        let last_event_id = event.last_event_id();
                        with_tab(&runtime, |tab| {
                            tab.stream_event(
                                generation,
                                Sse {
                                    name,
                                    data: &data,
                                    last_event_id: &last_event_id,
                                },
                            )
                        });
                    }
                }
            });
            let _ =
                source.add_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
            listeners.push(listener);
        };
        for name in [
            "open",
            "error",
            crate::protocol::event::HELLO,
            crate::protocol::event::INVALIDATE,
            crate::protocol::event::RESET,
        ] {
            on(name, &mut listeners);
        }
        self.source = Some(Source::Direct {
            source,
            _listeners: listeners,
        });
    }

    fn close_stream(&mut self) {
        if let Some(open) = self.source.take() {
            open.close();
            self.retired = Some(open);
        }
    }

    fn probe(&mut self, generation: u32, url: &str) {
        let Ok(abort) = AbortController::new() else {
            return;
        };
        let signal = abort.signal();
        if let Some(previous) = self.probe.replace(abort) {
            previous.abort();
        }
        let weak = self.runtime.clone();
        let url = url.to_owned();
        leptos::task::spawn_local(async move {
            let probe = fetch_status(&url, &signal).await;
            if let Some(runtime) = weak.upgrade() {
                with_port(&runtime, |port| {
                    // A stream the probe opened is not wanted.
                    if let Some(abort) = port.probe.take() {
                        abort.abort();
                    }
                });
                with_tab(&runtime, |tab| tab.probed(generation, probe));
            }
        });
    }

    fn set_timer(&mut self, timer: Timer, after_ms: u64) {
        let weak = self.runtime.clone();
        let timeout = Timeout::new(after_ms.min(u64::from(u32::MAX)) as u32, move || {
            if let Some(runtime) = weak.upgrade() {
                with_tab(&runtime, |tab| tab.timer(timer));
            }
        });
        match timer {
            Timer::Retry => self.retry = Some(timeout),
            Timer::Tick => self.tick = Some(timeout),
        }
    }

    fn cancel_timer(&mut self, timer: Timer) {
        match timer {
            Timer::Retry => self.retry = None,
            Timer::Tick => self.tick = None,
        }
    }

    fn post(&mut self, message: &TabMessage) {
        if let Some((channel, _)) = &self.channel {
            let _ = channel.post_message(&strings(&message.encode()));
        }
    }

    fn steal_lock(&mut self) {
        let (Some(runtime), Some(lock)) = (self.runtime.upgrade(), self.lock.as_ref()) else {
            return;
        };
        let name = lock.name.clone();
        // After this call returns: the runtime is borrowed now.
        leptos::task::spawn_local(async move {
            request_lock(&runtime, &name, true);
        });
    }

    fn switch_identity(&mut self, identity: String) {
        let Some(runtime) = self.runtime.upgrade() else {
            return;
        };
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
