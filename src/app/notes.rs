//! My notes: private to the signed-in user. Every server function reads the verified session,
//! and every invalidation is published in the user's scope (`user:<id>`), so another user never
//! receives these events, nor the notes.

use super::session::{server_error_text, user_query, SignInForm};
use super::tags::app_tags;
use leptos::prelude::*;
use leptos_query_tags::prelude::*;
use serde::{Deserialize, Serialize};

/// One note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// Database id.
    pub id: i64,
    /// Its text.
    pub body: String,
}

/// A user's note statistics, with the server cache's counters (the demo shows them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteSummary {
    /// Notes the user has.
    pub notes: u64,
    /// Words in them.
    pub words: u64,
    /// The server cache's hits so far (every user, this instance).
    pub cache_hits: u64,
    /// The server cache's misses (loads) so far.
    pub cache_misses: u64,
}

/// Longest note accepted, in characters.
pub const MAX_NOTE_CHARS: usize = 500;

#[cfg(feature = "ssr")]
fn publish_for(
    user: &crate::server::session::Session,
    tags: impl IntoIterator<Item = Tag>,
) -> Result<(), ServerFnError> {
    use crate::server::scopes::user_scope;
    leptos_query_tags::server::invalidate_tags_in(user_scope(user.user_id), tags)?;
    Ok(())
}

/// The signed-in user's notes, oldest first (401 when signed out).
#[server(endpoint = "list_notes")]
pub async fn list_notes() -> Result<Vec<Note>, ServerFnError> {
    let user = crate::server::session::require()?;
    crate::server::users::notes(&user).await
}

/// The signed-in user's note statistics: counted from every note, so cached on the server
/// (`ServerCache`) until a change to the user's notes purges them.
#[server(endpoint = "note_stats")]
pub async fn note_stats() -> Result<NoteSummary, ServerFnError> {
    let user = crate::server::session::require()?;
    crate::server::users::note_stats(&user).await
}

/// Adds a note; the user's other tabs and browsers show it.
#[server(endpoint = "add_note")]
pub async fn add_note(body: String) -> Result<Note, ServerFnError> {
    let user = crate::server::session::require()?;
    let note = crate::server::users::add_note(&user, body).await?;
    publish_for(
        &user,
        [
            app_tags::notes::list(),
            app_tags::notes::stats(user.user_id),
        ],
    )?;
    Ok(note)
}

/// Changes a note's text.
#[server(endpoint = "edit_note")]
pub async fn edit_note(id: i64, body: String) -> Result<(), ServerFnError> {
    let user = crate::server::session::require()?;
    crate::server::users::edit_note(&user, id, body).await?;
    publish_for(
        &user,
        [
            app_tags::notes::by_id(id),
            app_tags::notes::stats(user.user_id),
        ],
    )?;
    Ok(())
}

/// Deletes a note.
#[server(endpoint = "delete_note")]
pub async fn delete_note(id: i64) -> Result<(), ServerFnError> {
    let user = crate::server::session::require()?;
    crate::server::users::delete_note(&user, id).await?;
    publish_for(
        &user,
        [
            app_tags::notes::by_id(id),
            app_tags::notes::list(),
            app_tags::notes::stats(user.user_id),
        ],
    )?;
    Ok(())
}

/// The notes of user `id` (the key keeps two users' notes apart in one cache), tagged
/// `notes.list` and, from the result, `notes.by_id(id)` per note.
pub fn notes_query() -> Query<i64, Vec<Note>> {
    Query::new("notes", |_user: i64| list_notes())
        .tags(|_| vec![app_tags::notes::list()])
        .tags_from_result(|_, notes| notes.iter().map(|n| app_tags::notes::by_id(n.id)).collect())
}

/// The statistics of user `id`, tagged `notes.stats(id)`.
pub fn stats_query() -> Query<i64, NoteSummary> {
    Query::new("note-stats", |_user: i64| note_stats())
        .tags(|user| vec![app_tags::notes::stats(*user)])
}

/// The user's statistics and the server cache's counters: a change to the notes purges the
/// cached statistics on the server (a miss) and refetches this line; a reload is a hit.
#[component]
fn NoteStatsLine(user_id: i64) -> impl IntoView {
    let stats = use_query(&stats_query(), move || user_id);
    view! {
        <Transition fallback=|| view! { <p class="muted stats">"…"</p> }>
            {move || Suspend::new(async move {
                stats.await.ok().map(|s| view! {
                    <p class="muted stats">
                        <span data-notes=s.notes>{format!("{} notes, {} words", s.notes, s.words)}</span>
                        " · server cache: "
                        <span data-hits=s.cache_hits data-misses=s.cache_misses>
                            {format!("{} hits, {} misses", s.cache_hits, s.cache_misses)}
                        </span>
                    </p>
                })
            })}
        </Transition>
    }
}

/// Ids of notes shown before the server has stored them (negative: never a database id).
fn provisional_id() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static NEXT: AtomicI64 = AtomicI64::new(-1);
    NEXT.fetch_sub(1, Ordering::Relaxed)
}

/// The My notes page: the notes when signed in, the sign-in form otherwise.
#[component]
pub fn NotesPage() -> impl IntoView {
    let user = use_query(&user_query(), || ());
    view! {
        <section class="card notes">
            <header class="card-header">
                <h1>"My notes"</h1>
                <p class="muted">
                    "Private: only you see them, in every tab you are signed in. Their events go to "
                    "your scope only."
                </p>
            </header>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match user.await {
                        Ok(Some(user)) => view! { <Notes user_id=user.id /> }.into_any(),
                        Ok(None) => view! { <SignInForm then="/notes" /> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{server_error_text(&e)}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Notes(user_id: i64) -> impl IntoView {
    let notes = use_query(&notes_query(), move || user_id);
    let add = use_mutation(
        MutationOptions::new(|body: String| add_note(body))
            .affects(|_| vec![app_tags::notes::list()])
            .optimistic(move |cache, body: &String| {
                let note = Note {
                    id: provisional_id(),
                    body: body.trim().to_owned(),
                };
                cache.update(&notes_query(), &user_id, |notes| notes.push(note));
            }),
    );
    let edit = use_mutation(
        MutationOptions::new(|(id, body): (i64, String)| edit_note(id, body))
            .affects(|(id, _)| vec![app_tags::notes::by_id(*id)])
            .optimistic(move |cache, (id, body): &(i64, String)| {
                cache.update(&notes_query(), &user_id, |notes| {
                    notes
                        .iter_mut()
                        .filter(|n| n.id == *id)
                        .for_each(|n| n.body = body.trim().to_owned())
                });
            }),
    );
    let delete = use_mutation(
        MutationOptions::new(|id: i64| delete_note(id))
            .affects(|id| vec![app_tags::notes::by_id(*id)])
            .optimistic(move |cache, id: &i64| {
                cache.update(&notes_query(), &user_id, |notes| {
                    notes.retain(|n| n.id != *id)
                });
            }),
    );
    let (draft, set_draft) = signal(String::new());
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = draft.get_untracked();
        if !text.trim().is_empty() {
            add.dispatch(text);
            set_draft.set(String::new());
        }
    };
    let action_error = move || {
        [add.error(), edit.error(), delete.error()]
            .into_iter()
            .flatten()
            .next()
            .map(|e| view! { <p class="error" role="alert">{server_error_text(&e)}</p> })
    };
    view! {
        <NoteStatsLine user_id />
        <form class="add-form" on:submit=on_submit>
            <label class="visually-hidden" for="new-note">"New note"</label>
            <input
                id="new-note"
                type="text"
                name="body"
                placeholder="Write a note…"
                maxlength=MAX_NOTE_CHARS.to_string()
                autocomplete="off"
                prop:value=draft
                on:input=move |ev| set_draft.set(event_target_value(&ev))
            />
            <button type="submit" disabled=move || add.pending()>"Add note"</button>
        </form>
        {action_error}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match notes.await {
                    Ok(list) if list.is_empty() => {
                        view! { <p class="empty">"No notes yet. Write one above."</p> }.into_any()
                    }
                    Ok(list) => view! {
                        <ul class="note-list">
                            <For
                                each=move || list.clone()
                                key=|note| (note.id, note.body.clone())
                                children=move |note| view! { <NoteRow note edit delete /> }
                            />
                        </ul>
                    }
                    .into_any(),
                    Err(e) => view! { <p class="error" role="alert">{server_error_text(&e)}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn NoteRow(
    note: Note,
    edit: Mutation<(i64, String), (), ServerFnError>,
    delete: Mutation<i64, (), ServerFnError>,
) -> impl IntoView {
    let id = note.id;
    let provisional = id < 0;
    let editing = RwSignal::new(false);
    let text = RwSignal::new(note.body.clone());
    let body = note.body.clone();
    let input_id = format!("note-edit-{id}");
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let value = text.get_untracked();
        if !value.trim().is_empty() {
            edit.dispatch((id, value));
        }
        editing.set(false);
    };
    view! {
        <li class="note" class:provisional=provisional data-id=id.to_string()>
            <Show
                when=move || editing.get()
                fallback={
                    let body = body.clone();
                    move || view! {
                        <p class="body">{body.clone()}</p>
                        <div class="actions">
                            <button
                                class="link"
                                disabled=provisional
                                on:click=move |_| editing.set(true)
                            >
                                "Edit"
                            </button>
                            <button
                                class="link danger"
                                disabled=provisional
                                on:click=move |_| delete.dispatch(id)
                            >
                                "Delete"
                            </button>
                        </div>
                    }
                }
            >
                <form
                    class="edit-form"
                    on:submit=save
                    on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                        if ev.key() == "Escape" {
                            editing.set(false);
                        }
                    }
                >
                    <label class="visually-hidden" for=input_id.clone()>"Edit note"</label>
                    <input
                        id=input_id.clone()
                        type="text"
                        maxlength=MAX_NOTE_CHARS.to_string()
                        prop:value=text
                        on:input=move |ev| text.set(event_target_value(&ev))
                        autofocus
                    />
                    <button type="submit">"Save"</button>
                    <button type="button" class="link" on:click=move |_| editing.set(false)>
                        "Cancel"
                    </button>
                </form>
            </Show>
        </li>
    }
}
