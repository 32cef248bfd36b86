//! The browser runtime: one `EventSource` to the hub, reconnection with backoff, and the
//! dispatch of events into the [`QueryTagsClient`].

use crate::protocol::{event, Cursor, Hello, Invalidation, Reset, CURSOR_PARAM, EVENTS_PATH};
use crate::query::{ConnectionState, QueryClient, QueryTagsClient};
use futures::StreamExt;
use gloo_net::eventsource::futures::EventSource;
use gloo_timers::future::TimeoutFuture;
use leptos::logging::warn;
use web_sys::MessageEvent;

/// Opens the stream in the background for as long as the calling owner lives.
pub(crate) fn connect(client: QueryTagsClient, initial: Option<Cursor>) {
    let (task, handle) = futures::future::abortable(run(client, initial));
    leptos::task::spawn_local(async move {
        let _ = task.await;
    });
    leptos::prelude::on_cleanup(move || handle.abort());
}

/// Refetches stale queries in use when the window regains focus or the browser comes back
/// online, for as long as the calling owner lives.
pub(crate) fn watch_window(queries: QueryClient) {
    let on_focus = queries.clone();
    let focus = leptos::prelude::window_event_listener(leptos::ev::focus, move |_| {
        on_focus.window_focused();
    });
    let online = leptos::prelude::window_event_listener(leptos::ev::online, move |_| {
        queries.reconnected();
    });
    leptos::prelude::on_cleanup(move || {
        focus.remove();
        online.remove();
    });
}

fn events_url(base_path: &str, cursor: Option<Cursor>) -> String {
    match cursor {
        Some(cursor) => format!("{base_path}{EVENTS_PATH}?{CURSOR_PARAM}={cursor}"),
        None => format!("{base_path}{EVENTS_PATH}"),
    }
}

/// Full-jitter exponential backoff: 0.5 s doubling up to 30 s, a random point in its upper half.
fn backoff_ms(failures: u32) -> u32 {
    let ceiling = (500u64 << failures.saturating_sub(1).min(6)).min(30_000) as f64;
    (ceiling / 2.0 + js_sys::Math::random() * ceiling / 2.0) as u32
}

async fn run(client: QueryTagsClient, mut cursor: Option<Cursor>) {
    let mut failures = 0u32;
    loop {
        client.set_state(if failures == 0 {
            ConnectionState::Connecting
        } else {
            ConnectionState::Reconnecting
        });
        match EventSource::new(&events_url(client.base_path(), cursor)) {
            Ok(mut source) => {
                let subscriptions: Result<Vec<_>, _> =
                    [event::HELLO, event::INVALIDATE, event::RESET]
                        .into_iter()
                        .map(|name| source.subscribe(name))
                        .collect();
                match subscriptions {
                    Ok(subscriptions) => {
                        let mut events = futures::stream::select_all(subscriptions);
                        // The browser reconnects by itself after a clean end of stream; an
                        // error reaches us only once it gave up (a non-200 answer, say).
                        while let Some(Ok((name, message))) = events.next().await {
                            failures = 0;
                            dispatch(&client, &name, &message, &mut cursor);
                        }
                    }
                    Err(error) => {
                        warn!("leptos_query_tags: cannot listen to the event stream: {error}")
                    }
                }
                source.close();
            }
            Err(error) => warn!("leptos_query_tags: cannot open the event stream: {error}"),
        }
        failures += 1;
        client.set_state(ConnectionState::Reconnecting);
        TimeoutFuture::new(backoff_ms(failures)).await;
    }
}

fn dispatch(
    client: &QueryTagsClient,
    name: &str,
    message: &MessageEvent,
    cursor: &mut Option<Cursor>,
) {
    let data = message.data().as_string().unwrap_or_default();
    let id = message.last_event_id().parse::<Cursor>().ok();
    match name {
        event::HELLO => match serde_json::from_str::<Hello>(&data) {
            Ok(hello) => {
                *cursor = Some(hello.cursor);
                client.set_state(ConnectionState::Open);
            }
            Err(error) => warn!("leptos_query_tags: malformed hello ({error}): {data}"),
        },
        event::INVALIDATE => {
            match serde_json::from_str::<Invalidation>(&data) {
                Ok(invalidation) => {
                    client.invalidate(&invalidation.tags);
                }
                // Never skip an event silently: refetching everything is always correct.
                Err(error) => {
                    warn!("leptos_query_tags: malformed invalidation ({error}); refetching every query");
                    client.invalidate_all();
                }
            }
            if id.is_some() {
                *cursor = id;
            }
            client.record_event(id, true);
        }
        event::RESET => {
            client.invalidate_all();
            match serde_json::from_str::<Reset>(&data) {
                Ok(reset) => *cursor = Some(reset.cursor),
                Err(_) => *cursor = id.or(*cursor),
            }
            client.record_event(id, true);
        }
        _ => {}
    }
}
