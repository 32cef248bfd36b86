//! Which invalidation scopes a browser's event stream may receive.
//!
//! Everyone receives the global scope (the shared todo list, rapid fire). A signed-in user also
//! receives their own scope, `user:<id>` (their notes), and nobody else's: the id comes from the
//! verified session cookie only (see [`super::session`]), never from anything a client can set.

use super::session::{Session, SessionKey};
use http::request::Parts;
use leptos_query_tags::protocol::Scope;
use std::future::{ready, Ready};

/// The scope of one user's private events.
pub fn user_scope(user_id: i64) -> Scope {
    Scope::keyed("user", user_id.to_string()).expect("a number is a valid scope key")
}

/// The hub's scope resolver: the global scope, plus the signed-in user's.
pub fn resolver(key: SessionKey) -> impl Fn(&Parts) -> Ready<Vec<Scope>> + Send + Sync + 'static {
    move |parts: &Parts| {
        let mut scopes = vec![Scope::global()];
        scopes.extend(Session::from_headers(&parts.headers, &key).map(|s| user_scope(s.user_id)));
        ready(scopes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::COOKIE;

    fn parts(cookie: Option<&str>) -> Parts {
        let mut request = http::Request::builder().uri("/api/query-tags/events");
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn global_for_everyone_and_the_user_scope_from_the_verified_session_only() {
        let key = SessionKey::generate();
        let resolve = resolver(key.clone());
        assert_eq!(resolve(&parts(None)).into_inner(), vec![Scope::global()]);

        let sealed = key.sign_in_cookie(&Session {
            user_id: 42,
            name: "ada".into(),
        });
        let pair = sealed.to_str().unwrap().split(';').next().unwrap();
        assert_eq!(
            resolve(&parts(Some(&format!("theme=dark; {pair}")))).into_inner(),
            vec![Scope::global(), Scope::new("user:42").unwrap()]
        );
        // The old demo cookie, or a session sealed under another key, grants nothing more.
        assert_eq!(
            resolve(&parts(Some("demo_user=ada"))).into_inner(),
            vec![Scope::global()]
        );
        let other = resolver(SessionKey::generate());
        assert_eq!(
            other(&parts(Some(pair))).into_inner(),
            vec![Scope::global()]
        );
    }
}
