//! The runtime where there is no browser (the server render, native tests): there is no event
//! stream to open and no window to watch (`connect` exists so that the provider calls the same
//! functions on every side), and the page's [`RenderStart`] comes from the request being
//! rendered.

use super::live::QueryTagsClient;
use crate::protocol::{Cursor, RenderStart};
use leptos::prelude::{use_context, Owner};

/// Opens nothing.
pub(crate) fn connect(_: QueryTagsClient, _: Option<Cursor>, _: Option<String>) {}

/// What the page being rendered tells the browser runtime ([`RenderStart`]): from the Leptos
/// context if the application provides it, else from the request, where the hub's layer put
/// it. Empty outside a server render (the browser reads the value the page carries instead).
pub(crate) fn render_start() -> RenderStart {
    let start = use_context::<RenderStart>().or_else(|| {
        use_context::<http::request::Parts>()?
            .extensions
            .get::<RenderStart>()
            .cloned()
    });
    let on_server = Owner::current_shared_context().is_some_and(|sc| !sc.is_browser());
    if start.is_none() && on_server {
        crate::platform::warn(format_args!(
            "leptos_query_tags: this page is rendered without a RenderStart (is `Hub::mount` \
             wrapping the page routes?): its browser starts its event stream from now, and \
             may miss what was published while the page rendered"
        ));
    }
    start.unwrap_or_default()
}
