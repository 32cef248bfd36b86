//! Who is signed in: the current user as a query, and the sign-in and sign-out forms.
//!
//! Signing in or out reloads the page on purpose: the event stream is opened with the session
//! cookie, and a new session means new scopes (the user's private events), so the tabs of the
//! browser move to a stream opened with the new cookie.

use leptos::prelude::*;
use leptos_query_tags::prelude::*;
use serde::{Deserialize, Serialize};

/// A signed-in user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Database id; their private events are published in the scope `user:<id>`.
    pub id: i64,
    /// The name they signed in with.
    pub name: String,
}

/// Longest name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 40;

/// The signed-in user, from the verified session cookie (`None`: signed out).
#[server(endpoint = "current_user")]
pub async fn current_user() -> Result<Option<User>, ServerFnError> {
    Ok(crate::server::users::current_user())
}

/// Signs in with a name (the demo is passwordless): sets a sealed session cookie.
#[server(endpoint = "sign_in")]
pub async fn sign_in(name: String) -> Result<User, ServerFnError> {
    crate::server::users::sign_in(name).await
}

/// Signs out: removes the session cookie.
#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), ServerFnError> {
    crate::server::users::sign_out()
}

/// The current user. Not tagged: it changes only by signing in or out, which reload the page.
pub fn user_query() -> Query<(), Option<User>> {
    Query::new("current_user", |()| current_user())
}

/// Reloads the page at `path` (see the module docs for why not a client-side navigation).
fn reload_at(path: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().assign(path);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

/// The sign-in form. Works without JavaScript too (a plain form post to the server function,
/// which redirects back).
#[component]
pub fn SignInForm(
    /// Where to go once signed in.
    #[prop(into)]
    then: String,
) -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let then_path = then.clone();
    Effect::new(move |_| {
        if let Some(Ok(_)) = action.value().get() {
            reload_at(&then_path);
        }
    });
    let error = move || {
        action
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| view! { <p class="error" role="alert">{server_error_text(&e)}</p> })
    };
    view! {
        <ActionForm action attr:class="sign-in">
            <label for="sign-in-name">"Your name"</label>
            <div class="row">
                <input
                    id="sign-in-name"
                    type="text"
                    name="name"
                    required
                    maxlength=MAX_NAME_CHARS.to_string()
                    autocomplete="username"
                    placeholder="e.g. ada"
                />
                <button type="submit" disabled=move || action.pending().get()>
                    "Sign in"
                </button>
            </div>
            <p class="muted small">
                "No password: this demo signs you in by name. The session is a sealed cookie that "
                "only the server can read or write."
            </p>
            {error}
        </ActionForm>
    }
}

/// The signed-in user's name and a sign-out button, or a link to sign in.
#[component]
pub fn UserMenu() -> impl IntoView {
    let user = use_query(&user_query(), || ());
    let sign_out = ServerAction::<SignOut>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = sign_out.value().get() {
            reload_at("/");
        }
    });
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(user)) => {
                        let attr = user.name.clone();
                        view! {
                        <ActionForm action=sign_out attr:class="user-menu">
                            <span class="user" data-user=attr>{user.name}</span>
                            <button type="submit" class="link">"Sign out"</button>
                        </ActionForm>
                    }
                    .into_any()
                    }
                    _ => view! { <a class="user-menu" href="/notes">"Sign in"</a> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The message of a server function error, without the "error running server function"
/// wrapper.
pub fn server_error_text(error: &ServerFnError) -> String {
    match error {
        ServerFnError::ServerError(message) => message.clone(),
        other => other.to_string(),
    }
}
