//! A minimal Leptos 0.8 app (router, meta, one server function), built twice by
//! `scripts/wasm-size.sh`: as is, and with the `library` feature, which routes the same data
//! through leptos_query_tags (provider, `use_query`, `use_mutation`). The difference of the two
//! release wasm files is the library's cost.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

/// The one server function.
#[server]
pub async fn greet(name: String) -> Result<String, ServerFnError> {
    Ok(format!("Hello, {name}"))
}

/// The app.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let routes = view! {
        <Title text="Minimal" />
        <Router>
            <Routes fallback=|| "Not found">
                <Route path=path!("") view=Home />
            </Routes>
        </Router>
    };
    #[cfg(all(feature = "library", not(feature = "devtools")))]
    {
        use leptos_query_tags::prelude::*;
        view! { <QueryTagsProvider>{routes}</QueryTagsProvider> }
    }
    // The same app with the devtools component in it: compiled out of a release build unless
    // `devtools-always` keeps it.
    #[cfg(feature = "devtools")]
    {
        use leptos_query_tags::devtools::QueryTagsDevtools;
        use leptos_query_tags::prelude::*;
        view! { <QueryTagsProvider>{routes}<QueryTagsDevtools /></QueryTagsProvider> }
    }
    #[cfg(not(feature = "library"))]
    routes
}

#[cfg(not(feature = "library"))]
#[component]
fn Home() -> impl IntoView {
    let greeting = Resource::new(|| (), |_| greet("world".into()));
    let again = ServerAction::<Greet>::new();
    view! {
        <Suspense>{move || Suspend::new(async move { greeting.await.unwrap_or_default() })}</Suspense>
        <button on:click=move |_| { again.dispatch(Greet { name: "again".into() }); }>"Again"</button>
    }
}

#[cfg(feature = "library")]
#[component]
fn Home() -> impl IntoView {
    use leptos_query_tags::prelude::*;
    leptos_query_tags::tag_tree! { mod tags { greeting; } }
    let query = Query::new("greeting", |()| greet("world".into())).tags(|_| vec![tags::greeting()]);
    let greeting = use_query(&query, || ());
    let again = use_mutation(
        MutationOptions::new(|name: String| greet(name))
            .affects(|_| vec![tags::all()])
            .optimistic(move |cache, name: &String| {
                cache.set(&query, &(), format!("Hello, {name}"));
            }),
    );
    view! {
        <Suspense>{move || Suspend::new(async move { greeting.await.unwrap_or_default() })}</Suspense>
        <button on:click=move |_| again.dispatch("again".into())>"Again"</button>
    }
}

/// The browser entry point.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    leptos::mount::hydrate_body(App);
}
