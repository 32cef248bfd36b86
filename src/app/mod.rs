//! The demo's UI: the HTML shell, the app with its router, and the pages.

pub mod tags;
pub mod todos;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_query_tags::prelude::*;
use leptos_router::components::{Route, Router, Routes};
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
            <div class="app" data-hydrated=move || hydrated.get().to_string()>
                <header class="topbar">
                    <a class="brand" href="/">
                        "query"
                        <span>"tags"</span>
                    </a>
                    <nav>
                        <a href="/">"Todos"</a>
                    </nav>
                    <LiveBadge />
                </header>
                <main>
                    <Router>
                        <Routes fallback=|| view! { <p class="card">"Page not found."</p> }>
                            <Route path=path!("/") view=todos::TodosPage />
                        </Routes>
                    </Router>
                </main>
                <footer class="muted">
                    "Built with Leptos and leptos_query_tags: server functions invalidate tags, "
                    "browsers refetch exactly the matching queries."
                </footer>
            </div>
        </QueryTagsProvider>
    }
}

/// Shows whether invalidations arrive live.
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
    let events = move || client.as_ref().map_or(0, QueryTagsClient::events_received);
    let label = move || match state.get() {
        ConnectionState::Open => "Live",
        ConnectionState::Idle | ConnectionState::Connecting => "Connecting",
        ConnectionState::Reconnecting => "Reconnecting",
    };
    view! {
        <span class="live" data-state=move || state.get().as_str() title=move || format!("{} events received", events())>
            <span class="dot"></span>
            {label}
        </span>
    }
}
