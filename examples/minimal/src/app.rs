//! The page, its tags, its query and its server functions. Everything here compiles for both
//! sides: the server renders it and runs the server functions; the browser hydrates it and calls
//! them over HTTP.

use leptos::prelude::*;
use leptos_query_tags::prelude::*;
use serde::{Deserialize, Serialize};

// 1. The tags. A query carries tags; an invalidation names tags or prefixes of them.
tag_tree! {
    /// Every tag of the app.
    pub mod tags {
        /// The counters: `counters.by_name("apples")` is one of them.
        counters {
            by_name(name: String);
        }
    }
}

/// One counter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    pub name: String,
    pub value: u64,
}

// 2. The server functions. The data lives in memory here; a real app uses its database.
#[cfg(feature = "ssr")]
static COUNTERS: std::sync::Mutex<[(&str, u64); 3]> =
    std::sync::Mutex::new([("apples", 0), ("pears", 0), ("plums", 0)]);

#[cfg(feature = "ssr")]
fn with_counters<R>(f: impl FnOnce(&mut [(&'static str, u64); 3]) -> R) -> R {
    let mut counters = COUNTERS.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut counters)
}

/// Every counter.
#[server]
pub async fn list_counters() -> Result<Vec<Counter>, ServerFnError> {
    Ok(with_counters(|counters| {
        counters
            .iter()
            .map(|&(name, value)| Counter {
                name: name.to_owned(),
                value,
            })
            .collect()
    }))
}

/// Adds one to a counter, and tells every open page that it changed.
#[server]
pub async fn increment(name: String) -> Result<(), ServerFnError> {
    with_counters(|counters| {
        let (_, value) = counters
            .iter_mut()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ServerFnError::new(format!("no counter named {name}")))?;
        *value += 1;
        Ok::<_, ServerFnError>(())
    })?;
    // Published once this function has returned Ok (an Err publishes nothing). Every page
    // whose cached queries carry this tag refetches them.
    invalidate_tags([tags::counters::by_name(name)])?;
    Ok(())
}

// 3. The query: what to fetch, and its tags (here one per counter in the result).
pub fn counters_query() -> Query<(), Vec<Counter>> {
    Query::new("counters", |()| list_counters()).tags_from_result(|_, counters| {
        counters
            .iter()
            .map(|c| tags::counters::by_name(c.name.clone()))
            .collect()
    })
}

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <title>"Counters"</title>
                <AutoReload options=options.clone() />
                <HydrationScripts options />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// 4. The app: the provider holds the query cache and (in the browser) the live connection.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <QueryTagsProvider>
            <main>
                <h1>"Counters"</h1>
                <LiveBadge />
                <Counters />
            </main>
        </QueryTagsProvider>
    }
}

/// The counters, live: a click in any browser shows in all of them.
#[component]
fn Counters() -> impl IntoView {
    let counters = use_query(&counters_query(), || ());
    let increment = use_mutation(MutationOptions::new(|name: String| increment(name)));
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                counters.await.map(|counters| view! {
                    <ul>
                        {counters.into_iter().map(|Counter { name, value }| {
                            let (label, clicked) = (name.clone(), name.clone());
                            view! {
                                <li data-counter=name>
                                    {label} ": " <output>{value}</output> " "
                                    <button on:click=move |_| increment.dispatch(clicked.clone())>
                                        "+1"
                                    </button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                })
            })}
        </Transition>
        {move || increment.error().map(|e| view! { <p role="alert">{e.to_string()}</p> })}
    }
}

/// Whether invalidations arrive live (`Open`), or the stream is still connecting or retrying.
#[component]
fn LiveBadge() -> impl IntoView {
    let live = use_query_tags();
    let state = Memo::new(move |_| match live.as_ref().map(|c| c.connection_state()) {
        Some(ConnectionState::Open) => "live".to_owned(),
        Some(ConnectionState::Reconnecting { attempt, .. }) => format!("reconnecting ({attempt})"),
        Some(ConnectionState::Offline) => "offline".to_owned(),
        Some(ConnectionState::Failed { status, reason }) => format!("refused: {status} {reason}"),
        _ => "connecting".to_owned(),
    });
    view! { <p role="status" data-connection=state>{state}</p> }
}
