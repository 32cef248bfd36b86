//! The server: Leptos routes and server functions, with the hub mounted around them.

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use axum::Router;
    use counters::app::{shell, App};
    use leptos::prelude::*;
    use leptos_axum::{generate_route_list, LeptosRoutes};
    use leptos_query_tags::server::Hub;

    // Settings from Cargo.toml's [package.metadata.leptos] (cargo-leptos exports them as
    // LEPTOS_* variables); LEPTOS_SITE_ADDR picks the address.
    let options = get_configuration(None)?.leptos_options;
    let addr = options.site_addr;
    let routes = generate_route_list(App);

    // The hub serves the event stream (GET /api/query-tags/events) and publishes what server
    // functions pass to `invalidate_tags`.
    let hub = Hub::builder().build();

    let app = Router::new()
        .leptos_routes(&options, routes, {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler(shell))
        .with_state(options);
    // `mount` adds the hub's endpoints and wraps the routes above in a layer that publishes a
    // server function's invalidations once it has returned Ok: so it comes after them.
    let app = hub.mount(app);

    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // Like `axum::serve(listener, app)`, plus time bounds on every connection, and a graceful
    // shutdown that also ends the event streams (they never end by themselves).
    hub.serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// The browser build has no `main`: `hydrate` in lib.rs is its entry point.
#[cfg(not(feature = "ssr"))]
fn main() {}
