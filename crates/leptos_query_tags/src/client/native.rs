//! The runtime where there is no browser (the server render, native tests): there is no event
//! stream to open and no window to watch (`connect` exists so that the provider calls the same
//! functions on every side), the page's [`RenderStart`] comes from the request being
//! rendered, and an event's data is decoded with `serde_json` into the fields the browser's
//! `JSON.parse` gives (so that the native tests run the same reader, [`super::wire`]).

use super::live::QueryTagsClient;
use crate::protocol::{Cursor, RenderStart};
use leptos::prelude::{use_context, Owner};

/// Opens nothing.
pub(crate) fn connect(_: QueryTagsClient, _: Option<Cursor>, _: Option<String>) {}

/// An event's data as the fields [`super::wire`] reads (what `decodeEvent` of
/// `js/runtime.js` does in the browser), `None` when it is not readable.
pub(crate) fn decode_event(name: &str, data: &str) -> Option<Vec<String>> {
    use serde_json::Value;
    let value: Value = serde_json::from_str(data).ok()?;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    // A number's digits if it is an integer, else nothing (as `decodeEvent` reads numbers).
    let digits = |v: &Value| match v {
        Value::Number(n) => Some(match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(u)) => u.to_string(),
            _ => String::new(),
        }),
        _ => None,
    };
    Some(match name {
        "hello" => {
            let mut fields = vec![digits(&value["epoch"])?, text(&value["cursor"])?];
            match &value["identity"] {
                Value::Null => {}
                identity => fields.push(text(identity)?),
            }
            fields
        }
        "invalidate" => {
            let mut fields = Vec::new();
            for tag in value["tags"].as_array()? {
                for segment in tag.as_array()? {
                    fields.push(match segment {
                        Value::String(s) => format!("s{s}"),
                        Value::Bool(b) => (if *b { "t" } else { "f" }).to_owned(),
                        number => format!("i{}", digits(number)?),
                    });
                }
                fields.push(String::new());
            }
            fields
        }
        _ => vec![text(&value["cursor"])?],
    })
}

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
