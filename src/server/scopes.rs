//! Which invalidation scopes a browser's event stream may receive.
//!
//! Everyone receives the global scope (the shared todo list). A browser that picked a demo user
//! (the `demo_user` cookie) also receives that user's scope, `user:<name>`. The demo's login is a
//! name in a cookie, not authentication: a real application resolves scopes from its session.

use http::header::COOKIE;
use http::request::Parts;
use leptos_query_tags::protocol::Scope;
use std::future::{ready, Ready};

/// The cookie holding the demo user's name.
pub const USER_COOKIE: &str = "demo_user";

/// The scopes of one stream request.
pub fn resolve(parts: &Parts) -> Ready<Vec<Scope>> {
    let mut scopes = vec![Scope::global()];
    scopes.extend(user_of(parts).and_then(|user| Scope::keyed("user", user).ok()));
    ready(scopes)
}

/// The demo user named by the request's cookie, if any.
pub fn user_of(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == USER_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(cookie: Option<&str>) -> Parts {
        let mut request = http::Request::builder().uri("/api/query-tags/events");
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn global_for_everyone_and_the_user_scope_from_the_cookie() {
        assert_eq!(resolve(&parts(None)).into_inner(), vec![Scope::global()]);
        assert_eq!(
            resolve(&parts(Some("theme=dark; demo_user=ada"))).into_inner(),
            vec![Scope::global(), Scope::new("user:ada").unwrap()]
        );
        // A cookie that is not a valid scope grants nothing more.
        assert_eq!(
            resolve(&parts(Some("demo_user=a b"))).into_inner(),
            vec![Scope::global()]
        );
        assert_eq!(
            resolve(&parts(Some("demo_user="))).into_inner(),
            vec![Scope::global()]
        );
    }
}
