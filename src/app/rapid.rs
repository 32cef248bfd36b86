//! Rapid fire: one click makes N writes on the server, each publishing its own invalidation.
//! Every open page receives N events, yet refetches only a few times: invalidations that arrive
//! while a fetch is in flight let it finish and then cause one trailing fetch. The page shows
//! both numbers, read from the library's own cache (`QueryClient::inspect_query`).

use super::session::server_error_text;
use super::tags::app_tags;
use leptos::prelude::*;
use leptos_query_tags::prelude::*;
use serde::{Deserialize, Serialize};

/// Most writes in one burst.
pub const MAX_BURST: u32 = 500;

/// The latest burst: its size and the writes of it stored so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Burst {
    /// Burst number.
    pub id: i64,
    /// Writes it makes.
    pub size: u32,
    /// The sequence numbers stored (1..=size once complete), ascending.
    pub seqs: Vec<u32>,
}

impl Burst {
    /// Whether every write of the burst is stored, each exactly once.
    pub fn is_complete(&self) -> bool {
        self.seqs.len() == self.size as usize && self.seqs.iter().copied().eq(1..=self.size)
    }
}

/// The latest burst, if any.
#[server(endpoint = "latest_burst")]
pub async fn latest_burst() -> Result<Option<Burst>, ServerFnError> {
    crate::server::users::latest_burst().await
}

/// Makes `size` writes, each followed by its own invalidation of `rapid.shots`.
#[server(endpoint = "fire_burst")]
pub async fn fire_burst(size: u32) -> Result<i64, ServerFnError> {
    crate::server::users::fire(size).await
}

/// The latest burst, tagged `rapid.shots`.
pub fn burst_query() -> Query<(), Option<Burst>> {
    Query::new("latest_burst", |()| latest_burst()).tags(|_| vec![app_tags::rapid::shots()])
}

/// The Rapid fire page.
#[component]
pub fn RapidPage() -> impl IntoView {
    let burst = use_query(&burst_query(), || ());
    let fire = use_mutation(
        MutationOptions::new(|size: u32| fire_burst(size))
            .affects(|_| vec![app_tags::rapid::shots()]),
    );
    let size = RwSignal::new(200u32);

    // The cache's own counts for this query, refreshed a few times a second (they change on
    // every event, which is the point of the page).
    let client = use_query_client();
    let tick = RwSignal::new(0u32);
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(
            move || tick.update(|t| *t = t.wrapping_add(1)),
            std::time::Duration::from_millis(200),
        )
        .ok();
        on_cleanup(move || {
            if let Some(handle) = handle {
                handle.clear();
            }
        });
    }
    // Counted in the browser only: the server renders zeros, so hydration sees the same text.
    let counts = Memo::new(move |_| {
        tick.track();
        burst.data();
        if cfg!(feature = "hydrate") {
            client
                .inspect_query(&burst_query(), &())
                .map_or((0, 0, false), |seen| {
                    let idle = !seen.status.is_fetching && !seen.status.is_invalidated;
                    (seen.invalidations, seen.fetches, idle)
                })
        } else {
            (0, 0, false)
        }
    });

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        fire.dispatch(size.get_untracked());
    };

    view! {
        <section class="card rapid">
            <header class="card-header">
                <h1>"Rapid fire"</h1>
                <p class="muted">
                    "One click makes N writes on the server, each publishing its own "
                    "invalidation. Open this page in a second window: both receive N events, "
                    "and refetch only a few times."
                </p>
            </header>
            <form class="add-form" on:submit=on_submit>
                <label for="burst-size">"Writes per burst"</label>
                <input
                    id="burst-size"
                    type="number"
                    min="1"
                    max=MAX_BURST.to_string()
                    prop:value=move || size.get().to_string()
                    on:input=move |ev| {
                        if let Ok(n) = event_target_value(&ev).parse::<u32>() {
                            size.set(n.clamp(1, MAX_BURST));
                        }
                    }
                />
                <button type="submit" disabled=move || fire.pending()>
                    {move || if fire.pending() { "Firing…" } else { "Fire" }}
                </button>
            </form>
            {move || fire.error().map(|e| view! { <p class="error" role="alert">{server_error_text(&e)}</p> })}
            // `data-idle`: no fetch in flight and every invalidation answered, so no trailing
            // fetch can follow (tests wait on it before counting).
            <dl class="counters" aria-live="polite" data-idle=move || counts.get().2.to_string()>
                <div>
                    <dt>"Invalidations received"</dt>
                    <dd data-counter="invalidations">{move || counts.get().0}</dd>
                </div>
                <div>
                    <dt>"Refetches made"</dt>
                    <dd data-counter="fetches">{move || counts.get().1}</dd>
                </div>
            </dl>
            <p class="muted small">"Counted by this tab's query cache since the page opened."</p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match burst.await {
                        Ok(None) => view! { <p class="empty">"No burst yet. Fire one."</p> }.into_any(),
                        Ok(Some(b)) => {
                            let complete = b.is_complete();
                            let stored: std::collections::HashSet<u32> = b.seqs.iter().copied().collect();
                            view! {
                                <div
                                    class="burst"
                                    data-burst=b.id.to_string()
                                    data-size=b.size.to_string()
                                    data-stored=b.seqs.len().to_string()
                                    data-complete=complete.to_string()
                                >
                                    <p>
                                        {format!("Burst #{}: {} of {} writes stored", b.id, b.seqs.len(), b.size)}
                                        {if complete { " ✓ every write, once" } else { "" }}
                                    </p>
                                    <div class="shots" aria-hidden="true">
                                        {(1..=b.size)
                                            .map(|seq| {
                                                let lit = stored.contains(&seq);
                                                view! { <span class="shot" class:lit=lit></span> }
                                            })
                                            .collect_view()}
                                    </div>
                                </div>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <p class="error" role="alert">{server_error_text(&e)}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
