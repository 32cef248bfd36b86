//! `<QueryTagsDevtools/>`: a floating panel showing the connection, the events and the cache.
//!
//! Behind the `devtools` feature, and compiled only into debug builds (`debug_assertions`)
//! unless `devtools-always` forces it, the convention of leptos-fetch: a release build without
//! `devtools-always` gets an empty component and none of the panel's code.

use leptos::prelude::*;

/// A floating toggle (bottom right) that opens a panel with:
/// - **Connection**: state, leader or follower tab, epoch, cursor, reconnects, resets, events;
/// - **Events**: each event this tab applied, its tags, the cached queries it matched and
///   which of them it refetched;
/// - **Cache**: every query (key, tags, fresh / stale / fetching / invalidated / error,
///   observers, time to stale and to garbage collection, the data as JSON) with *Refetch* and
///   *Remove*, and a field to invalidate a tag pattern typed as `todos.by_id.3` or as JSON.
///
/// Place it inside the [`QueryTagsProvider`](crate::client::QueryTagsProvider):
///
/// ```
/// use leptos::prelude::*;
/// use leptos_query_tags::prelude::*;
/// use leptos_query_tags::devtools::QueryTagsDevtools;
///
/// #[component]
/// fn App() -> impl IntoView {
///     view! {
///         <QueryTagsProvider>
///             <p>"The app"</p>
///             <QueryTagsDevtools />
///         </QueryTagsProvider>
///     }
/// }
/// ```
#[component]
#[allow(unreachable_pub)] // a false positive on the code #[component] generates
pub fn QueryTagsDevtools(
    /// Start with the panel open.
    #[prop(optional)]
    initially_open: bool,
) -> impl IntoView {
    #[cfg(any(debug_assertions, feature = "devtools-always"))]
    {
        panel::Devtools(panel::DevtoolsProps { initially_open })
    }
    #[cfg(not(any(debug_assertions, feature = "devtools-always")))]
    {
        let _ = initially_open;
    }
}

#[cfg(any(debug_assertions, feature = "devtools-always"))]
mod panel {
    use crate::cache::EntryInspection;
    use crate::client::{use_query_tags, ConnectionState, QueryTagsClient};
    use crate::tags::{DecodeLimits, TagPattern};
    use leptos::prelude::*;
    use std::time::Duration;

    const STYLE: &str = r#"
.lqt-dt-toggle{position:fixed;right:12px;bottom:12px;z-index:2147483000;font:13px/1.2 system-ui,sans-serif;
  background:#111827;color:#f9fafb;border:1px solid #374151;border-radius:999px;padding:8px 12px;cursor:pointer}
.lqt-dt-toggle:focus-visible,.lqt-dt button:focus-visible,.lqt-dt input:focus-visible{outline:2px solid #60a5fa;outline-offset:2px}
.lqt-dt-dot{display:inline-block;width:8px;height:8px;border-radius:50%;margin-right:6px;background:#9ca3af}
.lqt-dt-dot[data-state=open]{background:#22c55e}.lqt-dt-dot[data-state=reconnecting],.lqt-dt-dot[data-state=connecting]{background:#f59e0b}
.lqt-dt-dot[data-state=failed],.lqt-dt-dot[data-state=offline]{background:#ef4444}
.lqt-dt{position:fixed;left:0;right:0;bottom:0;max-height:50vh;overflow:auto;z-index:2147482999;background:#0b1020;color:#e5e7eb;
  font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;border-top:2px solid #374151;padding:10px 12px 56px}
.lqt-dt h2{font:600 13px system-ui,sans-serif;margin:12px 0 6px;color:#f9fafb}
.lqt-dt table{border-collapse:collapse;width:100%}.lqt-dt td,.lqt-dt th{border-bottom:1px solid #1f2937;padding:3px 6px;text-align:left;vertical-align:top}
.lqt-dt th{color:#9ca3af;font-weight:500}.lqt-dt dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}
.lqt-dt dt{color:#9ca3af}.lqt-dt button{font:inherit;background:#1f2937;color:#e5e7eb;border:1px solid #374151;border-radius:4px;padding:1px 6px;cursor:pointer}
.lqt-dt input{font:inherit;background:#111827;color:#e5e7eb;border:1px solid #374151;border-radius:4px;padding:2px 6px;min-width:16em}
.lqt-dt pre{white-space:pre-wrap;margin:4px 0;max-height:12em;overflow:auto}.lqt-dt .lqt-err{color:#fca5a5}
.lqt-dt .lqt-status{font-weight:600}.lqt-dt .lqt-status[data-status=fresh]{color:#86efac}.lqt-dt .lqt-status[data-status=stale]{color:#fde68a}
.lqt-dt .lqt-status[data-status=fetching]{color:#93c5fd}.lqt-dt .lqt-status[data-status=invalidated]{color:#fdba74}.lqt-dt .lqt-status[data-status=error]{color:#fca5a5}
"#;

    /// `todos.by_id.3` (digits are integers) or JSON such as `["todos","by_id",3]`; empty is
    /// every tag.
    pub(super) fn parse_pattern(text: &str) -> Result<TagPattern, String> {
        let text = text.trim();
        let json = if text.starts_with('[') {
            text.to_owned()
        } else if text.is_empty() {
            "[]".to_owned()
        } else {
            let segments: Vec<serde_json::Value> = text
                .split('.')
                .map(|s| match s.parse::<i64>() {
                    Ok(n) => serde_json::Value::from(n),
                    Err(_) => serde_json::Value::from(s),
                })
                .collect();
            serde_json::Value::from(segments).to_string()
        };
        TagPattern::decode_json(json.as_bytes(), &DecodeLimits::DEFAULT).map_err(|e| e.to_string())
    }

    fn status_of(entry: &EntryInspection) -> &'static str {
        let s = &entry.status;
        if s.is_fetching {
            "fetching"
        } else if s.has_error && !s.has_data {
            "error"
        } else if s.is_invalidated {
            "invalidated"
        } else if s.is_stale {
            "stale"
        } else {
            "fresh"
        }
    }

    fn seconds(d: Option<Duration>) -> String {
        match d {
            Some(d) if d >= Duration::from_secs(24 * 3600) => "∞".to_owned(),
            Some(d) => format!("{:.1} s", d.as_secs_f64()),
            None => "–".to_owned(),
        }
    }

    #[component]
    #[allow(unreachable_pub)] // a false positive on the code #[component] generates
    pub(super) fn Devtools(initially_open: bool) -> impl IntoView {
        let open = RwSignal::new(initially_open);
        // Rendered in the browser only, after hydration: the server's HTML has no panel.
        let mounted = RwSignal::new(false);
        Effect::new(move |_| mounted.set(true));
        let client = use_query_tags();
        let state = Signal::derive({
            let client = client.clone();
            move || {
                client
                    .as_ref()
                    .map_or(ConnectionState::Idle, QueryTagsClient::connection_state)
            }
        });
        let client = StoredValue::new(client);
        view! {
            <Show when=move || mounted.get()>
                <style>{STYLE}</style>
                <button
                    class="lqt-dt-toggle"
                    aria-expanded=move || open.get().to_string()
                    aria-controls="lqt-devtools"
                    on:click=move |_| open.update(|o| *o = !*o)
                >
                    <span class="lqt-dt-dot" data-state=move || state.get().as_str()></span>
                    "Query tags"
                </button>
                <Show when=move || open.get()>
                    {move || match client.get_value() {
                        Some(client) => view! { <Panel client /> }.into_any(),
                        None => view! {
                            <section id="lqt-devtools" class="lqt-dt">
                                "No QueryTagsProvider above the devtools."
                            </section>
                        }.into_any(),
                    }}
                </Show>
            </Show>
        }
    }

    #[component]
    fn Panel(client: QueryTagsClient) -> AnyView {
        // The cache has no signal of its own: look again twice a second while open, and at
        // every event.
        let cache = RwSignal::new(client.queries().cache().inspect());
        let refresh = {
            let client = client.clone();
            move || cache.set(client.queries().cache().inspect())
        };
        if let Ok(handle) = set_interval_with_handle(refresh.clone(), Duration::from_millis(500)) {
            on_cleanup(move || handle.clear());
        }
        Effect::new({
            let client = client.clone();
            let refresh = refresh.clone();
            move |_| {
                client.events_received();
                refresh();
            }
        });

        let info = {
            let client = client.clone();
            move || {
                let info = client.connection_info();
                let role = if client.is_leader() {
                    "leader (holds the stream)"
                } else {
                    "follower (events relayed by the leader tab)"
                };
                view! {
                    <dl class="lqt-connection">
                        <dt>"state"</dt>
                        <dd data-field="state">{client.connection_state().to_string()}</dd>
                        <dt>"tab"</dt>
                        <dd data-field="role">{role}</dd>
                        <dt>"epoch"</dt>
                        <dd>{info.epoch.map(|e| e.to_string()).unwrap_or_else(|| "–".into())}</dd>
                        <dt>"cursor"</dt>
                        <dd>{info.cursor.map(|c| c.to_string()).unwrap_or_else(|| "–".into())}</dd>
                        <dt>"reconnects"</dt>
                        <dd>{info.reconnects}</dd>
                        <dt>"resets"</dt>
                        <dd>{info.resets}</dd>
                        <dt>"events received"</dt>
                        <dd>{client.events_received()}</dd>
                        <dt>"identity"</dt>
                        <dd>{info.identity.unwrap_or_else(|| "–".into())}</dd>
                    </dl>
                }
            }
        };

        let events = {
            let client = client.clone();
            move || {
                client
                    .event_log()
                    .into_iter()
                    .rev()
                    .map(|e| {
                        let id = e.id.map(|id| id.to_string()).unwrap_or_default();
                        let tags = e.tags_text();
                        let matched = e.matched_text("↻");
                        let id_attr = id.clone();
                        view! {
                            <tr data-event-id=id_attr>
                                <td>{id}</td>
                                <td>{e.kind}</td>
                                <td>{tags}</td>
                                <td class="lqt-matched">{matched}</td>
                                <td>{format!("{:?}", e.origin).to_lowercase()}</td>
                            </tr>
                        }
                    })
                    .collect_view()
            }
        };

        let rows = {
            let client = client.clone();
            move || {
                cache
                    .get()
                    .into_iter()
                    .map(|entry| {
                        let key = entry.key.clone();
                        let key_text = key.to_string();
                        let tags = entry.tags.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
                        let status = status_of(&entry);
                        let (refetch_client, remove_client) = (client.clone(), client.clone());
                        let refetch_key = key.clone();
                        let key_attr = key_text.clone();
                        view! {
                            <tr data-query-key=key_attr>
                                <td>
                                    {key_text}
                                    {entry.data_json.map(|json| view! {
                                        <details><summary>"data"</summary><pre>{json}</pre></details>
                                    })}
                                </td>
                                <td class="lqt-tags">{tags}</td>
                                <td class="lqt-status" data-status=status>{status}</td>
                                <td>{entry.status.observers}</td>
                                <td>{format!("{} / {}", entry.invalidations, entry.fetches)}</td>
                                <td>{seconds(entry.stale_in)}</td>
                                <td>{seconds(entry.gc_in)}</td>
                                <td>
                                    <button on:click=move |_| {
                                        refetch_client.queries().cache().invalidate_keys(std::slice::from_ref(&refetch_key));
                                    }>"Refetch"</button>
                                    " "
                                    <button
                                        disabled=entry.status.observers > 0
                                        title="Only queries no component uses can be removed"
                                        on:click=move |_| {
                                            remove_client.queries().cache().remove(&key);
                                        }
                                    >"Remove"</button>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()
            }
        };

        let pattern = RwSignal::new(String::new());
        let outcome = RwSignal::new(None::<Result<String, String>>);
        let invalidate = {
            let client = client.clone();
            move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                outcome.set(Some(match parse_pattern(&pattern.get_untracked()) {
                    Ok(p) => {
                        let n = client.invalidate(std::slice::from_ref(&p));
                        Ok(format!("{p}: {n} cached queries invalidated"))
                    }
                    Err(e) => Err(e),
                }));
            }
        };

        // Each part is type-erased: one concrete type for the whole panel would be deep enough
        // to hit the compiler's recursion limit in the application crate.
        let form = view! {
            <form on:submit=invalidate>
                <label>
                    "Invalidate tag pattern "
                    <input
                        placeholder="todos.by_id.3"
                        prop:value=move || pattern.get()
                        on:input=move |ev| pattern.set(event_target_value(&ev))
                    />
                </label>
                " "
                <button type="submit">"Invalidate"</button>
                " "
                {move || outcome.get().map(|o| match o {
                    Ok(text) => view! { <span>{text}</span> }.into_any(),
                    Err(text) => view! { <span class="lqt-err" role="alert">{text}</span> }.into_any(),
                })}
            </form>
        }
        .into_any();
        let cache_table = view! {
            <table class="lqt-cache">
                <thead><tr>
                    <th>"key"</th><th>"tags"</th><th>"status"</th><th>"observers"</th>
                    <th title="invalidations received / fetches made">"inval. / fetches"</th>
                    <th>"stale in"</th><th>"gc in"</th><th></th>
                </tr></thead>
                <tbody>{move || rows().into_any()}</tbody>
            </table>
        }
        .into_any();
        let events_table = view! {
            <table class="lqt-events">
                <thead><tr><th>"id"</th><th>"kind"</th><th>"tags"</th><th>"matched (↻ refetched)"</th><th>"via"</th></tr></thead>
                <tbody>{move || events().into_any()}</tbody>
            </table>
        }
        .into_any();
        view! {
            <section id="lqt-devtools" class="lqt-dt" aria-label="Query tags devtools">
                <h2>"Connection"</h2>
                {move || info().into_any()}
                <h2>"Cache"</h2>
                {form}
                {cache_table}
                <h2>"Events"</h2>
                {events_table}
            </section>
        }
        .into_any()
    }

    #[cfg(test)]
    mod tests {
        use super::parse_pattern;

        #[test]
        fn patterns_are_typed_dotted_or_as_json() {
            assert_eq!(
                parse_pattern("todos.by_id.3").unwrap().to_json(),
                r#"["todos","by_id",3]"#
            );
            assert_eq!(
                parse_pattern(r#"["todos"]"#).unwrap().to_json(),
                r#"["todos"]"#
            );
            assert_eq!(parse_pattern("").unwrap().to_json(), "[]");
            assert!(parse_pattern("[1").is_err());
        }
    }
}
