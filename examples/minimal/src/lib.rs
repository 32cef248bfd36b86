//! The counters app: `app` is the page (rendered on the server, hydrated in the browser);
//! `hydrate` is the browser's entry point.

pub mod app;

/// Called by the JavaScript cargo-leptos generates, once the wasm module has loaded.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
