//! The demo's UI: the HTML shell, the app with its router, and the pages.

pub mod notes;
pub mod playground;
pub mod rapid;
pub mod session;
pub mod tags;
pub mod todos;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_query_tags::devtools::QueryTagsDevtools;
use leptos_query_tags::prelude::*;
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

/// The HTML document the server renders around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The application: one live connection to the hub for every page.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser, after hydration: the flag tells people (and the browser
    // tests) that the page is interactive.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    view! {
        <Stylesheet id="leptos" href="/pkg/query_tags_demo.css" />
        <Title text="leptos_query_tags demo" />
        <QueryTagsProvider>
            <Router>
                <div class="app" data-hydrated=move || hydrated.get().to_string()>
                    <a class="skip-link" href="#main">"Skip to content"</a>
                    <header class="topbar">
                        <a class="brand" href="/">
                            "query"
                            <span>"tags"</span>
                        </a>
                        <nav aria-label="Pages">
                            // `A` marks the current page with aria-current="page".
                            <A href="/" exact=true>"Todos"</A>
                            <A href="/notes">"My notes"</A>
                            <A href="/playground">"Tag Playground"</A>
                            <A href="/rapid-fire">"Rapid fire"</A>
                        </nav>
                        <div class="topbar-end">
                            <LiveBadge />
                            <session::UserMenu />
                        </div>
                    </header>
                    <main id="main">
                        <Routes fallback=|| view! { <p class="card">"Page not found."</p> }>
                            <Route path=path!("/") view=todos::TodosPage />
                            <Route path=path!("/notes") view=notes::NotesPage />
                            <Route path=path!("/playground") view=playground::PlaygroundPage />
                            <Route path=path!("/rapid-fire") view=rapid::RapidPage />
                        </Routes>
                    </main>
                    <EventLog />
                    <QueryTagsDevtools />
                    <footer class="muted">
                        "Built with Leptos and leptos_query_tags: server functions invalidate tags, "
                        "browsers refetch exactly the matching queries."
                    </footer>
                </div>
            </Router>
        </QueryTagsProvider>
    }
}

/// Shows whether invalidations arrive live, honestly: the state of the stream this tab's
/// events come through (its own, or the leader tab's).
#[component]
fn LiveBadge() -> impl IntoView {
    let client = use_query_tags();
    let state = Signal::derive({
        let client = client.clone();
        move || {
            client
                .as_ref()
                .map_or(ConnectionState::Idle, QueryTagsClient::connection_state)
        }
    });
    let leader = Signal::derive({
        let client = client.clone();
        move || client.as_ref().is_some_and(QueryTagsClient::is_leader)
    });
    let events =
        Signal::derive(move || client.as_ref().map_or(0, QueryTagsClient::events_received));
    let label = move || match state.get() {
        ConnectionState::Open => "Live".to_owned(),
        ConnectionState::Idle | ConnectionState::Connecting => "Connecting".to_owned(),
        ConnectionState::Reconnecting { attempt, .. } => {
            format!("Reconnecting (attempt {attempt})")
        }
        ConnectionState::Offline => "Offline".to_owned(),
        ConnectionState::Failed { status, reason } => format!("Refused: {status} {reason}"),
    };
    let title = move || {
        let role = if leader.get() {
            "this tab holds the event stream"
        } else {
            "another tab holds the event stream"
        };
        format!("{}; {role}; {} events received", state.get(), events.get())
    };
    view! {
        <span
            class="live"
            role="status"
            data-state=move || state.get().as_str()
            data-leader=move || leader.get().to_string()
            data-events=move || events.get().to_string()
            title=title
        >
            <span class="dot"></span>
            {label}
        </span>
    }
}

/// The events this tab applied, newest first: each event's id, its tags, and the cached
/// queries it matched (refetched at once when in use).
#[component]
fn EventLog() -> impl IntoView {
    let client = use_query_tags();
    let log = Signal::derive(move || {
        client
            .as_ref()
            .map(QueryTagsClient::event_log)
            .unwrap_or_default()
    });
    view! {
        <details class="event-log card">
            <summary>"Events in this tab (" {move || log.with(Vec::len)} ")"</summary>
            <ol reversed>
                // Keyed by id: a new event adds one item, the others stay as they are.
                <For
                    each=move || log.get().into_iter().rev()
                    key=|event| (event.id, event.at_ms, event.kind)
                    children=|event| {
                        let id = event.id.map(|id| id.to_string()).unwrap_or_default();
                        let tags = event.tags_text();
                        let matched = event.matched_text("(refetched)");
                        view! {
                            <li
                                data-event-id=id.clone()
                                data-origin=format!("{:?}", event.origin).to_lowercase()
                            >
                                <code>{id.clone()}</code>
                                " "
                                {event.kind}
                                " "
                                <code>{tags}</code>
                                " → "
                                {if matched.is_empty() { "no cached query".to_owned() } else { matched }}
                            </li>
                        }
                    }
                />
            </ol>
        </details>
    }
}
